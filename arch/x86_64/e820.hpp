// SPDX-License-Identifier: Apache-2.0
// The guest's e820 memory map, derived from the RAM regions and the fixed layout.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

// ACPI 6.4 §15 (INT 15H E820H address range types); Linux uses the same numbers.
inline constexpr std::uint32_t E820_RAM = 1;
inline constexpr std::uint32_t E820_RESERVED = 2;
inline constexpr std::uint32_t E820_ACPI = 3;

struct E820Entry {
    std::uint64_t addr = 0;
    std::uint64_t size = 0;
    std::uint32_t type = 0;

    bool operator==(const E820Entry&) const = default;
};

// Usable RAM from 0 to EBDA_START, reserved from EBDA_START to 1 MiB (the EBDA, the ACPI tables
// at ACPI_START and the BIOS area), RAM from 1 MiB up to the 32-bit hole and RAM above 4 GiB.
// RAM inside the hole is left out. `reserved` adds device ranges the OS must leave alone (the
// PCIe ECAM), which must not overlap RAM. Sorted by address, non-overlapping, adjacent
// entries of one type merged.
[[nodiscard]] std::vector<E820Entry> build_e820(const GuestMemory& mem, std::span<const E820Entry> reserved = {});

} // namespace vmm::x86
