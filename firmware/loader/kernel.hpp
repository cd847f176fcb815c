// SPDX-License-Identifier: Apache-2.0
// Linux kernel loading for x86_64: a bzImage via the 64-bit boot protocol, an ELF vmlinux via PVH.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "arch/x86_64/boot_cpu.hpp"
#include "arch/x86_64/e820.hpp"
#include "vmm/base/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

struct BootRequest {
    std::filesystem::path kernel;                // bzImage, or ELF vmlinux with a PVH entry note
    std::optional<std::filesystem::path> initrd;
    std::string cmdline;
    std::vector<E820Entry> memory_map;           // from build_e820()
    std::uint64_t rsdp_addr = 0;                 // ACPI RSDP; 0: the kernel scans for it
};

// What a format loader put in guest memory, and the limits the rest of the boot data must keep.
struct KernelImage {
    BootInfo::Protocol protocol = BootInfo::Protocol::linux64;
    std::uint64_t load_start = 0;    // lowest guest address the kernel occupies
    std::uint64_t load_end = 0;      // exclusive; for a bzImage this covers init_size
    std::uint64_t entry = 0;
    std::uint64_t initrd_limit = 0;  // exclusive end the initrd must stay below
    std::uint64_t cmdline_limit = 0; // longest command line, without its NUL
};

// Loads the kernel named by req.kernel (format detected from its contents), the initrd, the
// command line and the zero page or PVH start info. Errors name the file and what is wrong.
[[nodiscard]] Result<BootInfo> load_kernel(const GuestMemory& mem, const BootRequest& req);

} // namespace vmm::x86
