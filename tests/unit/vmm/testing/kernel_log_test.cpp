// SPDX-License-Identifier: Apache-2.0
// KernelLogScanner on the reports Linux prints, and on lines that only look like them.
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "vmm/testing/kernel_log.hpp"
#include "vmm/testing/ktap.hpp"

using namespace vmm::testing;

namespace {

KernelLogScanner scan(std::string_view text)
{
    KernelLogScanner s;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        s.line(strip_printk_prefix(text.substr(start, end - start)));
        start = end + 1;
    }
    return s;
}

constexpr std::string_view WARN = R"([    5.100000] lkdtm: Performing direct entry WARNING
[    5.100100] ------------[ cut here ]------------
[    5.100200] WARNING: CPU: 0 PID: 77 at drivers/misc/lkdtm/bugs.c:96 lkdtm_WARNING+0x9/0x10
[    5.100300] CPU: 0 UID: 0 PID: 77 Comm: sh Not tainted 6.12.48 #1
[    5.100400] RIP: 0010:lkdtm_WARNING+0x9/0x10
[    5.100500] Call Trace:
[    5.100600]  <TASK>
[    5.100700]  direct_entry+0x9d/0xc0
[    5.100800]  </TASK>
[    5.100900] ---[ end trace 0000000000000000 ]---
[    5.200000] virtio_blk virtio1: [vda] 2048 512-byte logical blocks
)";

} // namespace

TEST_CASE("a WARN is one failure, from its cut-here line to its end-trace line", "[testing][kernel-log]")
{
    const auto s = scan(WARN);
    REQUIRE(s.failures().size() == 1);
    const KernelFailure& f = s.failures()[0];
    CHECK(f.kind == KernelFailureKind::warning);
    CHECK(f.title == "WARNING: CPU: 0 PID: 77 at drivers/misc/lkdtm/bugs.c:96 lkdtm_WARNING+0x9/0x10");
    CHECK(f.line == 3);
    REQUIRE(f.excerpt.size() == 9);
    CHECK(f.excerpt.front() == "------------[ cut here ]------------");
    CHECK(f.excerpt.back() == "---[ end trace 0000000000000000 ]---");
}

TEST_CASE("an oops reported in several lines is one failure; the panic after it is another", "[testing][kernel-log]")
{
    const auto s = scan(R"(BUG: kernel NULL pointer dereference, address: 0000000000000000
#PF: supervisor write access in kernel mode
Oops: Oops: 0002 [#1] SMP
RIP: 0010:lkdtm_EXCEPTION+0x5/0x10
Kernel panic - not syncing: Fatal exception
---[ end Kernel panic - not syncing: Fatal exception ]---)");
    REQUIRE(s.failures().size() == 2);
    CHECK(s.failures()[0].kind == KernelFailureKind::oops);
    CHECK(s.failures()[0].excerpt.size() == 4);
    CHECK(s.failures()[1].kind == KernelFailureKind::panic);
    CHECK(s.failures()[1].title == "Kernel panic - not syncing: Fatal exception");
}

TEST_CASE("each kind of report is recognised by its first line", "[testing][kernel-log]")
{
    struct Case {
        std::string_view line;
        KernelFailureKind kind;
    };
    const Case cases[] = {
        { "kernel BUG at drivers/misc/lkdtm/bugs.c:77!", KernelFailureKind::bug },
        { "BUG: sleeping function called from invalid context at mm/slab.c:1", KernelFailureKind::bug },
        { "BUG: KASAN: slab-out-of-bounds in foo+0x1/0x2", KernelFailureKind::kasan },
        { "UBSAN: array-index-out-of-bounds in lib/x.c:5:3", KernelFailureKind::ubsan },
        { "BUG: KCSAN: data-race in a / b", KernelFailureKind::kcsan },
        { "BUG: KFENCE: use-after-free read in x", KernelFailureKind::kfence },
        { "WARNING: possible circular locking dependency detected", KernelFailureKind::lockdep },
        { "WARNING: suspicious RCU usage", KernelFailureKind::lockdep },
        { "INFO: task sh:80 blocked for more than 2 seconds.", KernelFailureKind::hung_task },
        { "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:1]", KernelFailureKind::soft_lockup },
        { "rcu: INFO: rcu_preempt self-detected stall on CPU", KernelFailureKind::rcu_stall },
        { "general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP", KernelFailureKind::oops },
        { "Kernel panic - not syncing: VFS: Unable to mount root fs", KernelFailureKind::panic },
    };
    for (const auto& c : cases) {
        CAPTURE(c.line);
        KernelFailureKind kind {};
        REQUIRE(classify_report_line(c.line, &kind));
        CHECK(kind == c.kind);
    }
}

TEST_CASE("ordinary boot lines are not failures", "[testing][kernel-log]")
{
    const std::string_view lines[] = {
        "INFO: task list follows",          // an INFO: task line without "blocked for more than"
        "ACPI BIOS Error (bug): something", // not at the start of a line as "BUG: "
        "debug: BUG: not at the start",
        "WARNING: kernel not compiled with CPU_SUP_AMD", // not "WARNING: CPU: "
        "    ok 1 example_simple_test",
        "Run /init as init process",
    };
    for (auto line : lines) {
        CAPTURE(line);
        KernelFailureKind kind {};
        CHECK_FALSE(classify_report_line(line, &kind));
    }
}

TEST_CASE("a report's excerpt is bounded, and so is the number of reports", "[testing][kernel-log]")
{
    KernelLogScanner s;
    s.line("INFO: task sh:1 blocked for more than 2 seconds.");
    for (int i = 0; i < 1000; ++i) {
        s.line(" stack line " + std::string(2000, 'x'));
    }
    REQUIRE(s.failures().size() == 1);
    CHECK(s.failures()[0].excerpt.size() == KernelLogScanner::MAX_EXCERPT);
    CHECK(s.failures()[0].excerpt[1].size() == KernelLogScanner::MAX_TEXT);
    for (int i = 0; i < 200; ++i) {
        s.line("Kernel panic - not syncing: again");
    }
    CHECK(s.failures().size() == KernelLogScanner::MAX_FAILURES);
    CHECK(s.overflow() == 200 - (KernelLogScanner::MAX_FAILURES - 1));
}

TEST_CASE("a hung-task report ends at its </TASK> line", "[testing][kernel-log]")
{
    const auto s = scan(R"(INFO: task sh:80 blocked for more than 2 seconds.
      Not tainted 6.12.48 #1
"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
task:sh              state:D stack:0     pid:80
Call Trace:
 <TASK>
 __schedule+0x1/0x2
 </TASK>
BUG: unable to handle page fault for address: 0000000000001000)");
    REQUIRE(s.failures().size() == 2);
    CHECK(s.failures()[0].kind == KernelFailureKind::hung_task);
    CHECK(s.failures()[0].excerpt.back() == " </TASK>");
    CHECK(s.failures()[1].kind == KernelFailureKind::oops);
}

TEST_CASE("a WARN with a message keeps the message and its cut-here line", "[testing][kernel-log]")
{
    const auto s = scan(R"(------------[ cut here ]------------
XSAVE consistency problem: size 832 != kernel_size 576
WARNING: CPU: 0 PID: 0 at arch/x86/kernel/fpu/xstate.c:605 fpu__init_system_xstate+0x7fc/0xb06
---[ end trace 0000000000000000 ]---)");
    REQUIRE(s.failures().size() == 1);
    const auto& f = s.failures()[0];
    REQUIRE(f.excerpt.size() == 4);
    CHECK(f.excerpt[1] == "XSAVE consistency problem: size 832 != kernel_size 576");
    auto failures = s.failures();
    mark_known(failures, { "no such text" });
    CHECK_FALSE(failures[0].known);
    mark_known(failures, { "no such text", "XSAVE consistency" });
    CHECK(failures[0].known);
}
