// SPDX-License-Identifier: Apache-2.0
// virtio-mem wire format: feature bits, configuration layout, requests (virtio 1.2 §5.15).
#pragma once

#include <cstdint>

#include "virtio/spec/wire.hpp"

namespace vmm::virtio {

// §5.15.3
inline constexpr unsigned VIRTIO_MEM_F_ACPI_PXM = 0;                // node_id is an ACPI PXM
inline constexpr unsigned VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE = 1; // the driver never reads unplugged memory

// §5.15.6 request types
inline constexpr std::uint16_t VIRTIO_MEM_REQ_PLUG = 0;
inline constexpr std::uint16_t VIRTIO_MEM_REQ_UNPLUG = 1;
inline constexpr std::uint16_t VIRTIO_MEM_REQ_UNPLUG_ALL = 2;
inline constexpr std::uint16_t VIRTIO_MEM_REQ_STATE = 3;

// §5.15.6 response types
inline constexpr std::uint16_t VIRTIO_MEM_RESP_ACK = 0;
inline constexpr std::uint16_t VIRTIO_MEM_RESP_NACK = 1;
inline constexpr std::uint16_t VIRTIO_MEM_RESP_BUSY = 2;
inline constexpr std::uint16_t VIRTIO_MEM_RESP_ERROR = 3;

// §5.15.6.4 STATE results
inline constexpr std::uint16_t VIRTIO_MEM_STATE_PLUGGED = 0;
inline constexpr std::uint16_t VIRTIO_MEM_STATE_UNPLUGGED = 1;
inline constexpr std::uint16_t VIRTIO_MEM_STATE_MIXED = 2;

// §5.15.4. Every field is read-only for the driver; sizes and addr are multiples of block_size.
struct VirtioMemConfig {
    le64 block_size;
    le16 node_id;
    std::uint8_t padding[6];
    le64 addr;
    le64 region_size;
    le64 usable_region_size;
    le64 plugged_size;
    le64 requested_size;
};
static_assert(sizeof(VirtioMemConfig) == 56 && WireType<VirtioMemConfig>);

// §5.15.6: PLUG, UNPLUG and STATE carry {addr, nb_blocks}; UNPLUG_ALL only the type.
struct VirtioMemReq {
    le16 type;
    le16 padding[3];
    le64 addr;
    le16 nb_blocks;
    le16 padding2[3];
};
static_assert(sizeof(VirtioMemReq) == 24 && WireType<VirtioMemReq>);

struct VirtioMemResp {
    le16 type;
    le16 padding[3];
    le16 state; // STATE only
};
static_assert(sizeof(VirtioMemResp) == 10 && WireType<VirtioMemResp>);

} // namespace vmm::virtio
