// SPDX-License-Identifier: Apache-2.0
// Per-vCPU CPUID: KVM's supported set, filtered to describe this VM's topology.
#pragma once

#include <cstdint>

#include "vmm/kvm/kvm.hpp"

namespace vmm::x86 {

struct CpuidTopology {
    std::uint32_t cpu_index = 0; // also the initial (x2)APIC ID
    std::uint32_t cpu_count = 1;
    bool tsc_deadline = false; // KVM_CAP_TSC_DEADLINE_TIMER
};

// Rewrites `cpuid` (a copy of KVM_GET_SUPPORTED_CPUID) for one vCPU: APIC IDs, a flat
// topology of `cpu_count` single-thread cores in one package, the hypervisor bit, the
// TSC-deadline timer (saves Linux about 100 ms of APIC timer calibration) and no
// performance-monitoring leaf (the VMM does not virtualise a PMU).
void filter_cpuid(kvm::CpuidList& cpuid, const CpuidTopology& topo) noexcept;

} // namespace vmm::x86
