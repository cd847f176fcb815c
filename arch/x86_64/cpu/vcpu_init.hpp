// SPDX-License-Identifier: Apache-2.0
// Architectural vCPU state at power-on: CPUID, MSRs, FPU and local APIC.
#pragma once

#include "arch/x86_64/cpu/cpuid.hpp"
#include "vmm/base/result.hpp"
#include "vmm/kvm/kvm.hpp"

namespace vmm::x86 {

// Applies the filtered CPUID, the boot MSRs, a reset FPU and the local APIC LINT pins wired
// as on a PC (LINT0 ExtINT from the PIC, LINT1 NMI). Registers of the boot CPU are set by the
// kernel loader; application processors wait for INIT/SIPI in the in-kernel APIC.
[[nodiscard]] Result<> init_vcpu(const kvm::VcpuFd& vcpu, const kvm::CpuidList& supported, const CpuidTopology& topo);

} // namespace vmm::x86
