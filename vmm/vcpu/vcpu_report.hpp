// SPDX-License-Identifier: Apache-2.0
// What a vCPU is doing when someone asks: where its thread is (inside KVM_RUN, in one of the
// VMM's exit handlers, paused) and the guest state KVM holds for it (registers, MP state,
// pending events, the local APIC). It answers the first question about a stalled guest: does
// the VMM hold the vCPU (a blocked handler, a lost kick) or does the guest spin or sleep?
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vmm {

// Where a vCPU thread is. Written by the thread itself, read by anyone.
enum class VcpuPhase : std::uint8_t {
    not_started, // the thread has not run yet
    in_guest,    // inside KVM_RUN (running guest code, or halted in the kernel)
    in_vmm,      // handling an exit in the VMM
    paused,      // parked by pause()
    stopped,     // the thread ended
};

[[nodiscard]] const char* phase_name(VcpuPhase phase) noexcept;
// "io", "mmio", "hlt", ... for a KVM_EXIT_* reason; "exit N" for one without a name here.
[[nodiscard]] std::string exit_reason_name(std::uint32_t reason);

// The last exit a vCPU took, as far as the VMM's handlers see it.
struct ExitSite {
    std::uint32_t reason = 0;
    std::uint64_t address = 0; // port or guest-physical address (io, mmio)
    std::uint32_t size = 0;
    bool write = false;
};

// The parts of a local APIC that tell whether an interrupt is stuck (Intel SDM vol. 3A §10.4
// to §10.8): what is pending (IRR), in service (ISR), the priorities that gate delivery, and
// the timer.
struct LapicSummary {
    std::uint32_t id = 0;
    std::uint32_t tpr = 0;
    std::uint32_t ppr = 0;
    bool software_enabled = false; // SVR bit 8
    std::vector<std::uint8_t> irr;
    std::vector<std::uint8_t> isr;
    std::uint32_t lvt_timer = 0;
    std::uint32_t timer_initial = 0;
    std::uint32_t timer_current = 0;
    std::uint32_t icr_low = 0;
    std::uint32_t icr_high = 0;
    std::uint32_t esr = 0;
};

[[nodiscard]] LapicSummary summarize_lapic(const kvm_lapic_state& lapic) noexcept;
// "one-shot", "periodic", "tsc-deadline" or "reserved" from the LVT timer register.
[[nodiscard]] const char* lapic_timer_mode(std::uint32_t lvt_timer) noexcept;

// Guest state, read by the vCPU thread itself between two KVM_RUNs.
struct VcpuGuestState {
    kvm_regs regs {};
    kvm_sregs sregs {};
    std::uint32_t mp_state = 0;
    kvm_vcpu_events events {};
    LapicSummary lapic;
    std::optional<std::uint64_t> tsc;
    std::optional<std::uint64_t> tsc_deadline;
    // Read through the guest's own page tables: the 8 bytes at rdi (the first argument of the
    // function the vCPU is in: a spinning lock's word, say), and the words on the stack that
    // point into kernel text, innermost first (return addresses: a rough backtrace).
    std::optional<std::uint64_t> at_rdi;
    std::vector<std::uint64_t> stack_text;
    std::string error; // what could not be read, if anything
};

// Whether `v` lies in the x86_64 kernel text mapping (Documentation/arch/x86/x86_64/mm.rst:
// the 1 GiB from 0xffffffff80000000 to the module area).
[[nodiscard]] constexpr bool kernel_text_address(std::uint64_t v) noexcept
{
    return v >= 0xffffffff80000000ULL && v < 0xffffffffc0000000ULL;
}

[[nodiscard]] const char* mp_state_name(std::uint32_t mp_state) noexcept;

struct VcpuReport {
    std::uint32_t index = 0;
    VcpuPhase phase = VcpuPhase::not_started;
    std::uint64_t exits = 0;
    // Since the last exit came back from KVM_RUN: how long the thread has been in the guest
    // (phase in_guest) or in the handler (phase in_vmm). Absent before the first exit.
    std::optional<double> seconds_since_exit;
    std::optional<ExitSite> last_exit;
    std::optional<VcpuGuestState> guest;
    // Why there is no guest state, when there is none.
    std::string note;
};

[[nodiscard]] nlohmann::json to_json(const VcpuReport& report);
// One line, for logs and test failure output.
[[nodiscard]] std::string describe(const VcpuReport& report);

} // namespace vmm
