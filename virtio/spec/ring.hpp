// SPDX-License-Identifier: Apache-2.0
// Virtqueue wire formats: split and packed descriptors, rings, event suppression, layout sizes.
#pragma once

#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// ---- Descriptor flags (virtio 1.2 §2.7.5, §2.8.1, §2.8.6, §2.8.7) ------------------------------
inline constexpr std::uint16_t VIRTQ_DESC_F_NEXT = 1;
inline constexpr std::uint16_t VIRTQ_DESC_F_WRITE = 2;
inline constexpr std::uint16_t VIRTQ_DESC_F_INDIRECT = 4;
// Packed rings only.
inline constexpr std::uint16_t VIRTQ_DESC_F_AVAIL = 1 << 7;
inline constexpr std::uint16_t VIRTQ_DESC_F_USED = 1 << 15;

// ---- Split ring flags (virtio 1.2 §2.7.7, §2.7.8) ---------------------------------------------
inline constexpr std::uint16_t VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
inline constexpr std::uint16_t VIRTQ_USED_F_NO_NOTIFY = 1;

// ---- Packed event suppression (virtio 1.2 §2.8.10, §2.8.14) -----------------------------------
inline constexpr std::uint16_t RING_EVENT_FLAGS_ENABLE = 0x0;
inline constexpr std::uint16_t RING_EVENT_FLAGS_DISABLE = 0x1;
inline constexpr std::uint16_t RING_EVENT_FLAGS_DESC = 0x2; // only with VIRTIO_F_EVENT_IDX
inline constexpr std::uint16_t RING_EVENT_FLAGS_MASK = 0x3;
inline constexpr std::uint16_t RING_EVENT_WRAP_SHIFT = 15;
inline constexpr std::uint16_t RING_EVENT_OFF_MASK = 0x7fff;

// virtio 1.2 §2.7 and §2.8: both layouts allow at most 2^15 entries.
inline constexpr std::uint16_t VIRTQ_MAX_SIZE = 32768;

// virtio 1.2 §2.7.5: split descriptor.
struct VirtqDesc {
    le64 addr;  // 0 guest-physical address (an IOVA with VIRTIO_F_ACCESS_PLATFORM)
    le32 len;   // 8
    le16 flags; // 12
    le16 next;  // 14
};
static_assert(sizeof(VirtqDesc) == 16 && WireType<VirtqDesc>);

// virtio 1.2 §2.7.8: one used ring element.
struct VirtqUsedElem {
    le32 id;  // 0 head of the used chain
    le32 len; // 4 bytes written into the chain's device-writable buffers
};
static_assert(sizeof(VirtqUsedElem) == 8 && WireType<VirtqUsedElem>);

// virtio 1.2 §2.8.13: packed descriptor.
struct PvirtqDesc {
    le64 addr;  // 0
    le32 len;   // 8
    le16 id;    // 12 buffer ID
    le16 flags; // 14
};
static_assert(sizeof(PvirtqDesc) == 16 && WireType<PvirtqDesc>);

// virtio 1.2 §2.8.14: event suppression structure (driver area and device area).
struct PvirtqEventSuppress {
    le16 desc;  // 0 bits 0-14 desc_event_off, bit 15 desc_event_wrap
    le16 flags; // 2 bits 0-1 desc_event_flags
};
static_assert(sizeof(PvirtqEventSuppress) == 4 && WireType<PvirtqEventSuppress>);

// ---- Split ring layout: offsets and sizes in bytes, for queue size q (virtio 1.2 §2.7) --------
inline constexpr std::uint64_t SPLIT_DESC_ALIGN = 16;
inline constexpr std::uint64_t SPLIT_AVAIL_ALIGN = 2;
inline constexpr std::uint64_t SPLIT_USED_ALIGN = 4;
inline constexpr std::uint64_t RING_FLAGS_OFFSET = 0; // avail.flags / used.flags
inline constexpr std::uint64_t RING_IDX_OFFSET = 2;   // avail.idx / used.idx
inline constexpr std::uint64_t RING_ENTRIES_OFFSET = 4;

[[nodiscard]] constexpr std::uint64_t split_desc_table_size(std::uint16_t q) noexcept
{
    return std::uint64_t { 16 } * q;
}
// Including used_event: the spec sizes the ring as 6 + 2q whether or not EVENT_IDX is used.
[[nodiscard]] constexpr std::uint64_t split_avail_ring_size(std::uint16_t q) noexcept
{
    return 6 + std::uint64_t { 2 } * q;
}
// Including avail_event.
[[nodiscard]] constexpr std::uint64_t split_used_ring_size(std::uint16_t q) noexcept
{
    return 6 + std::uint64_t { 8 } * q;
}
[[nodiscard]] constexpr std::uint64_t split_avail_entry_offset(std::uint16_t slot) noexcept
{
    return RING_ENTRIES_OFFSET + std::uint64_t { 2 } * slot;
}
[[nodiscard]] constexpr std::uint64_t split_used_event_offset(std::uint16_t q) noexcept
{
    return RING_ENTRIES_OFFSET + std::uint64_t { 2 } * q;
}
[[nodiscard]] constexpr std::uint64_t split_used_entry_offset(std::uint16_t slot) noexcept
{
    return RING_ENTRIES_OFFSET + std::uint64_t { 8 } * slot;
}
[[nodiscard]] constexpr std::uint64_t split_avail_event_offset(std::uint16_t q) noexcept
{
    return RING_ENTRIES_OFFSET + std::uint64_t { 8 } * q;
}

// ---- Packed ring layout (virtio 1.2 §2.8.10.1) -------------------------------------------------
inline constexpr std::uint64_t PACKED_DESC_ALIGN = 16;
inline constexpr std::uint64_t PACKED_EVENT_ALIGN = 4;
inline constexpr std::uint64_t PACKED_EVENT_SIZE = sizeof(PvirtqEventSuppress);
inline constexpr std::uint64_t PACKED_DESC_FLAGS_OFFSET = 14;
inline constexpr std::uint64_t EVENT_DESC_OFFSET = 0;
inline constexpr std::uint64_t EVENT_FLAGS_OFFSET = 2;

[[nodiscard]] constexpr std::uint64_t packed_desc_ring_size(std::uint16_t q) noexcept
{
    return std::uint64_t { 16 } * q;
}

// virtio 1.2 §2.7.11 "Helpers for Operating Virtqueues" (vring_need_event): true when event_idx
// lies in the window [old_idx, new_idx) of indices just published, all modulo 2^16.
[[nodiscard]] constexpr bool vring_need_event(std::uint16_t event_idx, std::uint16_t new_idx,
    std::uint16_t old_idx) noexcept
{
    return static_cast<std::uint16_t>(new_idx - event_idx - 1) < static_cast<std::uint16_t>(new_idx - old_idx);
}

} // namespace vmm::virtio
