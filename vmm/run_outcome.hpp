// SPDX-License-Identifier: Apache-2.0
// How a VM's run ended.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace vmm {

// How run() ended, for main's exit status, the restart decision and vireo test's verdict.
struct RunOutcome {
    enum class End { poweroff, reset, crash, test_exit, error, signal, timeout };
    int exit_status = 0;
    bool restart = false; // the guest rebooted and on_reboot is "restart"
    End end = End::poweroff;
    int guest_code = 0;   // the value written to the test-exit port (End::test_exit)
    std::string detail;   // what stopped it, in words
    nlohmann::json vcpus; // each vCPU's state when the deadline passed (End::timeout)
    // The drivers' violations of the spec's driver requirements (VirtioDevices::driver_violations).
    nlohmann::json driver_violations = nlohmann::json::array();
};

[[nodiscard]] inline const char* end_name(RunOutcome::End end) noexcept
{
    switch (end) {
    case RunOutcome::End::poweroff: return "poweroff";
    case RunOutcome::End::reset: return "reboot";
    case RunOutcome::End::crash: return "crash";
    case RunOutcome::End::test_exit: return "test_exit";
    case RunOutcome::End::error: return "error";
    case RunOutcome::End::signal: return "signal";
    case RunOutcome::End::timeout: return "timeout";
    }
    return "error";
}

} // namespace vmm
