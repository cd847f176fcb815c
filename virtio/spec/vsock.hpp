// SPDX-License-Identifier: Apache-2.0
// virtio-vsock wire format (virtio 1.2 §5.10): feature bits, configuration, packet header,
// operations and the event.
#pragma once

#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// §5.10.2: queues.
inline constexpr std::uint16_t VSOCK_RX_QUEUE = 0;
inline constexpr std::uint16_t VSOCK_TX_QUEUE = 1;
inline constexpr std::uint16_t VSOCK_EVENT_QUEUE = 2;

// §5.10.3 "Feature bits" (bit numbers). Without SEQPACKET only stream sockets exist.
inline constexpr unsigned VIRTIO_VSOCK_F_STREAM = 0;
inline constexpr unsigned VIRTIO_VSOCK_F_SEQPACKET = 1;

// §5.10.4: the configuration is the guest's CID (the upper 32 bits reserved, zero).
struct VirtioVsockConfig {
    le64 guest_cid;
};
static_assert(sizeof(VirtioVsockConfig) == 8 && WireType<VirtioVsockConfig>);

// §5.10.4: CIDs no guest may have. 2 is the host, the only peer of this device.
inline constexpr std::uint64_t VSOCK_CID_HYPERVISOR = 0;
inline constexpr std::uint64_t VSOCK_CID_LOCAL = 1;
inline constexpr std::uint64_t VSOCK_CID_HOST = 2;
inline constexpr std::uint64_t VSOCK_CID_RESERVED_32 = 0xffffffffULL;

// §5.10.6: the header in front of every packet, both directions (44 bytes, no padding).
struct VirtioVsockHdr {
    le64_split src_cid; // 0
    le64_split dst_cid; // 8
    le32 src_port;      // 16
    le32 dst_port;      // 20
    le32 len;           // 24: payload bytes after the header
    le16 type;          // 28
    le16 op;            // 30
    le32 flags;         // 32
    le32 buf_alloc;     // 36: the sender's receive buffer for this connection
    le32 fwd_cnt;       // 40: payload bytes the sender has consumed from it
};
static_assert(sizeof(VirtioVsockHdr) == 44 && WireType<VirtioVsockHdr>);

// §5.10.6: socket types.
inline constexpr std::uint16_t VIRTIO_VSOCK_TYPE_STREAM = 1;
inline constexpr std::uint16_t VIRTIO_VSOCK_TYPE_SEQPACKET = 2;

// §5.10.6: operations.
inline constexpr std::uint16_t VIRTIO_VSOCK_OP_INVALID = 0;
inline constexpr std::uint16_t VIRTIO_VSOCK_OP_REQUEST = 1;
inline constexpr std::uint16_t VIRTIO_VSOCK_OP_RESPONSE = 2;
inline constexpr std::uint16_t VIRTIO_VSOCK_OP_RST = 3;
inline constexpr std::uint16_t VIRTIO_VSOCK_OP_SHUTDOWN = 4;
inline constexpr std::uint16_t VIRTIO_VSOCK_OP_RW = 5;
inline constexpr std::uint16_t VIRTIO_VSOCK_OP_CREDIT_UPDATE = 6;
inline constexpr std::uint16_t VIRTIO_VSOCK_OP_CREDIT_REQUEST = 7;

// §5.10.6.4 SHUTDOWN flags. The spec's #defines give the bit numbers (0 and 1); these are the
// masks, as Linux's uapi header and every driver use them.
inline constexpr std::uint32_t VIRTIO_VSOCK_SHUTDOWN_RCV = 1U << 0U;  // the sender receives no more
inline constexpr std::uint32_t VIRTIO_VSOCK_SHUTDOWN_SEND = 1U << 1U; // the sender sends no more

// §5.10.6.3: RW flags of SEQPACKET: the last packet of a message, and of a record (MSG_EOR).
inline constexpr std::uint32_t VIRTIO_VSOCK_SEQ_EOM = 1U << 0U;
inline constexpr std::uint32_t VIRTIO_VSOCK_SEQ_EOR = 1U << 1U;

// §5.10.6.5: the event queue's one event.
struct VirtioVsockEvent {
    le32 id;
};
static_assert(sizeof(VirtioVsockEvent) == 4 && WireType<VirtioVsockEvent>);
inline constexpr std::uint32_t VIRTIO_VSOCK_EVENT_TRANSPORT_RESET = 0;

} // namespace vmm::virtio
