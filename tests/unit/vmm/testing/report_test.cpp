// SPDX-License-Identifier: Apache-2.0
// The verdict for each way a run can end, and the JSON and JUnit that describe it.
#include <string>

#include <catch2/catch.hpp>

#include "vmm/config/exit_status.hpp"
#include "vmm/testing/report.hpp"

using namespace vmm::testing;
using vmm::RunOutcome;
using Catch::Matchers::Contains;

namespace {

RunOutcome ended(RunOutcome::End end, int code = 0)
{
    RunOutcome r;
    r.end = end;
    r.guest_code = end == RunOutcome::End::test_exit ? code : 0;
    r.exit_status = code;
    r.detail = "detail";
    return r;
}

ConsoleFindings console_with(std::string_view text)
{
    auto m = ConsoleMonitor::create(std::nullopt).value();
    m->write(std::as_bytes(std::span(text.data(), text.size())));
    return m->finish();
}

constexpr std::string_view KTAP_OK = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: s\n    1..2\n"
                                     "    ok 1 a\n    ok 2 b # SKIP no device\nok 1 s\n";
constexpr std::string_view KTAP_FAIL = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: s\n    1..2\n"
                                       "    # a: Expected x == 1 <&>\n    not ok 1 a\n    ok 2 b\nnot ok 1 s\n";

} // namespace

TEST_CASE("verdicts: pass, fail, crash, timeout, error", "[testing][report]")
{
    using End = RunOutcome::End;
    CHECK(judge(ended(End::poweroff), console_with(KTAP_OK)).name == "pass");
    CHECK(judge(ended(End::test_exit, 0), console_with(KTAP_OK)).exit_status == 0);
    CHECK(judge(ended(End::reset), console_with("")).name == "pass");

    const Verdict ktap_failed = judge(ended(End::poweroff), console_with(KTAP_FAIL));
    CHECK(ktap_failed.name == "fail");
    CHECK(ktap_failed.exit_status == vmm::config::EXIT_TEST_FAILED);
    CHECK_THAT(ktap_failed.reason, Contains("1 failed KTAP case"));

    const Verdict warned = judge(ended(End::test_exit, 0), console_with("WARNING: CPU: 1 PID: 2 at a.c:3 f\n"));
    CHECK(warned.name == "fail");
    CHECK_THAT(warned.reason, Contains("WARNING: CPU: 1 PID: 2"));

    const Verdict code = judge(ended(End::test_exit, 9), console_with(KTAP_OK));
    CHECK(code.name == "fail");
    CHECK(code.exit_status == 9);

    const Verdict crashed = judge(ended(End::crash, 3), console_with("Kernel panic - not syncing: Attempted to kill init!\n"));
    CHECK(crashed.name == "crash");
    CHECK(crashed.exit_status == vmm::config::EXIT_GUEST_CRASHED);
    CHECK_THAT(crashed.reason, Contains("Attempted to kill init"));

    CHECK(judge(ended(End::timeout, 124), console_with(KTAP_OK)).exit_status == vmm::config::EXIT_TIMEOUT);
    CHECK(judge(ended(End::error, 1), console_with("")).name == "error");
    CHECK(judge(ended(End::signal, 143), console_with("")).exit_status == 143);
}

TEST_CASE("the results JSON carries the verdict, the KTAP tree and the kernel failures", "[testing][report]")
{
    RunOutcome run = ended(RunOutcome::End::timeout, 124);
    run.vcpus = nlohmann::json::array({ { { "index", 0 } } });
    const auto console = console_with(std::string(KTAP_FAIL) + "BUG: KASAN: use-after-free in f\n==========\n");
    const Verdict v = judge(run, console);
    TestContext ctx;
    ctx.kernel = "/k/bzImage";
    ctx.timeout_seconds = 5;
    const auto j = results_json(run, console, v, ctx);
    CHECK(j["verdict"] == "timeout");
    CHECK(j["exit_status"] == 124);
    CHECK(j["run"]["end"] == "timeout");
    CHECK(j["run"]["timeout_seconds"] == 5.0);
    CHECK(j["vcpus"][0]["index"] == 0);
    CHECK(j["ktap"]["counts"]["fail"] == 1);
    CHECK(j["ktap"]["counts"]["pass"] == 1);
    CHECK(j["ktap"]["tests"][0]["name"] == "s");
    CHECK(j["ktap"]["tests"][0]["subtests"][0]["diagnostics"][0] == "a: Expected x == 1 <&>");
    REQUIRE(j["kernel_failures"].size() == 1);
    CHECK(j["kernel_failures"][0]["kind"] == "kasan");
    CHECK(j["kernel_failures"][0]["excerpt"].size() == 2);
    CHECK(j["console"]["log"].is_null());
}

TEST_CASE("JUnit: the run, each kernel failure, each KTAP leaf; text escaped", "[testing][report]")
{
    const auto console = console_with(std::string(KTAP_FAIL) + "WARNING: CPU: 0 PID: 1 at \"q\".c:1 f\n---[ end trace 0 ]---\n");
    const RunOutcome run = ended(RunOutcome::End::poweroff);
    const auto xml = junit_xml(run, console, judge(run, console), TestContext {});
    CHECK_THAT(xml, Contains("<testsuites name=\"vireo test\" tests=\"4\" failures=\"2\""));
    CHECK_THAT(xml, Contains("<testcase classname=\"vm\" name=\"run\""));
    CHECK_THAT(xml, Contains("<testcase classname=\"vm.kernel\" name=\"warning (console line 10)\""));
    CHECK_THAT(xml, Contains("message=\"WARNING: CPU: 0 PID: 1 at &quot;q&quot;.c:1 f\""));
    CHECK_THAT(xml, Contains("<testsuite name=\"s\" tests=\"2\" failures=\"1\""));
    CHECK_THAT(xml, Contains("<testcase classname=\"s\" name=\"a\""));
    CHECK_THAT(xml, Contains("a: Expected x == 1 &lt;&amp;&gt;"));

    const auto skipped = console_with(KTAP_OK);
    const auto xml2 = junit_xml(run, skipped, judge(run, skipped), TestContext {});
    CHECK_THAT(xml2, Contains("<skipped message=\"no device\"/>"));
    CHECK_THAT(xml2, Contains("failures=\"0\""));
}

TEST_CASE("JUnit: a suite that failed with all its cases passing gets a case of its own", "[testing][report]")
{
    const auto console = console_with("KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: s\n    1..1\n    ok 1 a\n"
                                      "# s: init failed\nnot ok 1 s\n");
    const RunOutcome run = ended(RunOutcome::End::poweroff);
    const Verdict v = judge(run, console);
    CHECK(v.name == "fail");
    const auto xml = junit_xml(run, console, v, TestContext {});
    CHECK_THAT(xml, Contains("<testcase classname=\"s\" name=\"s\""));
    CHECK_THAT(xml, Contains("s: init failed"));
}

TEST_CASE("a known kernel failure is listed but does not fail the run", "[testing][report]")
{
    auto console = console_with("------------[ cut here ]------------\nXSAVE consistency problem: size 832\n"
                                "WARNING: CPU: 0 PID: 0 at x.c:605 f\n---[ end trace 0 ]---\n");
    mark_known(console.failures, { "XSAVE consistency problem" });
    const RunOutcome run = ended(RunOutcome::End::poweroff);
    const Verdict v = judge(run, console);
    CHECK(v.name == "pass");
    CHECK_THAT(v.reason, Contains("1 known kernel failure"));
    const auto j = results_json(run, console, v, TestContext {});
    CHECK(j["kernel_failures"][0]["known"] == true);
    const auto xml = junit_xml(run, console, v, TestContext {});
    CHECK_THAT(xml, Contains("<skipped message=\"known failure: WARNING: CPU: 0 PID: 0 at x.c:605 f\"/>"));
    CHECK_THAT(xml, Contains("failures=\"0\""));
    // An unknown one beside it still fails the run.
    auto both = console_with("WARNING: CPU: 0 PID: 0 at x.c:605 f\n---[ end trace 0 ]---\nBUG: KASAN: oob in g\n");
    mark_known(both.failures, { "x.c:605" });
    const Verdict v2 = judge(run, both);
    CHECK(v2.name == "fail");
    CHECK_THAT(v2.reason, Contains("1 kernel failure; first: BUG: KASAN: oob in g"));
}

TEST_CASE("driver violations are reported, and fail the run only with --strict", "[testing][report]")
{
    RunOutcome run = ended(RunOutcome::End::poweroff);
    run.driver_violations = nlohmann::json::parse(R"([{"id": "rng0", "type": "rng", "transport": "pci",
        "violations": [{"rule": "status_bit_cleared", "section": "2.1.1",
                        "text": "The driver MUST NOT clear a device status bit.", "count": 2}]}])");
    const auto console = console_with(KTAP_OK);
    const Verdict lenient = judge(run, console);
    CHECK(lenient.name == "pass");
    const Verdict strict = judge(run, console, true);
    CHECK(strict.name == "fail");
    CHECK(strict.exit_status == vmm::config::EXIT_TEST_FAILED);
    CHECK_THAT(strict.reason, Contains("rng0") && Contains("§2.1.1") && Contains("2 times"));

    TestContext ctx;
    ctx.strict = true;
    const auto j = results_json(run, console, strict, ctx);
    CHECK(j["driver_conformance"]["strict"] == true);
    CHECK(j["driver_conformance"]["devices"][0]["violations"][0]["count"] == 2);
    const auto xml = junit_xml(run, console, strict, ctx);
    CHECK_THAT(xml, Contains("<testcase classname=\"vm.conformance\" name=\"rng0 (rng): status_bit_cleared\""));
    CHECK_THAT(xml, Contains("<failure type=\"conformance\""));
    const auto xml_lenient = junit_xml(run, console, lenient, TestContext {});
    CHECK_THAT(xml_lenient, Contains("<skipped message=\"not --strict: §2.1.1"));
}
