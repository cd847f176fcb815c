// SPDX-License-Identifier: Apache-2.0
// bzImage: setup header checks and the 64-bit boot protocol (Linux Documentation/arch/x86/boot.rst).
#pragma once

#include <cstdint>

#include "arch/x86_64/boot_params.hpp"
#include "firmware/loader/image_file.hpp"
#include "firmware/loader/kernel.hpp"
#include "vmm/base/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

// A checked bzImage header. params is a clean zero page holding only the kernel's own setup
// header, as boot.rst asks a loader to start from.
struct BzImage {
    BootParams params {};
    std::uint64_t kernel_offset = 0; // file offset of the protected-mode kernel
    std::uint64_t kernel_size = 0;   // its size: the rest of the file
};

// Reads and checks the setup header: magic, protocol >= 2.12, XLF_KERNEL_64, setup and
// protected-mode sizes against the file, alignment.
[[nodiscard]] Result<BzImage> parse_bzimage(const loader::ImageFile& file);

// Chooses the load address (KERNEL_LOAD_ADDR aligned to kernel_alignment, or pref_address for a
// non-relocatable kernel) and checks that the init_size footprint lies in RAM below the hole.
[[nodiscard]] Result<KernelImage> place_bzimage(const GuestMemory& mem, const BzImage& image, const loader::ImageFile& file);

// The whole bzImage boot: kernel, initrd, command line and zero page.
[[nodiscard]] Result<BootInfo> load_bzimage(const GuestMemory& mem, const loader::ImageFile& file, const BootRequest& req);

} // namespace vmm::x86
