// SPDX-License-Identifier: Apache-2.0
// KtapParser on KUnit's and kselftest's output, as it reaches the console, and on broken input.
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "vmm/testing/ktap.hpp"

using namespace vmm::testing;

namespace {

std::vector<KtapCase> parse(std::string_view text, bool strip = true)
{
    KtapParser p;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        const std::string_view line = text.substr(start, end - start);
        p.line(strip ? strip_printk_prefix(line) : line);
        start = end + 1;
    }
    return p.finish();
}

// KUnit's example suite as Linux 6.12 prints it at boot (kunit.enable=1), with the printk
// timestamps and a kernel message from elsewhere in the middle.
constexpr std::string_view KUNIT_BOOT = R"([    0.912345] KTAP version 1
[    0.912400] 1..2
[    0.912500]     KTAP version 1
[    0.912501]     # Subtest: example
[    0.912502]     # module: kunit_example_test
[    0.912503]     1..4
[    0.912600]     # example_simple_test: initializing
[    0.912700]     # example_simple_test: cleaning up
[    0.912800]     ok 1 example_simple_test
[    0.912900]     ok 2 example_skip_test # SKIP this test should be skipped
[    0.913000] random: crng init done
[    0.913100]         KTAP version 1
[    0.913101]         # Subtest: example_params_test
[    0.913200]         ok 1 example value 3
[    0.913300]         ok 2 example value 2
[    0.913400]         ok 3 example value 0 # SKIP unsupported param value 0
[    0.913500]     # example_params_test: pass:2 fail:0 skip:1 total:3
[    0.913600]     ok 3 example_params_test
[    0.913700]     # example_failing_test: EXPECTATION FAILED at lib/kunit/kunit-example-test.c:52
[    0.913701]     Expected 1 + 1 == 3, but
[    0.913702]         1 + 1 == 2 (0x2)
[    0.913800]     not ok 4 example_failing_test
[    0.913900] # example: pass:2 fail:1 skip:1 total:4
[    0.913901] # Totals: pass:4 fail:1 skip:2 total:7
[    0.914000] not ok 1 example
[    0.914100]     KTAP version 1
[    0.914101]     # Subtest: list-kunit-test
[    0.914102]     1..2
[    0.914200]     ok 1 list_add_test
[    0.914300]     ok 2 list_del_test
[    0.914400] # list-kunit-test: pass:2 fail:0 skip:0 total:2
[    0.914500] ok 2 list-kunit-test
)";

} // namespace

TEST_CASE("KUnit boot output becomes a tree of suites, cases and parameters", "[testing][ktap]")
{
    const auto tree = parse(KUNIT_BOOT);
    REQUIRE(tree.size() == 2);
    const KtapCase& example = tree[0];
    CHECK(example.name == "example");
    CHECK(example.result == KtapResult::fail);
    REQUIRE(example.subtests.size() == 4);
    CHECK(example.subtests[0].name == "example_simple_test");
    CHECK(example.subtests[0].result == KtapResult::pass);
    CHECK(example.subtests[0].diagnostics
        == std::vector<std::string> { "example_simple_test: initializing", "example_simple_test: cleaning up" });
    CHECK(example.subtests[1].result == KtapResult::skip);
    CHECK(example.subtests[1].directive == "this test should be skipped");
    const KtapCase& params = example.subtests[2];
    CHECK(params.name == "example_params_test");
    REQUIRE(params.subtests.size() == 3);
    CHECK(params.subtests[0].name == "example value 3");
    CHECK(params.subtests[2].result == KtapResult::skip);
    const KtapCase& failing = example.subtests[3];
    CHECK(failing.result == KtapResult::fail);
    // The failure's message is kept with the case, the unrelated kernel line is not.
    REQUIRE(failing.diagnostics.size() == 3);
    CHECK(failing.diagnostics[0] == "example_failing_test: EXPECTATION FAILED at lib/kunit/kunit-example-test.c:52");
    CHECK(failing.diagnostics[1] == "Expected 1 + 1 == 3, but");
    CHECK(tree[1].name == "list-kunit-test");
    CHECK(tree[1].result == KtapResult::pass);

    const KtapCounts n = count_cases(tree);
    CHECK(n.pass == 5); // simple, 2 params, 2 list
    CHECK(n.skip == 2);
    CHECK(n.fail == 1); // the failing case; its suite's "not ok" is not counted again
    CHECK(n.total() == 8);
}

TEST_CASE("kselftest TAP 13 with a plan, dashes, TODO, XFAIL and a '#' in a name", "[testing][ktap]")
{
    const auto tree = parse(R"(TAP version 13
1..6
# selftests: vsock: vsock_test
ok 1 - connect and send
not ok 2 - seqpacket bounds # TODO not implemented yet
ok 3 - counts \# of bytes
not ok 4 - stream # skip no vsock device
ok 5 - known bug # XFAIL see issue 7
not ok 6 - timeout # TIMEOUT 45 seconds)",
        false);
    REQUIRE(tree.size() == 6);
    CHECK(tree[0].name == "connect and send");
    CHECK(tree[0].result == KtapResult::pass);
    CHECK(tree[1].result == KtapResult::todo);
    CHECK(tree[1].directive == "not implemented yet");
    CHECK(tree[2].name == "counts \\# of bytes");
    CHECK(tree[2].result == KtapResult::pass);
    CHECK(tree[3].result == KtapResult::skip); // directives are case-insensitive
    CHECK(tree[4].result == KtapResult::xfail);
    CHECK(tree[5].result == KtapResult::fail);
    CHECK(tree[5].directive == "45 seconds");
    const KtapCounts n = count_cases(tree);
    CHECK(n.fail == 1);
    CHECK(n.todo == 1);
    CHECK(n.xfail == 1);
}

TEST_CASE("a run cut off mid-suite leaves failed cases for what never reported", "[testing][ktap]")
{
    const auto tree = parse(R"(KTAP version 1
1..3
    KTAP version 1
    # Subtest: blk
    1..40
    ok 1 read
    ok 2 write
[   12.0] Kernel panic - not syncing: Fatal exception)");
    // The open suite "blk" has no result line: it fails, with its 2 passes and 38 missing
    // cases (16 listed, the rest as one), and top-level cases 2 and 3 never came.
    REQUIRE(tree.size() == 3);
    CHECK(tree[0].name == "blk");
    CHECK(tree[0].result == KtapResult::fail);
    CHECK(tree[0].directive.find("no result line") != std::string::npos);
    REQUIRE(tree[0].subtests.size() == 2 + 16 + 1);
    CHECK(tree[0].subtests[2].name == "(case 3 of 40)");
    CHECK(tree[0].subtests.back().name == "(cases 19 to 40)");
    CHECK(tree[1].name == "(case 2 of 3)");
    CHECK(tree[2].result == KtapResult::fail);
}

TEST_CASE("older KUnit without a version line on the subtest, and two documents", "[testing][ktap]")
{
    const auto tree = parse(R"(TAP version 14
1..1
    # Subtest: old
    1..1
    ok 1 works
ok 1 - old
KTAP version 1
1..1
not ok 1 second_run)");
    REQUIRE(tree.size() == 2);
    CHECK(tree[0].name == "old");
    REQUIRE(tree[0].subtests.size() == 1);
    CHECK(tree[0].subtests[0].name == "works");
    CHECK(tree[1].name == "second_run");
    CHECK(tree[1].result == KtapResult::fail);
}

TEST_CASE("nothing is KTAP before a version line; stray results are ignored", "[testing][ktap]")
{
    KtapParser p;
    p.line("ok 1 - looks like TAP");
    p.line("not ok 2 - but no header came");
    CHECK_FALSE(p.seen());
    CHECK(p.finish().empty());
}

TEST_CASE("hostile KTAP: a huge plan, deep nesting, long lines, endless cases stay bounded", "[testing][ktap]")
{
    KtapParser p;
    p.line("KTAP version 1");
    p.line("1..4294967295");
    std::string indent;
    for (int i = 0; i < 20; ++i) {
        indent += "    ";
        p.line(indent + "KTAP version 1");
    }
    p.line(std::string(100'000, 'x'));
    p.line("ok 1 " + std::string(100'000, 'n'));
    for (std::size_t i = 0; i < KtapParser::MAX_CASES + 10; ++i) {
        p.line("ok 2 again");
    }
    for (int i = 0; i < 1000; ++i) {
        p.line("# diagnostic");
    }
    CHECK(p.dropped() >= 10);
    const auto tree = p.finish();
    REQUIRE_FALSE(tree.empty());
    CHECK(tree[0].name.size() == KtapParser::MAX_TEXT);
    // Planned cases beyond those reported: 16 listed and one for the rest, not four billion.
    CHECK(tree.size() <= KtapParser::MAX_CASES + 17);
    CHECK(tree.back().name.find("to 4294967295") != std::string::npos);
}

TEST_CASE("printk prefixes are removed, other brackets are not", "[testing][ktap]")
{
    CHECK(strip_printk_prefix("[    1.234567] ok 1 x") == "ok 1 x");
    CHECK(strip_printk_prefix("[    1.234567]     ok 1 x") == "    ok 1 x");
    CHECK(strip_printk_prefix("[    1.234567][    T1] KTAP version 1") == "KTAP version 1");
    CHECK(strip_printk_prefix("[    1.234567][    C0] x") == "x");
    CHECK(strip_printk_prefix("[ cut here ]") == "[ cut here ]");
    CHECK(strip_printk_prefix("[abc] x") == "[abc] x");
    CHECK(strip_printk_prefix("[") == "[");
    CHECK(strip_printk_prefix("") == "");
}
