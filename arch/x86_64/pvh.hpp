// SPDX-License-Identifier: Apache-2.0
// PVH boot: the hvm_start_info block handed to a kernel entered at its PVH entry point.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "arch/x86_64/e820.hpp"
#include "vmm/base/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

// Xen include/public/arch-x86/hvm/start_info.h.
inline constexpr std::uint32_t HVM_START_MAGIC_VALUE = 0x336e'c578;
inline constexpr std::uint32_t HVM_START_INFO_VERSION = 1; // version 1 adds the memory map

struct HvmStartInfo {
    std::uint32_t magic;          // 0
    std::uint32_t version;        // 4
    std::uint32_t flags;          // 8
    std::uint32_t nr_modules;     // 12
    std::uint64_t modlist_paddr;  // 16
    std::uint64_t cmdline_paddr;  // 24
    std::uint64_t rsdp_paddr;     // 32
    std::uint64_t memmap_paddr;   // 40
    std::uint32_t memmap_entries; // 48
    std::uint32_t reserved;       // 52
};
static_assert(sizeof(HvmStartInfo) == 56 && WireType<HvmStartInfo>);

struct HvmModlistEntry {
    std::uint64_t paddr;
    std::uint64_t size;
    std::uint64_t cmdline_paddr;
    std::uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32 && WireType<HvmModlistEntry>);

// The types are the e820 ones (XEN_HVM_MEMMAP_TYPE_RAM = 1, ...).
struct HvmMemmapTableEntry {
    std::uint64_t addr;
    std::uint64_t size;
    std::uint32_t type;
    std::uint32_t reserved;
};
static_assert(sizeof(HvmMemmapTableEntry) == 24 && WireType<HvmMemmapTableEntry>);

struct PvhModule {
    std::uint64_t paddr = 0;
    std::uint64_t size = 0;
};

struct PvhStartSpec {
    std::uint64_t cmdline_paddr = 0;       // 0: none
    std::optional<PvhModule> initrd;       // becomes the one module
    std::span<const E820Entry> memory_map; // at most PVH_MEMMAP_MAX_ENTRIES
    std::uint64_t rsdp_paddr = 0;
};

// Writes hvm_start_info at PVH_INFO_START, the memory map at PVH_MEMMAP_START and the module
// list at PVH_MODLIST_START; returns the address of hvm_start_info (the kernel's %ebx).
[[nodiscard]] Result<std::uint64_t> write_pvh_start_info(const GuestMemory& mem, const PvhStartSpec& spec);

} // namespace vmm::x86
