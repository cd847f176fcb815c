// SPDX-License-Identifier: Apache-2.0
// bzImage loading through the 64-bit boot protocol (Linux Documentation/arch/x86/boot.rst).
#include "firmware/loader/bzimage.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <vector>

#include "arch/x86_64/layout.hpp"
#include "firmware/loader/placement.hpp"

namespace vmm::x86 {
namespace {

// A 2.12 header reaches at least past handover_offset (0x264..0x268); every field this loader
// reads lies before that.
constexpr std::uint64_t SETUP_HEADER_MIN_END = 0x268;
// heap_end_ptr is read only by the real-mode setup code, which the 64-bit entry skips; the
// conventional value for a 64 KiB setup segment (0x10000 - 0x200) is given all the same.
constexpr std::uint16_t HEAP_END_PTR = 0xfe00;

std::uint64_t setup_size(const SetupHeader& hdr)
{
    const std::uint64_t sects = hdr.setup_sects == 0 ? SETUP_SECTS_DEFAULT : hdr.setup_sects;
    return (sects + 1) * SETUP_SECTOR_SIZE; // the boot sector plus the setup sectors
}

} // namespace

Result<BzImage> parse_bzimage(const loader::ImageFile& file)
{
    // File-controlled from here on: every size and offset is checked against the file.
    std::array<std::byte, SETUP_HEADER_LIMIT> head {};
    const std::uint64_t head_len = std::min<std::uint64_t>(file.size(), head.size());
    VMM_TRY(file.read_at(0, std::span(head).first(head_len)));
    if (head_len < SETUP_HEADER_MAGIC_OFFSET + 4) {
        return fail(Errc::bad_format, "{} is not a bzImage: {} bytes is too short for a setup header", file.name(),
            file.size());
    }
    std::uint32_t magic = 0;
    std::memcpy(&magic, &head[SETUP_HEADER_MAGIC_OFFSET], sizeof(magic));
    if (magic != SETUP_HEADER_MAGIC) {
        return fail(Errc::bad_format, "{} is not a bzImage: no \"HdrS\" magic at offset {:#x}", file.name(),
            SETUP_HEADER_MAGIC_OFFSET);
    }

    // boot.rst: the header ends at 0x202 plus the byte at 0x201 (the short jump's offset).
    const std::uint64_t header_end = SETUP_HEADER_MAGIC_OFFSET + std::to_integer<std::uint64_t>(head[SETUP_JUMP_OFFSET + 1]);
    std::uint16_t version = 0;
    std::memcpy(&version, &head[SETUP_HEADER_MAGIC_OFFSET + 4], sizeof(version));
    if (version < BOOT_PROTOCOL_MIN) {
        return fail(Errc::unsupported, "{} uses boot protocol {}.{:02}; 2.12 or later (Linux 3.8+) is needed for 64-bit entry",
            file.name(), version >> 8, version & 0xff);
    }
    if (header_end < SETUP_HEADER_MIN_END) {
        return fail(Errc::bad_format, "{}: its setup header ends at {:#x}, before the fields protocol 2.12 defines",
            file.name(), header_end);
    }
    if (header_end > head_len) {
        return fail(Errc::bad_format, "{} is truncated: its setup header ends at {:#x}, the file has {} bytes",
            file.name(), header_end, file.size());
    }

    // Copy the header, and only the header, into a zeroed zero page.
    std::array<std::byte, sizeof(BootParams)> raw {};
    const std::uint64_t copy_end = std::min(header_end, SETUP_HEADER_LIMIT);
    std::copy(head.begin() + SETUP_HEADER_OFFSET, head.begin() + static_cast<std::ptrdiff_t>(copy_end),
        raw.begin() + SETUP_HEADER_OFFSET);
    BzImage image;
    image.params = std::bit_cast<BootParams>(raw);
    const SetupHeader& hdr = image.params.hdr;

    if ((hdr.xloadflags & XLF_KERNEL_64) == 0) {
        return fail(Errc::unsupported, "{} has no 64-bit entry point (XLF_KERNEL_64 is clear): is it a 32-bit kernel?",
            file.name());
    }
    const std::uint64_t setup = setup_size(hdr);
    if (setup < header_end) {
        return fail(Errc::bad_format, "{}: its setup code ({} bytes) is shorter than its own header", file.name(), setup);
    }
    if (file.size() <= setup) {
        return fail(Errc::bad_format, "{} is truncated: the setup code takes {} bytes and the file ends at {}, "
                                      "leaving no protected-mode kernel",
            file.name(), setup, file.size());
    }
    image.kernel_offset = setup;
    image.kernel_size = file.size() - setup;
    // syssize is in 16-byte paragraphs; a u32 times 16 fits in u64.
    const std::uint64_t declared = std::uint64_t { hdr.syssize } * 16;
    if (declared == 0 || declared > image.kernel_size) {
        return fail(Errc::bad_format, "{} is truncated: its header declares a {}-byte protected-mode kernel, the file holds {}",
            file.name(), declared, image.kernel_size);
    }
    // Fields of the packed header are copied out before anything takes a reference to them.
    const std::uint32_t alignment = hdr.kernel_alignment;
    if (hdr.relocatable_kernel != 0 && !std::has_single_bit(alignment)) {
        return fail(Errc::bad_format, "{}: kernel_alignment {:#x} is not a power of two", file.name(), alignment);
    }
    return image;
}

Result<KernelImage> place_bzimage(const GuestMemory& mem, const BzImage& image, const loader::ImageFile& file)
{
    const SetupHeader& hdr = image.params.hdr;
    std::uint64_t load = 0;
    if (hdr.relocatable_kernel != 0) {
        // boot.rst: a relocatable kernel may go anywhere aligned to kernel_alignment.
        // Invariant: kernel_alignment is a power of two <= 2^31, so this cannot overflow.
        const std::uint64_t align = hdr.kernel_alignment;
        load = (KERNEL_LOAD_ADDR + align - 1) & ~(align - 1);
    } else {
        load = hdr.pref_address;
        if (load < HIGH_MEMORY_START) {
            return fail(Errc::unsupported, "{} is not relocatable and wants to load at {:#x}, below 1 MiB", file.name(), load);
        }
    }
    // init_size is what the kernel needs from its load address while it decompresses and
    // starts; the raw image can in principle be larger.
    const std::uint64_t init_size = hdr.init_size;
    const std::uint64_t footprint = std::max(init_size, image.kernel_size);
    std::uint64_t end = 0;
    if (__builtin_add_overflow(load, footprint, &end) || end > MEM_32BIT_HOLE_START || !mem.contains(GuestAddress { load }, footprint)) {
        return fail(Errc::out_of_range, "{} needs {} MiB of RAM from {:#x} (its init_size) but guest RAM below {:#x} is smaller; "
                                        "give the VM more memory",
            file.name(), (footprint + (1 << 20) - 1) >> 20, load, MEM_32BIT_HOLE_START);
    }

    KernelImage k;
    k.protocol = BootInfo::Protocol::linux64;
    k.load_start = load;
    k.load_end = end;
    k.entry = load + ENTRY_64_OFFSET;
    // boot.rst: initrd_addr_max is the highest address the initrd may occupy (inclusive).
    k.initrd_limit = std::uint64_t { hdr.initrd_addr_max } + 1;
    k.cmdline_limit = hdr.cmdline_size;
    return k;
}

Result<BootInfo> load_bzimage(const GuestMemory& mem, const loader::ImageFile& file, const BootRequest& req)
{
    auto image = VMM_TRY(parse_bzimage(file));
    const auto kernel = VMM_TRY(place_bzimage(mem, image, file));
    if (req.memory_map.size() > E820_MAX_ENTRIES_ZEROPAGE) {
        return fail(Errc::out_of_range, "the memory map has {} entries; the zero page holds at most {}",
            req.memory_map.size(), E820_MAX_ENTRIES_ZEROPAGE);
    }
    VMM_TRY(write_cmdline(mem, req.cmdline, kernel));
    VMM_TRY(file.read_into(mem, GuestAddress { kernel.load_start }, image.kernel_offset, image.kernel_size));

    BootParams& bp = image.params;
    if (req.initrd) {
        const auto initrd = VMM_TRY(load_initrd(mem, *req.initrd, kernel));
        // Invariant: the initrd lies below the 32-bit hole, so both values fit in 32 bits.
        bp.hdr.ramdisk_image = static_cast<std::uint32_t>(initrd.addr);
        bp.hdr.ramdisk_size = static_cast<std::uint32_t>(initrd.size);
    }
    bp.hdr.type_of_loader = TYPE_OF_LOADER_UNDEFINED;
    // LOADED_HIGH: the protected-mode code is at 1 MiB or above. CAN_USE_HEAP: heap_end_ptr is
    // valid. KEEP_SEGMENTS stays clear: boot.rst marks it obsolete, and it only ever concerned
    // the 32-bit entry.
    bp.hdr.loadflags = static_cast<std::uint8_t>(bp.hdr.loadflags | LOADED_HIGH | CAN_USE_HEAP);
    bp.hdr.heap_end_ptr = HEAP_END_PTR;
    bp.hdr.cmd_line_ptr = static_cast<std::uint32_t>(CMDLINE_START);
    bp.acpi_rsdp_addr = req.rsdp_addr;
    bp.e820_entries = static_cast<std::uint8_t>(req.memory_map.size());
    for (std::size_t i = 0; i < req.memory_map.size(); ++i) {
        const auto& e = req.memory_map[i];
        bp.e820_table[i] = BootE820Entry { e.addr, e.size, e.type };
    }
    VMM_TRY(mem.write_obj(GuestAddress { ZERO_PAGE_START }, bp));
    return BootInfo { BootInfo::Protocol::linux64, kernel.entry, ZERO_PAGE_START };
}

} // namespace vmm::x86
