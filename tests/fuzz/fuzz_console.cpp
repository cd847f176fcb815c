// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: what a guest prints on its console, read by vireo test (KTAP parser, kernel
// failure scanner, the verdict and both written forms of it).
//
// Input: byte 0 picks the chunk size the bytes arrive in (the UART gives one at a time,
// virtio-console whole buffers) and how the run ended; the rest is console output.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "tests/fuzz/fuzz_common.hpp"
#include "vmm/testing/console_monitor.hpp"
#include "vmm/testing/report.hpp"

using namespace vmm;
using namespace vmm::testing;
using vmm::fuzz::invariant_failed;

namespace {

void check_text(const std::string& s, const char* what)
{
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 && c != '\t' && c != '\n') {
            invariant_failed(what);
        }
    }
}

void check_tree(const std::vector<KtapCase>& tree, std::size_t depth)
{
    if (depth > KtapParser::MAX_DEPTH + 1) {
        invariant_failed("KTAP tree deeper than MAX_DEPTH");
    }
    for (const auto& c : tree) {
        if (c.name.size() > KtapParser::MAX_TEXT || c.diagnostics.size() > KtapParser::MAX_DIAGNOSTICS) {
            invariant_failed("KTAP case text over its bounds");
        }
        check_tree(c.subtests, depth + 1);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) {
        return 0;
    }
    const std::size_t chunk = 1 + (data[0] & 0x1f) * 7;
    const auto end = static_cast<RunOutcome::End>((data[0] >> 5) % 7);
    auto monitor = ConsoleMonitor::create(std::nullopt).value();
    const auto bytes = std::as_bytes(std::span(data + 1, size - 1));
    for (std::size_t off = 0; off < bytes.size(); off += chunk) {
        monitor->write(bytes.subspan(off, std::min(chunk, bytes.size() - off)));
    }
    const ConsoleFindings f = monitor->finish();
    check_tree(f.ktap, 0);
    if (f.failures.size() > KernelLogScanner::MAX_FAILURES || f.tail.size() > ConsoleMonitor::TAIL_LINES) {
        invariant_failed("findings over their bounds");
    }
    const KtapCounts n = count_cases(f.ktap);
    (void)n;
    RunOutcome run;
    run.end = end;
    run.guest_code = end == RunOutcome::End::test_exit ? data[0] & 3 : 0;
    const Verdict v = judge(run, f);
    if (v.name == "pass" && (!f.failures.empty() || n.fail > 0)) {
        invariant_failed("a pass verdict with failures on the console");
    }
    const TestContext ctx;
    const std::string json = results_json(run, f, v, ctx).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    const std::string xml = junit_xml(run, f, v, ctx);
    check_text(xml, "control character in the JUnit XML");
    (void)json;
    return 0;
}
