// SPDX-License-Identifier: Apache-2.0
// Where the initrd and the command line go, shared by the bzImage and PVH loaders.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include "firmware/loader/kernel.hpp"
#include "vmm/base/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

inline constexpr std::uint64_t INITRD_ALIGN = 0x1000;

struct LoadedInitrd {
    std::uint64_t addr = 0;
    std::uint64_t size = 0;
};

// The highest INITRD_ALIGN-aligned address at which `size` bytes fit inside one RAM region,
// at or above `floor` and ending at or below `ceiling` (exclusive); nullopt when none does.
[[nodiscard]] std::optional<std::uint64_t> place_initrd(const GuestMemory& mem, std::uint64_t size,
    std::uint64_t floor, std::uint64_t ceiling) noexcept;

// Reads the initrd into guest RAM above the kernel's footprint and below kernel.initrd_limit
// and the 32-bit hole.
[[nodiscard]] Result<LoadedInitrd> load_initrd(const GuestMemory& mem, const std::filesystem::path& path,
    const KernelImage& kernel);

// Checks the command line against the kernel's limit and CMDLINE_MAX_SIZE, then writes it with
// its NUL at CMDLINE_START.
[[nodiscard]] Result<> write_cmdline(const GuestMemory& mem, std::string_view cmdline, const KernelImage& kernel);

} // namespace vmm::x86
