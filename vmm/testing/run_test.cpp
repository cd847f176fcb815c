// SPDX-License-Identifier: Apache-2.0
#include "vmm/testing/run_test.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "vmm/config/exit_status.hpp"
#include "vmm/testing/console_monitor.hpp"
#include "vmm/testing/report.hpp"
#include "vmm/vm.hpp"

namespace vmm::testing {

namespace fs = std::filesystem;

namespace {

// Each output's directory must exist before anything runs: a CI job learns of a typo in
// seconds, not after the whole run.
bool check_output(const std::optional<fs::path>& path, const char* flag)
{
    if (!path) {
        return true;
    }
    const fs::path dir = path->parent_path();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        std::fprintf(stderr, "vireo: error: %s %s: the directory %s does not exist; create it first\n", flag,
            path->c_str(), dir.c_str());
        return false;
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        std::fprintf(stderr, "vireo: error: %s %s: cannot write in %s: %s\n", flag, path->c_str(), dir.c_str(),
            std::strerror(errno));
        return false;
    }
    return true;
}

// The console log level the command line leaves the kernel with: "quiet" is 4, loglevel=N
// is N, ignore_loglevel prints everything; the default is 7 (CONSOLE_LOGLEVEL_DEFAULT).
int console_loglevel(const std::string& cmdline)
{
    int level = 7;
    bool ignore = false;
    std::size_t pos = 0;
    while (pos < cmdline.size()) {
        const std::size_t end = std::min(cmdline.find(' ', pos), cmdline.size());
        const std::string_view word = std::string_view(cmdline).substr(pos, end - pos);
        if (word == "quiet") {
            level = 4;
        } else if (word == "ignore_loglevel") {
            ignore = true;
        } else if (word.starts_with("loglevel=") && word.size() > 9) {
            level = std::atoi(std::string(word.substr(9)).c_str());
        }
        pos = end + 1;
    }
    return ignore ? 15 : level;
}

// Written beside, then renamed: a reader never sees half a file.
bool write_file(const fs::path& path, const std::string& text)
{
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out) {
            spdlog::error("cannot write {}", tmp.string());
            return false;
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        spdlog::error("cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
        return false;
    }
    return true;
}

} // namespace

int run_test(const config::VmConfig& cfg, const config::TestOptions& options)
{
    if (!check_output(options.results, "--results") || !check_output(options.junit, "--junit")
        || !check_output(options.console_log, "--console-log")) {
        return config::EXIT_CONFIG_ERROR;
    }
    auto monitor = ConsoleMonitor::create(options.console_log);
    if (!monitor) {
        std::fprintf(stderr, "vireo: error: %s\n", monitor.error().describe().c_str());
        return config::EXIT_CONFIG_ERROR;
    }
    // A message reaches the console when its level is below the console's: KUnit prints at
    // KERN_INFO (6), a WARN at KERN_WARNING (4).
    if (const int level = console_loglevel(cfg.cmdline); level <= 6) {
        spdlog::warn("the kernel command line leaves the console log level at {} ({}), which keeps KUnit's results{} "
                     "off the console where vireo test reads them; add loglevel=7 at its end",
            level, level == 4 ? "\"quiet\"" : "loglevel", level <= 4 ? " and WARN reports" : "");
    }
    VmHooks hooks;
    hooks.wrap_console = [m = *monitor](std::shared_ptr<CharSink> next) -> std::shared_ptr<CharSink> {
        m->set_next(std::move(next));
        return m;
    };
    const auto started = std::chrono::steady_clock::now();
    if (options.timeout_seconds) {
        hooks.deadline = started
            + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(*options.timeout_seconds));
    }
    const RunOutcome run = run_vm(cfg, hooks);
    if (run.end == RunOutcome::End::error && run.exit_status == config::EXIT_CONFIG_ERROR) {
        // Nothing ran: no results, and no empty console log left behind.
        std::error_code ec;
        if (options.console_log) {
            fs::remove(*options.console_log, ec);
        }
        return run.exit_status;
    }
    ConsoleFindings console = (*monitor)->finish();
    mark_known(console.failures, options.known_failures);
    const Verdict verdict = judge(run, console, options.strict);
    TestContext ctx;
    ctx.kernel = printable_text(cfg.kernel.string());
    ctx.cmdline = printable_text(cfg.cmdline);
    ctx.console_log = options.console_log;
    ctx.timeout_seconds = options.timeout_seconds;
    ctx.strict = options.strict;
    ctx.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    bool written = true;
    if (options.results) {
        written = write_file(*options.results,
                      results_json(run, console, verdict, ctx).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                          + "\n")
            && written;
    }
    if (options.junit) {
        written = write_file(*options.junit, junit_xml(run, console, verdict, ctx)) && written;
    }
    const KtapCounts n = count_cases(console.ktap);
    std::fprintf(stderr, "vireo: test %s: %s\n", verdict.name.c_str(), verdict.reason.c_str());
    if (n.total() > 0) {
        std::fprintf(stderr, "vireo: KTAP: %zu passed, %zu failed, %zu skipped, %zu todo, %zu xfail\n", n.pass, n.fail,
            n.skip, n.todo, n.xfail);
    }
    for (const auto& f : console.failures) {
        std::fprintf(stderr, "vireo: kernel %s%s at console line %llu: %s\n", f.known ? "(known) " : "",
            kind_name(f.kind), static_cast<unsigned long long>(f.line), f.title.c_str());
    }
    for (const auto& dev : run.driver_violations) {
        for (const auto& v : dev["violations"]) {
            std::fprintf(stderr, "vireo: driver of %s (%s) broke §%s %u times: %s\n", dev.value("id", std::string()).c_str(),
                dev.value("type", std::string()).c_str(), v.value("section", std::string()).c_str(),
                static_cast<unsigned>(v.value("count", std::uint64_t { 0 })), v.value("text", std::string()).c_str());
        }
    }
    if (!written) {
        return verdict.exit_status == 0 ? config::EXIT_VMM_ERROR : verdict.exit_status;
    }
    return verdict.exit_status;
}

} // namespace vmm::testing
