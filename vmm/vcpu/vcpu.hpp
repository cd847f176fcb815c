// SPDX-License-Identifier: Apache-2.0
// vCPU threads: each runs KVM_RUN and dispatches port and MMIO exits to the buses. Nothing
// else happens on them; anything slow is handed to the event loop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vmm/bus/bus.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/vcpu/vcpu_report.hpp"

namespace vmm {

// Why the guest stopped running.
enum class StopReason {
    poweroff,  // ACPI S5 or KVM system event shutdown
    reset,     // reboot request (i8042, ACPI reset register, KVM system event reset)
    crash,     // triple fault, pvpanic, KVM internal error
    test_exit, // the guest wrote a code to the test-exit port
    error,     // the VMM could not go on (KVM_RUN failed)
    timeout,   // the run's deadline passed (vireo test --timeout)
};

struct StopEvent {
    StopReason reason = StopReason::poweroff;
    int code = 0;
    std::string detail;
};

struct VcpuContext {
    const Bus* pio = nullptr;
    const Bus* mmio = nullptr;
    // For report(): guest memory read through the guest's page tables. May be null.
    const GuestMemory* memory = nullptr;
    // Called on the vCPU thread; must only hand the event over (e.g. post to the loop).
    std::function<void(StopEvent)> on_stop;
};

class Vcpu {
public:
    Vcpu(std::uint32_t index, kvm::VcpuFd fd, VcpuContext ctx);
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;
    ~Vcpu(); // stops and joins

    [[nodiscard]] const kvm::VcpuFd& fd() const noexcept { return fd_; }
    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
    [[nodiscard]] std::uint64_t exit_count() const noexcept { return exits_.load(std::memory_order_relaxed); }

    void start();
    // Ask the thread to leave KVM_RUN and stop for good.
    void request_stop() noexcept;
    // Ask the thread to park before its next KVM_RUN, until resume(). Returns at once.
    void request_pause() noexcept;
    // Whether the thread runs no guest code now: parked, stopped, or never started.
    [[nodiscard]] bool wait_paused(std::chrono::milliseconds timeout);
    void resume();
    void join();

    // Where the thread is and, when it comes out of KVM_RUN within `wait`, the guest state KVM
    // holds for it. Any thread but this vCPU's own. The vCPU leaves KVM_RUN once for it, as it
    // does for a pause, and goes on.
    [[nodiscard]] VcpuReport report(std::chrono::milliseconds wait);

    // Must be called once, before any vCPU starts: the kick signal's no-op handler.
    static void install_kick_signal();

private:
    void thread_main() noexcept;
    void kick() noexcept;
    // false: the vCPU must stop running.
    bool handle_exit() noexcept;
    void note_exit() noexcept;
    void take_report_state() noexcept; // on the vCPU thread, with a request pending
    void read_guest_words(VcpuGuestState& g) const; // at_rdi and stack_text
    void emit(StopReason reason, int code, std::string detail) noexcept;

    // A crashed guest's registers, for the crash line (empty when KVM cannot give them).
    [[nodiscard]] std::string cpu_state() const;

    std::uint32_t index_;
    kvm::VcpuFd fd_;
    VcpuContext ctx_;
    std::thread thread_;
    std::atomic<bool> stop_ { false };
    std::atomic<bool> pause_ { false };
    std::atomic<std::uint64_t> exits_ { 0 };
    // Where the thread is, for report(): written by the thread only.
    std::atomic<VcpuPhase> phase_ { VcpuPhase::not_started };
    std::atomic<std::int64_t> last_exit_ns_ { 0 }; // steady clock; 0 before the first exit
    std::atomic<std::uint64_t> last_exit_address_ { 0 };
    std::atomic<std::uint32_t> last_exit_info_ { 0 }; // reason | size << 8 | write << 16
    std::atomic<bool> report_wanted_ { false };
    std::mutex mutex_;
    std::condition_variable cv_;
    bool paused_ = false;                 // guarded by mutex_
    std::uint64_t reports_asked_ = 0;     // guarded by mutex_
    std::uint64_t reports_taken_ = 0;     // guarded by mutex_
    std::optional<VcpuGuestState> guest_; // guarded by mutex_: the last state taken
};

} // namespace vmm
