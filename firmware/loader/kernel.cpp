// SPDX-License-Identifier: Apache-2.0
// load_kernel(): tells a bzImage from an ELF vmlinux by content and hands it to its loader.
#include "firmware/loader/kernel.hpp"

#include <elf.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "arch/x86_64/boot_params.hpp"
#include "firmware/loader/bzimage.hpp"
#include "firmware/loader/elf_pvh.hpp"
#include "firmware/loader/image_file.hpp"

namespace vmm::x86 {

Result<BootInfo> load_kernel(const GuestMemory& mem, const BootRequest& req)
{
    const auto file = VMM_TRY(loader::ImageFile::open(req.kernel));

    std::array<std::byte, SETUP_HEADER_MAGIC_OFFSET + 4> head {};
    const std::uint64_t head_len = std::min<std::uint64_t>(file.size(), head.size());
    VMM_TRY(file.read_at(0, std::span(head).first(head_len)));

    if (head_len >= SELFMAG && std::memcmp(head.data(), ELFMAG, SELFMAG) == 0) {
        return load_pvh_elf(mem, file, req);
    }
    std::uint32_t magic = 0;
    if (head_len == head.size()) {
        std::memcpy(&magic, &head[SETUP_HEADER_MAGIC_OFFSET], sizeof(magic));
    }
    if (magic == SETUP_HEADER_MAGIC) {
        return load_bzimage(mem, file, req);
    }
    return fail(Errc::bad_format,
        "{} is not a Linux kernel: it is neither an ELF vmlinux nor a bzImage (no \"HdrS\" magic at offset {:#x}); "
        "pass arch/x86/boot/bzImage or vmlinux",
        file.name(), SETUP_HEADER_MAGIC_OFFSET);
}

} // namespace vmm::x86
