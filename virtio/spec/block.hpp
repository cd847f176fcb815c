// SPDX-License-Identifier: Apache-2.0
// virtio-blk wire format: feature bits, configuration layout, requests (virtio 1.2 §5.2).
#pragma once

#include <cstddef>
#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// virtio 1.2 §5.2.3 "Feature bits" (bit numbers).
inline constexpr unsigned VIRTIO_BLK_F_SIZE_MAX = 1;
inline constexpr unsigned VIRTIO_BLK_F_SEG_MAX = 2;
inline constexpr unsigned VIRTIO_BLK_F_GEOMETRY = 4;
inline constexpr unsigned VIRTIO_BLK_F_RO = 5;
inline constexpr unsigned VIRTIO_BLK_F_BLK_SIZE = 6;
inline constexpr unsigned VIRTIO_BLK_F_FLUSH = 9;
inline constexpr unsigned VIRTIO_BLK_F_TOPOLOGY = 10;
inline constexpr unsigned VIRTIO_BLK_F_CONFIG_WCE = 11;
inline constexpr unsigned VIRTIO_BLK_F_MQ = 12;
inline constexpr unsigned VIRTIO_BLK_F_DISCARD = 13;
inline constexpr unsigned VIRTIO_BLK_F_WRITE_ZEROES = 14;
inline constexpr unsigned VIRTIO_BLK_F_LIFETIME = 15;
inline constexpr unsigned VIRTIO_BLK_F_SECURE_ERASE = 16;

// §5.2.6 request types.
inline constexpr std::uint32_t VIRTIO_BLK_T_IN = 0;
inline constexpr std::uint32_t VIRTIO_BLK_T_OUT = 1;
inline constexpr std::uint32_t VIRTIO_BLK_T_FLUSH = 4;
inline constexpr std::uint32_t VIRTIO_BLK_T_GET_ID = 8;
inline constexpr std::uint32_t VIRTIO_BLK_T_GET_LIFETIME = 10;
inline constexpr std::uint32_t VIRTIO_BLK_T_DISCARD = 11;
inline constexpr std::uint32_t VIRTIO_BLK_T_WRITE_ZEROES = 13;
inline constexpr std::uint32_t VIRTIO_BLK_T_SECURE_ERASE = 14;

// §5.2.6 status byte values.
inline constexpr std::uint8_t VIRTIO_BLK_S_OK = 0;
inline constexpr std::uint8_t VIRTIO_BLK_S_IOERR = 1;
inline constexpr std::uint8_t VIRTIO_BLK_S_UNSUPP = 2;

// §5.2.6: sectors are always 512 bytes, whatever blk_size says.
inline constexpr std::uint64_t VIRTIO_BLK_SECTOR_SIZE = 512;
inline constexpr unsigned VIRTIO_BLK_SECTOR_SHIFT = 9;
// §5.2.6 GET_ID: a NUL-padded ASCII string of up to 20 bytes.
inline constexpr std::size_t VIRTIO_BLK_ID_BYTES = 20;

// §5.2.6 discard / write zeroes / secure erase segment flags.
inline constexpr std::uint32_t VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;

// §5.2.6 GET_LIFETIME values.
inline constexpr std::uint16_t VIRTIO_BLK_PRE_EOL_INFO_UNDEFINED = 0;
inline constexpr std::uint16_t VIRTIO_BLK_PRE_EOL_INFO_NORMAL = 1;
inline constexpr std::uint16_t VIRTIO_BLK_PRE_EOL_INFO_WARNING = 2;
inline constexpr std::uint16_t VIRTIO_BLK_PRE_EOL_INFO_URGENT = 3;
// device_lifetime_est_typ_a/b: 0 undefined, 1..10 used in 10 % steps, 11 exceeded; above is reserved.
inline constexpr std::uint16_t VIRTIO_BLK_LIFETIME_EST_MAX = 11;

// §5.2.4 "Device configuration layout" (1.2: 0x48 bytes; the 1.3 zoned fields are not offered).
struct VirtioBlkGeometry {
    le16 cylinders;
    std::uint8_t heads;
    std::uint8_t sectors;
};
static_assert(sizeof(VirtioBlkGeometry) == 4 && WireType<VirtioBlkGeometry>);

struct VirtioBlkTopology {
    std::uint8_t physical_block_exp; // log2(physical blocks per logical block)
    std::uint8_t alignment_offset;   // offset of the first aligned logical block
    le16 min_io_size;                // suggested minimum I/O size, in blocks
    le32 opt_io_size;                // optimal (suggested maximum) I/O size, in blocks
};
static_assert(sizeof(VirtioBlkTopology) == 8 && WireType<VirtioBlkTopology>);

struct VirtioBlkConfig {
    le64 capacity; // 0x00, in 512-byte sectors
    le32 size_max; // 0x08
    le32 seg_max;  // 0x0c
    VirtioBlkGeometry geometry; // 0x10
    le32 blk_size;              // 0x14
    VirtioBlkTopology topology; // 0x18
    std::uint8_t writeback;     // 0x20
    std::uint8_t unused0;       // 0x21
    le16 num_queues;            // 0x22
    le32 max_discard_sectors;   // 0x24
    le32 max_discard_seg;       // 0x28
    le32 discard_sector_alignment; // 0x2c
    le32 max_write_zeroes_sectors; // 0x30
    le32 max_write_zeroes_seg;     // 0x34
    std::uint8_t write_zeroes_may_unmap; // 0x38
    std::uint8_t unused1[3];             // 0x39
    le32 max_secure_erase_sectors;       // 0x3c
    le32 max_secure_erase_seg;           // 0x40
    le32 secure_erase_sector_alignment;  // 0x44
};
static_assert(sizeof(VirtioBlkConfig) == 0x48 && WireType<VirtioBlkConfig>);
static_assert(offsetof(VirtioBlkConfig, writeback) == 0x20);
static_assert(offsetof(VirtioBlkConfig, num_queues) == 0x22);
static_assert(offsetof(VirtioBlkConfig, write_zeroes_may_unmap) == 0x38);
static_assert(offsetof(VirtioBlkConfig, secure_erase_sector_alignment) == 0x44);

// §5.2.6: the device-readable header at the start of every request.
struct VirtioBlkReqHeader {
    le32 type;
    le32 reserved; // legacy name: ioprio
    le64 sector;
};
static_assert(sizeof(VirtioBlkReqHeader) == 16 && WireType<VirtioBlkReqHeader>);

// §5.2.6: one range of a discard, write zeroes or secure erase request.
struct VirtioBlkDiscardWriteZeroes {
    le64 sector;
    le32 num_sectors;
    le32 flags;
};
static_assert(sizeof(VirtioBlkDiscardWriteZeroes) == 16 && WireType<VirtioBlkDiscardWriteZeroes>);

// §5.2.6: the reply of GET_LIFETIME.
struct VirtioBlkLifetime {
    le16 pre_eol_info;
    le16 device_lifetime_est_typ_a;
    le16 device_lifetime_est_typ_b;
};
static_assert(sizeof(VirtioBlkLifetime) == 6 && WireType<VirtioBlkLifetime>);

} // namespace vmm::virtio
