// SPDX-License-Identifier: Apache-2.0
// A virtual machine: KVM objects, guest memory, platform devices, vCPUs and the event loop.
//
// Threads:
// - the loop thread (the caller of run()) owns every device data path, timers, signals and
//   the API socket;
// - one thread per vCPU runs KVM_RUN and dispatches port and MMIO exits to the buses, nothing
//   else. A stop request from a vCPU (poweroff, reset, crash, test exit) is posted to the loop.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "vmm/base/result.hpp"
#include "vmm/config/config.hpp"

namespace vmm {

// How run() ended, for main's exit status and the restart decision.
struct RunOutcome {
    int exit_status = 0;
    bool restart = false; // the guest rebooted and on_reboot is "restart"
};

class Vm {
public:
    // Builds everything and loads the kernel; no vCPU runs yet. Errors name what is wrong.
    // `config_error` is set when the problem is the user's input (exit status 2) rather than
    // the host (exit status 1).
    [[nodiscard]] static Result<std::unique_ptr<Vm>> create(const config::VmConfig& cfg, bool* config_error);
    ~Vm();
    Vm(const Vm&) = delete;
    Vm& operator=(const Vm&) = delete;

    // Runs the guest until it stops, on the calling thread (which becomes the loop thread).
    RunOutcome run();

    struct Impl;

private:
    explicit Vm(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace vmm
