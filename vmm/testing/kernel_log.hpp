// SPDX-License-Identifier: Apache-2.0
// The guest kernel's own failure reports, found in its console output: panic, oops, BUG,
// WARN, KASAN/UBSAN/KCSAN/KFENCE, lockdep, hung tasks, soft lockups and RCU stalls, each with
// the lines of its report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vmm::testing {

enum class KernelFailureKind : std::uint8_t {
    panic,
    oops,
    bug,
    warning,
    kasan,
    ubsan,
    kcsan,
    kfence,
    lockdep,
    hung_task,
    soft_lockup,
    rcu_stall,
};

[[nodiscard]] const char* kind_name(KernelFailureKind k) noexcept;

struct KernelFailure {
    KernelFailureKind kind = KernelFailureKind::bug;
    std::string title;                // the line that starts the report
    std::vector<std::string> excerpt; // the report's lines, from its first
    std::uint64_t line = 0;           // 1-based console line of the title
    bool known = false;               // matched a --known-failure text: listed, not counted
};

// Marks the failures with a report line that contains one of `texts`.
void mark_known(std::vector<KernelFailure>& failures, const std::vector<std::string>& texts);

// Reads console lines (printk prefix removed) and collects reports. A report ends at its
// "---[ end" line, at the line of '=' that closes KASAN/UBSAN reports, at " </TASK>" for
// hung-task and lockup reports, at a new report, or after MAX_EXCERPT lines. Lines of one
// report that would match another kind (an oops's "BUG: unable to handle ..." then "Oops:")
// stay in the first report; a panic always starts its own.
class KernelLogScanner {
public:
    static constexpr std::size_t MAX_FAILURES = 64; // more are counted in overflow()
    static constexpr std::size_t MAX_EXCERPT = 80;
    static constexpr std::size_t MAX_TEXT = 512;

    void line(std::string_view text);
    [[nodiscard]] const std::vector<KernelFailure>& failures() const noexcept { return failures_; }
    [[nodiscard]] std::size_t overflow() const noexcept { return overflow_; }

private:
    bool in_report_ = false;
    std::uint64_t lines_ = 0;
    std::string previous_;  // the line before this one
    std::string previous2_; // and the one before that
    std::vector<KernelFailure> failures_;
    std::size_t overflow_ = 0;
};

// The kind of report a line starts, if it starts one.
[[nodiscard]] bool classify_report_line(std::string_view text, KernelFailureKind* kind) noexcept;

} // namespace vmm::testing
