// SPDX-License-Identifier: Apache-2.0
// Where guest RAM goes: below the 32-bit device hole first, the rest above 4 GiB.
#pragma once

#include <cstdint>
#include <vector>

#include "arch/x86_64/layout.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

[[nodiscard]] inline std::vector<MemoryRegionSpec> ram_layout(std::uint64_t ram_size)
{
    std::vector<MemoryRegionSpec> regions;
    const std::uint64_t low = ram_size < MEM_32BIT_HOLE_START ? ram_size : MEM_32BIT_HOLE_START;
    regions.push_back({ GuestAddress { 0 }, low });
    if (ram_size > low) {
        regions.push_back({ GuestAddress { RAM_64BIT_START }, ram_size - low });
    }
    return regions;
}

// KVM needs three pages for the real-mode TSS and one for the identity map on Intel; both sit
// in the hole just below the BIOS area at the top of 4 GiB, away from every device.
inline constexpr std::uint64_t KVM_IDENTITY_MAP_ADDR = 0xfffb'c000;
inline constexpr std::uint64_t KVM_TSS_ADDR = 0xfffb'd000;
static_assert(KVM_IDENTITY_MAP_ADDR > APIC_START + MSI_SIZE);

} // namespace vmm::x86
