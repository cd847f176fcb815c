// SPDX-License-Identifier: Apache-2.0
#include "vmm/testing/report.hpp"

#include <fmt/format.h>

#include "vmm/config/exit_status.hpp"

namespace vmm::testing {

namespace {

using nlohmann::json;

json case_json(const KtapCase& c)
{
    json j = { { "number", c.number }, { "name", c.name }, { "result", result_name(c.result) } };
    if (!c.directive.empty()) {
        j["directive"] = c.directive;
    }
    if (!c.diagnostics.empty()) {
        j["diagnostics"] = c.diagnostics;
    }
    if (!c.subtests.empty()) {
        json subs = json::array();
        for (const auto& s : c.subtests) {
            subs.push_back(case_json(s));
        }
        j["subtests"] = std::move(subs);
    }
    return j;
}

const KernelFailure* first_of(const std::vector<KernelFailure>& failures, KernelFailureKind kind)
{
    for (const auto& f : failures) {
        if (f.kind == kind) {
            return &f;
        }
    }
    return nullptr;
}

std::string plural(std::size_t n, std::string_view one, std::string_view many)
{
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

// XML 1.0 text: the five entities; the text itself is printable_text() already, so no
// control characters reach here.
std::string xml(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: out.push_back(c); break;
        }
    }
    return out;
}

std::string joined(const std::vector<std::string>& lines)
{
    std::string out;
    for (const auto& l : lines) {
        out += l;
        out += '\n';
    }
    return out;
}

struct XmlCase {
    std::string classname;
    std::string name;
    double seconds = 0;
    std::string failure_type; // empty: no failure
    std::string failure_message;
    std::string failure_body;
    std::optional<std::string> skipped; // its message
    std::string system_out;
};

struct XmlSuite {
    std::string name;
    std::vector<XmlCase> cases;
};

std::string case_label(const KtapCase& c)
{
    return c.name.empty() ? fmt::format("case {}", c.number) : c.name;
}

void flatten(const KtapCase& c, const std::string& path, XmlSuite& suite)
{
    const std::string label = case_label(c);
    if (!c.subtests.empty()) {
        const std::string inner = path.empty() ? label : path + "." + label;
        const std::size_t before = suite.cases.size();
        for (const auto& s : c.subtests) {
            flatten(s, inner, suite);
        }
        bool child_failed = false;
        for (std::size_t i = before; i < suite.cases.size(); ++i) {
            child_failed = child_failed || !suite.cases[i].failure_type.empty();
        }
        if (c.result == KtapResult::fail && !child_failed) {
            // The suite failed on its own (its init or exit): a case of its own says so.
            XmlCase x;
            x.classname = path.empty() ? suite.name : path;
            x.name = label;
            x.failure_type = "fail";
            x.failure_message = fmt::format("not ok {} {}{}", c.number, label, c.directive.empty() ? "" : " # " + c.directive);
            x.failure_body = joined(c.diagnostics);
            suite.cases.push_back(std::move(x));
        }
        return;
    }
    XmlCase x;
    x.classname = path.empty() ? suite.name : path;
    x.name = label;
    switch (c.result) {
    case KtapResult::pass:
    case KtapResult::xfail:
        x.system_out = joined(c.diagnostics);
        break;
    case KtapResult::fail:
        x.failure_type = "fail";
        x.failure_message = fmt::format("not ok {} {}{}", c.number, label, c.directive.empty() ? "" : " # " + c.directive);
        x.failure_body = joined(c.diagnostics);
        break;
    case KtapResult::skip:
        x.skipped = c.directive.empty() ? std::string("SKIP") : c.directive;
        break;
    case KtapResult::todo:
        x.skipped = "TODO " + c.directive;
        x.system_out = joined(c.diagnostics);
        break;
    }
    suite.cases.push_back(std::move(x));
}

void write_suite(std::string& out, const XmlSuite& s)
{
    std::size_t failures = 0;
    std::size_t skipped = 0;
    double seconds = 0;
    for (const auto& c : s.cases) {
        failures += c.failure_type.empty() ? 0U : 1U;
        skipped += c.skipped ? 1U : 0U;
        seconds += c.seconds;
    }
    out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3f}\">\n",
        xml(s.name), s.cases.size(), failures, skipped, seconds);
    for (const auto& c : s.cases) {
        out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\"", xml(c.classname), xml(c.name), c.seconds);
        if (c.failure_type.empty() && !c.skipped && c.system_out.empty()) {
            out += "/>\n";
            continue;
        }
        out += ">\n";
        if (!c.failure_type.empty()) {
            out += fmt::format("      <failure type=\"{}\" message=\"{}\">{}</failure>\n", xml(c.failure_type),
                xml(c.failure_message), xml(c.failure_body));
        }
        if (c.skipped) {
            out += fmt::format("      <skipped message=\"{}\"/>\n", xml(*c.skipped));
        }
        if (!c.system_out.empty()) {
            out += fmt::format("      <system-out>{}</system-out>\n", xml(c.system_out));
        }
        out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
}

std::uint64_t violation_count(const RunOutcome& run)
{
    std::uint64_t n = 0;
    for (const auto& dev : run.driver_violations) {
        for (const auto& v : dev.value("violations", json::array())) {
            n += v.value("count", std::uint64_t { 0 });
        }
    }
    return n;
}

} // namespace

Verdict judge(const RunOutcome& run, const ConsoleFindings& console, bool strict)
{
    using End = RunOutcome::End;
    const KtapCounts counts = count_cases(console.ktap);
    std::size_t known = 0;
    for (const auto& f : console.failures) {
        known += f.known ? 1U : 0U;
    }
    const std::size_t kernel = console.failures.size() - known + console.failures_overflow;
    const std::string found = fmt::format("{}, {}", plural(counts.fail, "failed KTAP case", "failed KTAP cases"),
        plural(kernel, "kernel failure", "kernel failures"));
    switch (run.end) {
    case End::error:
        return { "error", run.exit_status, "the VMM failed: " + run.detail };
    case End::signal:
        return { "error", run.exit_status, "stopped from outside: " + run.detail };
    case End::timeout:
        return { "timeout", config::EXIT_TIMEOUT, fmt::format("the time limit passed before the guest stopped ({})", found) };
    case End::crash: {
        const KernelFailure* panic = first_of(console.failures, KernelFailureKind::panic);
        return { "crash", config::EXIT_GUEST_CRASHED,
            fmt::format("the guest crashed: {}{}", run.detail, panic != nullptr ? " (" + panic->title + ")" : "") };
    }
    case End::test_exit:
        if (run.guest_code != 0) {
            return { "fail", run.guest_code, fmt::format("the guest wrote exit code {} ({})", run.guest_code, found) };
        }
        break;
    case End::poweroff:
    case End::reset:
        break;
    }
    if (strict && violation_count(run) > 0) {
        const auto& dev = run.driver_violations.front();
        const auto& v = dev["violations"].front();
        return { "fail", config::EXIT_TEST_FAILED,
            fmt::format("--strict: the drivers broke the virtio spec's driver requirements {} times; first: device {} ({}), "
                        "§{}: {}",
                violation_count(run), dev.value("id", std::string()), dev.value("type", std::string()),
                v.value("section", std::string()), v.value("text", std::string())) };
    }
    if (counts.fail > 0 || kernel > 0) {
        std::string first;
        for (const auto& f : console.failures) {
            if (!f.known) {
                first = fmt::format("; first: {}", f.title);
                break;
            }
        }
        return { "fail", config::EXIT_TEST_FAILED, fmt::format("the console showed {}{}", found, first) };
    }
    return { "pass", 0,
        fmt::format("the guest ended well ({}); {} passed, {} skipped{}", end_name(run.end),
            plural(counts.pass, "KTAP case", "KTAP cases"), counts.skip,
            known > 0 ? fmt::format("; {}", plural(known, "known kernel failure", "known kernel failures")) : "") };
}

nlohmann::json results_json(
    const RunOutcome& run, const ConsoleFindings& console, const Verdict& verdict, const TestContext& ctx)
{
    const KtapCounts n = count_cases(console.ktap);
    json tests = json::array();
    for (const auto& c : console.ktap) {
        tests.push_back(case_json(c));
    }
    json failures = json::array();
    for (const auto& f : console.failures) {
        failures.push_back({ { "kind", kind_name(f.kind) }, { "title", f.title }, { "line", f.line }, { "known", f.known },
            { "excerpt", f.excerpt } });
    }
    json r = {
        { "verdict", verdict.name },
        { "exit_status", verdict.exit_status },
        { "reason", verdict.reason },
        { "run", { { "end", end_name(run.end) }, { "detail", run.detail }, { "seconds", ctx.seconds } } },
        { "kernel", ctx.kernel },
        { "cmdline", ctx.cmdline },
        { "console",
            { { "log", ctx.console_log ? json(ctx.console_log->string()) : json(nullptr) }, { "bytes", console.bytes },
                { "lines", console.lines }, { "tail", console.tail } } },
        { "ktap",
            { { "seen", console.ktap_seen },
                { "counts",
                    { { "pass", n.pass }, { "fail", n.fail }, { "skip", n.skip }, { "todo", n.todo }, { "xfail", n.xfail },
                        { "total", n.total() } } },
                { "dropped", console.ktap_dropped }, { "tests", std::move(tests) } } },
        { "kernel_failures", std::move(failures) },
        { "kernel_failures_not_listed", console.failures_overflow },
        { "driver_conformance", { { "strict", ctx.strict }, { "devices", run.driver_violations } } },
    };
    if (run.end == RunOutcome::End::test_exit) {
        r["run"]["guest_exit_code"] = run.guest_code;
    }
    if (ctx.timeout_seconds) {
        r["run"]["timeout_seconds"] = *ctx.timeout_seconds;
    }
    if (run.end == RunOutcome::End::timeout) {
        r["vcpus"] = run.vcpus;
    }
    return r;
}

std::string junit_xml(
    const RunOutcome& run, const ConsoleFindings& console, const Verdict& verdict, const TestContext& ctx)
{
    XmlSuite vm { .name = "vm", .cases = {} };
    XmlCase whole;
    whole.classname = "vm";
    whole.name = "run";
    whole.seconds = ctx.seconds;
    const bool run_failed = verdict.name == "error" || verdict.name == "timeout" || verdict.name == "crash"
        || (run.end == RunOutcome::End::test_exit && run.guest_code != 0);
    if (run_failed) {
        whole.failure_type = verdict.name;
        whole.failure_message = verdict.reason;
        whole.failure_body = joined(console.tail);
        if (run.end == RunOutcome::End::timeout && !run.vcpus.is_null()) {
            whole.failure_body += "\nvCPU state at the time limit:\n" + run.vcpus.dump(2, ' ', false, json::error_handler_t::replace);
        }
    } else {
        whole.system_out = joined(console.tail);
    }
    vm.cases.push_back(std::move(whole));
    for (const auto& f : console.failures) {
        XmlCase x;
        x.classname = "vm.kernel";
        x.name = fmt::format("{} (console line {})", kind_name(f.kind), f.line);
        if (f.known) {
            x.skipped = "known failure: " + f.title;
            x.system_out = joined(f.excerpt);
        } else {
            x.failure_type = kind_name(f.kind);
            x.failure_message = f.title;
            x.failure_body = joined(f.excerpt);
        }
        vm.cases.push_back(std::move(x));
    }
    for (const auto& dev : run.driver_violations) {
        for (const auto& v : dev.value("violations", json::array())) {
            XmlCase x;
            x.classname = "vm.conformance";
            x.name = fmt::format("{} ({}): {}", dev.value("id", std::string()), dev.value("type", std::string()),
                v.value("rule", std::string()));
            const std::string what = fmt::format("§{} {} ({} times)", v.value("section", std::string()),
                v.value("text", std::string()), v.value("count", std::uint64_t { 0 }));
            if (ctx.strict) {
                x.failure_type = "conformance";
                x.failure_message = what;
            } else {
                x.skipped = "not --strict: " + what;
            }
            vm.cases.push_back(std::move(x));
        }
    }
    std::vector<XmlSuite> suites;
    suites.push_back(std::move(vm));
    XmlSuite loose { .name = "ktap", .cases = {} };
    for (const auto& c : console.ktap) {
        if (c.subtests.empty()) {
            flatten(c, "", loose);
            continue;
        }
        XmlSuite s { .name = case_label(c), .cases = {} };
        flatten(c, "", s);
        suites.push_back(std::move(s));
    }
    if (!loose.cases.empty()) {
        suites.push_back(std::move(loose));
    }
    std::size_t tests = 0;
    std::size_t failures = 0;
    std::size_t skipped = 0;
    for (const auto& s : suites) {
        for (const auto& c : s.cases) {
            ++tests;
            failures += c.failure_type.empty() ? 0U : 1U;
            skipped += c.skipped ? 1U : 0U;
        }
    }
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += fmt::format("<testsuites name=\"vireo test\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3f}\">\n",
        tests, failures, skipped, ctx.seconds);
    for (const auto& s : suites) {
        write_suite(out, s);
    }
    out += "</testsuites>\n";
    return out;
}

} // namespace vmm::testing
