// SPDX-License-Identifier: Apache-2.0
// vCPU reports: decoding and formatting.
#include "vmm/vcpu/vcpu_report.hpp"

#include <cstring>

#include <fmt/format.h>

namespace vmm {
namespace {

// Local APIC register offsets (Intel SDM vol. 3A, table 10-1).
constexpr std::size_t APIC_ID = 0x20;
constexpr std::size_t APIC_TPR = 0x80;
constexpr std::size_t APIC_PPR = 0xa0;
constexpr std::size_t APIC_SVR = 0xf0;
constexpr std::size_t APIC_ISR = 0x100;
constexpr std::size_t APIC_IRR = 0x200;
constexpr std::size_t APIC_ESR = 0x280;
constexpr std::size_t APIC_ICR_LOW = 0x300;
constexpr std::size_t APIC_ICR_HIGH = 0x310;
constexpr std::size_t APIC_LVT_TIMER = 0x320;
constexpr std::size_t APIC_TIMER_INITIAL = 0x380;
constexpr std::size_t APIC_TIMER_CURRENT = 0x390;
constexpr std::uint32_t APIC_SVR_ENABLE = 1U << 8;
constexpr std::uint32_t APIC_LVT_MASKED = 1U << 16;
constexpr std::uint64_t RFLAGS_IF = 1U << 9;

std::uint32_t reg(const kvm_lapic_state& s, std::size_t off) noexcept
{
    std::uint32_t v = 0;
    std::memcpy(&v, s.regs + off, sizeof(v));
    return v;
}

// The 256-bit vector registers (ISR, TMR, IRR) are eight 32-bit words, 16 bytes apart.
std::vector<std::uint8_t> vectors(const kvm_lapic_state& s, std::size_t base)
{
    std::vector<std::uint8_t> out;
    for (std::size_t word = 0; word < 8; ++word) {
        const std::uint32_t bits = reg(s, base + word * 0x10);
        for (unsigned bit = 0; bit < 32; ++bit) {
            if (((bits >> bit) & 1U) != 0) {
                out.push_back(static_cast<std::uint8_t>(word * 32 + bit));
            }
        }
    }
    return out;
}

std::string hex_list(const std::vector<std::uint8_t>& v)
{
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        out += fmt::format("{}{:#x}", i == 0 ? "" : " ", v[i]);
    }
    return out + "]";
}

std::string hex(std::uint64_t v)
{
    return fmt::format("{:#x}", v);
}

nlohmann::json hex_vectors(const std::vector<std::uint8_t>& v)
{
    nlohmann::json out = nlohmann::json::array();
    for (auto x : v) {
        out.push_back(hex(x));
    }
    return out;
}

std::string exit_site(const ExitSite& e)
{
    if (e.reason == KVM_EXIT_IO) {
        return fmt::format("port {} of {} bytes at {:#x}", e.write ? "write" : "read", e.size, e.address);
    }
    if (e.reason == KVM_EXIT_MMIO) {
        return fmt::format("mmio {} of {} bytes at {:#x}", e.write ? "write" : "read", e.size, e.address);
    }
    return exit_reason_name(e.reason);
}

std::string timer(const LapicSummary& l, const VcpuGuestState& g)
{
    const std::uint32_t lvt = l.lvt_timer;
    std::string out = fmt::format("timer {} vector {:#x}{}", lapic_timer_mode(lvt), lvt & 0xffU,
        (lvt & APIC_LVT_MASKED) != 0 ? " masked" : "");
    if (((lvt >> 17) & 3U) == 2) {
        if (g.tsc_deadline && *g.tsc_deadline == 0) {
            out += " disarmed";
        } else if (g.tsc_deadline && g.tsc) {
            const auto delta = static_cast<std::int64_t>(*g.tsc_deadline - *g.tsc);
            out += fmt::format(" deadline {} TSC ticks {}", delta < 0 ? -delta : delta, delta < 0 ? "ago" : "ahead");
        }
    } else {
        out += fmt::format(" count {}/{}", l.timer_current, l.timer_initial);
    }
    return out;
}

} // namespace

const char* phase_name(VcpuPhase phase) noexcept
{
    switch (phase) {
    case VcpuPhase::not_started:
        return "not-started";
    case VcpuPhase::in_guest:
        return "in-guest";
    case VcpuPhase::in_vmm:
        return "in-vmm";
    case VcpuPhase::paused:
        return "paused";
    case VcpuPhase::stopped:
        return "stopped";
    }
    return "unknown";
}

std::string exit_reason_name(std::uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_IO:
        return "io";
    case KVM_EXIT_MMIO:
        return "mmio";
    case KVM_EXIT_HLT:
        return "hlt";
    case KVM_EXIT_SHUTDOWN:
        return "shutdown";
    case KVM_EXIT_FAIL_ENTRY:
        return "fail-entry";
    case KVM_EXIT_INTR:
        return "intr";
    case KVM_EXIT_INTERNAL_ERROR:
        return "internal-error";
    case KVM_EXIT_SYSTEM_EVENT:
        return "system-event";
    default:
        return fmt::format("exit {}", reason);
    }
}

const char* lapic_timer_mode(std::uint32_t lvt_timer) noexcept
{
    switch ((lvt_timer >> 17) & 3U) {
    case 0:
        return "one-shot";
    case 1:
        return "periodic";
    case 2:
        return "tsc-deadline";
    default:
        return "reserved";
    }
}

const char* mp_state_name(std::uint32_t mp_state) noexcept
{
    switch (mp_state) {
    case KVM_MP_STATE_RUNNABLE:
        return "runnable";
    case KVM_MP_STATE_UNINITIALIZED:
        return "uninitialized";
    case KVM_MP_STATE_INIT_RECEIVED:
        return "init-received";
    case KVM_MP_STATE_HALTED:
        return "halted";
    case KVM_MP_STATE_SIPI_RECEIVED:
        return "sipi-received";
    default:
        return "other";
    }
}

LapicSummary summarize_lapic(const kvm_lapic_state& lapic) noexcept
{
    LapicSummary s;
    // Without KVM_CAP_X2APIC_API, KVM reports the ID in bits 31:24 in both APIC modes.
    s.id = reg(lapic, APIC_ID) >> 24;
    s.tpr = reg(lapic, APIC_TPR) & 0xffU;
    s.ppr = reg(lapic, APIC_PPR) & 0xffU;
    s.software_enabled = (reg(lapic, APIC_SVR) & APIC_SVR_ENABLE) != 0;
    s.irr = vectors(lapic, APIC_IRR);
    s.isr = vectors(lapic, APIC_ISR);
    s.lvt_timer = reg(lapic, APIC_LVT_TIMER);
    s.timer_initial = reg(lapic, APIC_TIMER_INITIAL);
    s.timer_current = reg(lapic, APIC_TIMER_CURRENT);
    s.icr_low = reg(lapic, APIC_ICR_LOW);
    s.icr_high = reg(lapic, APIC_ICR_HIGH);
    s.esr = reg(lapic, APIC_ESR);
    return s;
}

nlohmann::json to_json(const VcpuReport& r)
{
    nlohmann::json j {
        { "index", r.index },
        { "thread", phase_name(r.phase) },
        { "exits", r.exits },
    };
    if (r.seconds_since_exit) {
        j["seconds_since_exit"] = *r.seconds_since_exit;
    }
    if (r.last_exit) {
        j["last_exit"] = {
            { "reason", exit_reason_name(r.last_exit->reason) },
            { "address", hex(r.last_exit->address) },
            { "size", r.last_exit->size },
            { "write", r.last_exit->write },
        };
    }
    if (!r.note.empty()) {
        j["note"] = r.note;
    }
    if (!r.guest) {
        return j;
    }
    const VcpuGuestState& g = *r.guest;
    j["regs"] = {
        { "rip", hex(g.regs.rip) }, { "rsp", hex(g.regs.rsp) }, { "rflags", hex(g.regs.rflags) },
        { "rax", hex(g.regs.rax) }, { "rbx", hex(g.regs.rbx) }, { "rcx", hex(g.regs.rcx) },
        { "rdx", hex(g.regs.rdx) }, { "rsi", hex(g.regs.rsi) }, { "rdi", hex(g.regs.rdi) },
        { "rbp", hex(g.regs.rbp) },
    };
    j["interrupts_enabled"] = (g.regs.rflags & RFLAGS_IF) != 0;
    j["sregs"] = {
        { "cr0", hex(g.sregs.cr0) }, { "cr2", hex(g.sregs.cr2) }, { "cr3", hex(g.sregs.cr3) },
        { "cr4", hex(g.sregs.cr4) }, { "efer", hex(g.sregs.efer) }, { "cs", hex(g.sregs.cs.selector) },
        { "apic_base", hex(g.sregs.apic_base) },
    };
    j["mp_state"] = mp_state_name(g.mp_state);
    j["events"] = {
        { "exception", { { "injected", g.events.exception.injected }, { "pending", g.events.exception.pending },
                           { "nr", g.events.exception.nr } } },
        { "interrupt", { { "injected", g.events.interrupt.injected }, { "nr", g.events.interrupt.nr },
                           { "shadow", g.events.interrupt.shadow } } },
        { "nmi", { { "injected", g.events.nmi.injected }, { "pending", g.events.nmi.pending },
                     { "masked", g.events.nmi.masked } } },
    };
    const LapicSummary& l = g.lapic;
    j["lapic"] = {
        { "id", l.id },
        { "enabled", l.software_enabled },
        { "tpr", hex(l.tpr) },
        { "ppr", hex(l.ppr) },
        { "irr", hex_vectors(l.irr) },
        { "isr", hex_vectors(l.isr) },
        { "esr", hex(l.esr) },
        { "icr", hex((static_cast<std::uint64_t>(l.icr_high) << 32) | l.icr_low) },
        { "timer",
            { { "mode", lapic_timer_mode(l.lvt_timer) }, { "vector", hex(l.lvt_timer & 0xffU) },
                { "masked", (l.lvt_timer & APIC_LVT_MASKED) != 0 }, { "initial_count", l.timer_initial },
                { "current_count", l.timer_current } } },
    };
    if (g.tsc) {
        j["tsc"] = *g.tsc;
    }
    if (g.at_rdi) {
        j["at_rdi"] = hex(*g.at_rdi);
    }
    nlohmann::json stack = nlohmann::json::array();
    for (auto w : g.stack_text) {
        stack.push_back(hex(w));
    }
    j["stack_text"] = std::move(stack);
    if (g.tsc_deadline) {
        j["lapic"]["timer"]["tsc_deadline"] = *g.tsc_deadline;
    }
    if (!g.error.empty()) {
        j["error"] = g.error;
    }
    return j;
}

std::string describe(const VcpuReport& r)
{
    std::string out = fmt::format("vCPU {}: {}", r.index, phase_name(r.phase));
    if (r.seconds_since_exit) {
        out += fmt::format(" for {:.3f} s", *r.seconds_since_exit);
    }
    out += fmt::format(" after {} exits", r.exits);
    if (r.last_exit) {
        out += fmt::format(" (last: {})", exit_site(*r.last_exit));
    }
    if (!r.note.empty()) {
        out += fmt::format("; {}", r.note);
    }
    if (!r.guest) {
        return out;
    }
    const VcpuGuestState& g = *r.guest;
    const LapicSummary& l = g.lapic;
    out += fmt::format("; rip {:#x} rsp {:#x} rflags {:#x} (interrupts {}) cs {:#x} cr3 {:#x}; mp_state {}",
        g.regs.rip, g.regs.rsp, g.regs.rflags, (g.regs.rflags & RFLAGS_IF) != 0 ? "on" : "off",
        g.sregs.cs.selector, g.sregs.cr3, mp_state_name(g.mp_state));
    out += fmt::format("; rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x} rsi {:#x} rdi {:#x}", g.regs.rax, g.regs.rbx,
        g.regs.rcx, g.regs.rdx, g.regs.rsi, g.regs.rdi);
    if (g.at_rdi) {
        out += fmt::format(" [rdi] {:#x}", *g.at_rdi);
    }
    out += fmt::format("; lapic id {} {} tpr {:#x} ppr {:#x} irr {} isr {} {}", l.id,
        l.software_enabled ? "enabled" : "disabled", l.tpr, l.ppr, hex_list(l.irr), hex_list(l.isr), timer(l, g));
    out += fmt::format("; nmi pending {} injected {} masked {}; interrupt injected {} vector {:#x} shadow {}",
        g.events.nmi.pending, g.events.nmi.injected, g.events.nmi.masked, g.events.interrupt.injected,
        g.events.interrupt.nr, g.events.interrupt.shadow);
    if (!g.stack_text.empty()) {
        out += "; stack";
        for (auto w : g.stack_text) {
            out += fmt::format(" {:#x}", w);
        }
    }
    if (g.events.exception.injected != 0 || g.events.exception.pending != 0) {
        out += fmt::format("; exception {} {}", g.events.exception.nr,
            g.events.exception.injected != 0 ? "injected" : "pending");
    }
    if (!g.error.empty()) {
        out += fmt::format("; not read: {}", g.error);
    }
    return out;
}

} // namespace vmm
