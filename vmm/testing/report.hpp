// SPDX-License-Identifier: Apache-2.0
// vireo test's verdict and its two written forms: a JSON results file and JUnit XML.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "vmm/testing/console_monitor.hpp"
#include "vmm/run_outcome.hpp"

namespace vmm::testing {

struct Verdict {
    // pass: the guest stopped well (power off, reboot, test-exit 0) and its console showed no
    // failed test and no kernel failure. fail: a non-zero test-exit code, a failed KTAP case,
    // or a kernel failure. crash: the guest kernel died (panic, triple fault). timeout: the
    // time limit passed. error: the VMM failed or was stopped by a signal.
    std::string name;
    int exit_status = 0;
    std::string reason; // one line
};

// With `strict`, a driver's violation of the spec's driver requirements fails the run too.
[[nodiscard]] Verdict judge(const RunOutcome& run, const ConsoleFindings& console, bool strict = false);

// What the results describe besides the run itself.
struct TestContext {
    std::string kernel;
    std::string cmdline;
    std::optional<std::filesystem::path> console_log;
    std::optional<double> timeout_seconds;
    double seconds = 0; // how long the run took
    bool strict = false;
};

[[nodiscard]] nlohmann::json results_json(
    const RunOutcome& run, const ConsoleFindings& console, const Verdict& verdict, const TestContext& ctx);

// JUnit XML in the form CI systems read (Jenkins, GitLab, GitHub's test reporters): a suite
// "vm" with the run itself and one case per kernel failure, then one suite per top-level
// KTAP test with its leaves as cases (a nested case is named by its path, joined by '.').
[[nodiscard]] std::string junit_xml(
    const RunOutcome& run, const ConsoleFindings& console, const Verdict& verdict, const TestContext& ctx);

} // namespace vmm::testing
