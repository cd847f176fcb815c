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
#include <functional>
#include <memory>
#include <optional>

#include "vmm/base/result.hpp"
#include "vmm/config/config.hpp"
#include "vmm/console/char_sink.hpp"
#include "vmm/run_outcome.hpp"

namespace vmm {

// What a caller adds to a plain run (vireo test).
struct VmHooks {
    // Wraps the serial console's sink: the returned sink receives the guest's output first.
    std::function<std::shared_ptr<CharSink>(std::shared_ptr<CharSink>)> wrap_console;
    // The run ends when this passes, with the vCPUs' state in the outcome.
    std::optional<std::chrono::steady_clock::time_point> deadline;
};

class Vm {
public:
    // Builds everything and loads the kernel; no vCPU runs yet. Errors name what is wrong.
    // `config_error` is set when the problem is the user's input (exit status 2) rather than
    // the host (exit status 1).
    [[nodiscard]] static Result<std::unique_ptr<Vm>> create(
        const config::VmConfig& cfg, bool* config_error, const VmHooks& hooks = {});
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

// Builds and runs VMs until the guest stops for good (a reboot with on_reboot "restart" builds
// a new one). A VM that cannot be built ends with EXIT_CONFIG_ERROR or EXIT_VMM_ERROR and the
// error logged or printed.
[[nodiscard]] RunOutcome run_vm(const config::VmConfig& cfg, const VmHooks& hooks = {});

} // namespace vmm
