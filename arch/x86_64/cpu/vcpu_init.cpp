// SPDX-License-Identifier: Apache-2.0
// vCPU power-on state.
#include "arch/x86_64/cpu/vcpu_init.hpp"

#include <array>
#include <cstring>

namespace vmm::x86 {
namespace {

constexpr std::uint32_t MSR_IA32_SYSENTER_CS = 0x174;
constexpr std::uint32_t MSR_IA32_SYSENTER_ESP = 0x175;
constexpr std::uint32_t MSR_IA32_SYSENTER_EIP = 0x176;
constexpr std::uint32_t MSR_IA32_TSC = 0x10;
constexpr std::uint32_t MSR_IA32_MISC_ENABLE = 0x1a0;
constexpr std::uint32_t MSR_MTRR_DEF_TYPE = 0x2ff;
constexpr std::uint32_t MSR_STAR = 0xc0000081;
constexpr std::uint32_t MSR_LSTAR = 0xc0000082;
constexpr std::uint32_t MSR_CSTAR = 0xc0000083;
constexpr std::uint32_t MSR_SYSCALL_MASK = 0xc0000084;
constexpr std::uint32_t MSR_KERNEL_GS_BASE = 0xc0000102;

constexpr std::uint64_t MISC_ENABLE_FAST_STRING = 1;
// MTRRs enabled, default type write-back: without it Linux maps all RAM uncached.
constexpr std::uint64_t MTRR_ENABLE_WB = (1U << 11) | 6U;

// Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3A §10.5.1).
constexpr std::size_t APIC_LVT0 = 0x350;
constexpr std::size_t APIC_LVT1 = 0x360;
constexpr std::uint32_t APIC_MODE_NMI = 0x4;
constexpr std::uint32_t APIC_MODE_EXTINT = 0x7;

std::uint32_t get_reg(const kvm_lapic_state& s, std::size_t off)
{
    std::uint32_t v = 0;
    std::memcpy(&v, s.regs + off, sizeof(v));
    return v;
}

void set_reg(kvm_lapic_state& s, std::size_t off, std::uint32_t v)
{
    std::memcpy(s.regs + off, &v, sizeof(v));
}

std::uint32_t with_delivery_mode(std::uint32_t reg, std::uint32_t mode)
{
    return (reg & ~0x700U) | (mode << 8);
}

} // namespace

Result<> init_vcpu(const kvm::VcpuFd& vcpu, const kvm::CpuidList& supported, const CpuidTopology& topo)
{
    kvm::CpuidList cpuid = supported;
    filter_cpuid(cpuid, topo);
    VMM_TRY(vcpu.set_cpuid(cpuid));

    const std::array<kvm_msr_entry, 11> msrs { {
        { MSR_IA32_SYSENTER_CS, 0, 0 },
        { MSR_IA32_SYSENTER_ESP, 0, 0 },
        { MSR_IA32_SYSENTER_EIP, 0, 0 },
        { MSR_STAR, 0, 0 },
        { MSR_CSTAR, 0, 0 },
        { MSR_KERNEL_GS_BASE, 0, 0 },
        { MSR_SYSCALL_MASK, 0, 0 },
        { MSR_LSTAR, 0, 0 },
        { MSR_IA32_TSC, 0, 0 },
        { MSR_IA32_MISC_ENABLE, 0, MISC_ENABLE_FAST_STRING },
        { MSR_MTRR_DEF_TYPE, 0, MTRR_ENABLE_WB },
    } };
    VMM_TRY(vcpu.set_msrs(msrs));

    kvm_fpu fpu {};
    fpu.fcw = 0x37f;     // x87 default control word (FNINIT)
    fpu.mxcsr = 0x1f80;  // SSE default: all exceptions masked
    VMM_TRY(vcpu.set_fpu(fpu));

    auto lapic = VMM_TRY(vcpu.get_lapic());
    set_reg(lapic, APIC_LVT0, with_delivery_mode(get_reg(lapic, APIC_LVT0), APIC_MODE_EXTINT));
    set_reg(lapic, APIC_LVT1, with_delivery_mode(get_reg(lapic, APIC_LVT1), APIC_MODE_NMI));
    VMM_TRY(vcpu.set_lapic(lapic));
    return {};
}

} // namespace vmm::x86
