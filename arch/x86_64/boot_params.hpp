// SPDX-License-Identifier: Apache-2.0
// The Linux x86 zero page (struct boot_params) and its setup header, as the kernel lays them out.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

// The boot protocol is little-endian and the structs hold host integers.
static_assert(std::endian::native == std::endian::little);

// Linux Documentation/arch/x86/boot.rst, "The real-mode kernel header".
inline constexpr std::uint64_t SETUP_HEADER_OFFSET = 0x1f1;   // the header starts at setup_sects
inline constexpr std::uint64_t SETUP_JUMP_OFFSET = 0x200;     // "jump": EB xx, xx = header end - 0x202
inline constexpr std::uint64_t SETUP_HEADER_MAGIC_OFFSET = 0x202;
inline constexpr std::uint32_t SETUP_HEADER_MAGIC = 0x5372'6448; // "HdrS"
inline constexpr std::uint64_t SETUP_SECTOR_SIZE = 512;
inline constexpr std::uint8_t SETUP_SECTS_DEFAULT = 4;        // "if this field is 0, the real value is 4"
inline constexpr std::uint16_t BOOT_PROTOCOL_MIN = 0x020c;    // 2.12: xloadflags, 64-bit entry flag
inline constexpr std::uint64_t ENTRY_64_OFFSET = 0x200;       // 64-bit entry: load address + 0x200

// loadflags (boot.rst, offset 0x211).
inline constexpr std::uint8_t LOADED_HIGH = 0x01;
inline constexpr std::uint8_t CAN_USE_HEAP = 0x80;

// xloadflags (boot.rst, offset 0x236).
inline constexpr std::uint16_t XLF_KERNEL_64 = 0x0001;
inline constexpr std::uint16_t XLF_CAN_BE_LOADED_ABOVE_4G = 0x0002;

inline constexpr std::uint8_t TYPE_OF_LOADER_UNDEFINED = 0xff;
inline constexpr std::size_t E820_MAX_ENTRIES_ZEROPAGE = 128;

#pragma pack(push, 1)

// boot.rst "The real-mode kernel header": offsets are from the start of the image (and of
// boot_params), as in the document.
struct SetupHeader {
    std::uint8_t setup_sects;            // 0x1f1
    std::uint16_t root_flags;            // 0x1f2
    std::uint32_t syssize;               // 0x1f4 protected-mode size in 16-byte units
    std::uint16_t ram_size;              // 0x1f8
    std::uint16_t vid_mode;              // 0x1fa
    std::uint16_t root_dev;              // 0x1fc
    std::uint16_t boot_flag;             // 0x1fe 0xaa55
    std::uint16_t jump;                  // 0x200
    std::uint32_t header;                // 0x202 "HdrS"
    std::uint16_t version;               // 0x206
    std::uint32_t realmode_swtch;        // 0x208
    std::uint16_t start_sys_seg;         // 0x20c
    std::uint16_t kernel_version;        // 0x20e
    std::uint8_t type_of_loader;         // 0x210
    std::uint8_t loadflags;              // 0x211
    std::uint16_t setup_move_size;       // 0x212
    std::uint32_t code32_start;          // 0x214
    std::uint32_t ramdisk_image;         // 0x218
    std::uint32_t ramdisk_size;          // 0x21c
    std::uint32_t bootsect_kludge;       // 0x220
    std::uint16_t heap_end_ptr;          // 0x224
    std::uint8_t ext_loader_ver;         // 0x226
    std::uint8_t ext_loader_type;        // 0x227
    std::uint32_t cmd_line_ptr;          // 0x228
    std::uint32_t initrd_addr_max;       // 0x22c highest address the initrd may occupy
    std::uint32_t kernel_alignment;      // 0x230
    std::uint8_t relocatable_kernel;     // 0x234
    std::uint8_t min_alignment;          // 0x235
    std::uint16_t xloadflags;            // 0x236
    std::uint32_t cmdline_size;          // 0x238 without the terminating NUL
    std::uint32_t hardware_subarch;      // 0x23c
    std::uint64_t hardware_subarch_data; // 0x240
    std::uint32_t payload_offset;        // 0x248
    std::uint32_t payload_length;        // 0x24c
    std::uint64_t setup_data;            // 0x250
    std::uint64_t pref_address;          // 0x258
    std::uint32_t init_size;             // 0x260 memory the kernel needs from its load address
    std::uint32_t handover_offset;       // 0x264
    std::uint32_t kernel_info_offset;    // 0x268
};
static_assert(sizeof(SetupHeader) == 0x26c - SETUP_HEADER_OFFSET && WireType<SetupHeader>);

// arch/x86/include/uapi/asm/bootparam.h, struct boot_e820_entry.
struct BootE820Entry {
    std::uint64_t addr;
    std::uint64_t size;
    std::uint32_t type;
};
static_assert(sizeof(BootE820Entry) == 20 && WireType<BootE820Entry>);

// The zero page. Only the fields a loader fills are named; the rest are opaque bytes that
// stay zero ("a clean boot_params buffer", boot.rst).
struct BootParams {
    std::array<std::uint8_t, 0x70> pad0;                 // 0x000 screen_info, apm, tboot, ist
    std::uint64_t acpi_rsdp_addr;                        // 0x070
    std::array<std::uint8_t, 0x48> pad1;                 // 0x078
    std::uint32_t ext_ramdisk_image;                     // 0x0c0
    std::uint32_t ext_ramdisk_size;                      // 0x0c4
    std::uint32_t ext_cmd_line_ptr;                      // 0x0c8
    std::array<std::uint8_t, 0x1e8 - 0xcc> pad2;         // 0x0cc
    std::uint8_t e820_entries;                           // 0x1e8
    std::array<std::uint8_t, 0x1f1 - 0x1e9> pad3;        // 0x1e9 .. sentinel
    SetupHeader hdr;                                     // 0x1f1
    std::array<std::uint8_t, 0x2d0 - 0x26c> pad4;        // 0x26c
    std::array<BootE820Entry, E820_MAX_ENTRIES_ZEROPAGE> e820_table; // 0x2d0
    std::array<std::uint8_t, 0x1000 - 0xcd0> pad5;       // 0xcd0 .. end
};
static_assert(sizeof(BootParams) == 4096 && WireType<BootParams>);
static_assert(offsetof(BootParams, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(BootParams, e820_entries) == 0x1e8);
static_assert(offsetof(BootParams, hdr) == SETUP_HEADER_OFFSET);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, header) == SETUP_HEADER_MAGIC_OFFSET);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, type_of_loader) == 0x210);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, heap_end_ptr) == 0x224);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, cmd_line_ptr) == 0x228);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, xloadflags) == 0x236);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, pref_address) == 0x258);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, init_size) == 0x260);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);

#pragma pack(pop)

// Where the setup header region of a boot_params ends, at most: the kernel's header may be
// longer than SetupHeader, but never past edd_mbr_sig_buffer at 0x290.
inline constexpr std::uint64_t SETUP_HEADER_LIMIT = 0x290;

} // namespace vmm::x86
