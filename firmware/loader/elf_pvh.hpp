// SPDX-License-Identifier: Apache-2.0
// ELF vmlinux loading for PVH boot: PT_LOAD segments at their physical addresses, entry from the note.
#pragma once

#include <elf.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "firmware/loader/image_file.hpp"
#include "firmware/loader/kernel.hpp"
#include "vmm/base/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

// Xen include/public/elfnote.h: the 32-bit physical PVH entry point, in a note named "Xen".
inline constexpr std::uint32_t XEN_ELFNOTE_PHYS32_ENTRY = 18;
// More program headers than this is not a kernel (vmlinux has about five).
inline constexpr std::uint16_t ELF_MAX_PHDRS = 64;
// PT_NOTE segments larger than this are not read.
inline constexpr std::uint64_t ELF_MAX_NOTES_SIZE = 1 << 20;

// A checked ELF64 x86-64 executable: its program headers, each within the file.
struct ElfKernel {
    std::vector<Elf64_Phdr> phdrs;
};

[[nodiscard]] Result<ElfKernel> parse_elf_kernel(const loader::ImageFile& file);

// The PVH entry from the PT_NOTE segments; nullopt when no such note exists.
[[nodiscard]] Result<std::optional<std::uint64_t>> find_pvh_entry(const loader::ImageFile& file, const ElfKernel& elf);

// Checks every PT_LOAD segment (filesz <= memsz, inside the file, inside RAM at or above 1 MiB),
// then loads them, zero-filling each up to memsz. The entry must lie in a loaded segment.
[[nodiscard]] Result<KernelImage> load_elf_segments(const GuestMemory& mem, const loader::ImageFile& file,
    const ElfKernel& elf, std::uint64_t entry);

// The whole PVH boot: segments, initrd, command line and start info.
[[nodiscard]] Result<BootInfo> load_pvh_elf(const GuestMemory& mem, const loader::ImageFile& file, const BootRequest& req);

} // namespace vmm::x86
