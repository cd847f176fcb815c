// SPDX-License-Identifier: Apache-2.0
// virtio-net wire format: feature bits, configuration layout, packet header, control commands,
// hash types (virtio 1.2 §5.1, and the later bits Linux's uapi virtio_net.h also uses).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// §5.1.3 "Feature bits" (bit numbers).
inline constexpr unsigned VIRTIO_NET_F_CSUM = 0;
inline constexpr unsigned VIRTIO_NET_F_GUEST_CSUM = 1;
inline constexpr unsigned VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = 2;
inline constexpr unsigned VIRTIO_NET_F_MTU = 3;
inline constexpr unsigned VIRTIO_NET_F_MAC = 5;
inline constexpr unsigned VIRTIO_NET_F_GUEST_TSO4 = 7;
inline constexpr unsigned VIRTIO_NET_F_GUEST_TSO6 = 8;
inline constexpr unsigned VIRTIO_NET_F_GUEST_ECN = 9;
inline constexpr unsigned VIRTIO_NET_F_GUEST_UFO = 10;
inline constexpr unsigned VIRTIO_NET_F_HOST_TSO4 = 11;
inline constexpr unsigned VIRTIO_NET_F_HOST_TSO6 = 12;
inline constexpr unsigned VIRTIO_NET_F_HOST_ECN = 13;
inline constexpr unsigned VIRTIO_NET_F_HOST_UFO = 14;
inline constexpr unsigned VIRTIO_NET_F_MRG_RXBUF = 15;
inline constexpr unsigned VIRTIO_NET_F_STATUS = 16;
inline constexpr unsigned VIRTIO_NET_F_CTRL_VQ = 17;
inline constexpr unsigned VIRTIO_NET_F_CTRL_RX = 18;
inline constexpr unsigned VIRTIO_NET_F_CTRL_VLAN = 19;
inline constexpr unsigned VIRTIO_NET_F_CTRL_RX_EXTRA = 20;
inline constexpr unsigned VIRTIO_NET_F_GUEST_ANNOUNCE = 21;
inline constexpr unsigned VIRTIO_NET_F_MQ = 22;
inline constexpr unsigned VIRTIO_NET_F_CTRL_MAC_ADDR = 23;
inline constexpr unsigned VIRTIO_NET_F_GUEST_USO4 = 54;
inline constexpr unsigned VIRTIO_NET_F_GUEST_USO6 = 55;
inline constexpr unsigned VIRTIO_NET_F_HOST_USO = 56;
inline constexpr unsigned VIRTIO_NET_F_HASH_REPORT = 57;
inline constexpr unsigned VIRTIO_NET_F_GUEST_HDRLEN = 59; // hdr_len is exact, not a hint
inline constexpr unsigned VIRTIO_NET_F_RSS = 60;
inline constexpr unsigned VIRTIO_NET_F_RSC_EXT = 61;
inline constexpr unsigned VIRTIO_NET_F_STANDBY = 62;
inline constexpr unsigned VIRTIO_NET_F_SPEED_DUPLEX = 63;

// §5.1.4: bits of the status field.
inline constexpr std::uint16_t VIRTIO_NET_S_LINK_UP = 1;
inline constexpr std::uint16_t VIRTIO_NET_S_ANNOUNCE = 2;

// §5.1.4: speed in Mbit/s (0 to 0x7fffffff) or unknown; duplex values as the descriptive text and
// Linux (ethtool's DUPLEX_*) have them (the device-normative paragraph of 1.2 swaps 0 and 1).
inline constexpr std::uint32_t VIRTIO_NET_SPEED_UNKNOWN = 0xffffffff;
inline constexpr std::uint8_t VIRTIO_NET_DUPLEX_HALF = 0x00;
inline constexpr std::uint8_t VIRTIO_NET_DUPLEX_FULL = 0x01;
inline constexpr std::uint8_t VIRTIO_NET_DUPLEX_UNKNOWN = 0xff;

// §5.1.4 "Device configuration layout" (struct virtio_net_config). The 1.3 supported_tunnel_types
// field that follows is not offered.
struct VirtioNetConfig {
    std::array<std::uint8_t, 6> mac;     // 0x00
    le16 status;                         // 0x06 with VIRTIO_NET_F_STATUS
    le16 max_virtqueue_pairs;            // 0x08 with VIRTIO_NET_F_MQ or VIRTIO_NET_F_RSS
    le16 mtu;                            // 0x0a with VIRTIO_NET_F_MTU
    le32 speed;                          // 0x0c with VIRTIO_NET_F_SPEED_DUPLEX
    std::uint8_t duplex;                 // 0x10
    std::uint8_t rss_max_key_size;       // 0x11 with VIRTIO_NET_F_RSS or VIRTIO_NET_F_HASH_REPORT
    le16 rss_max_indirection_table_length; // 0x12 with VIRTIO_NET_F_RSS
    le32 supported_hash_types;           // 0x14 with VIRTIO_NET_F_RSS or VIRTIO_NET_F_HASH_REPORT
};
static_assert(sizeof(VirtioNetConfig) == 0x18 && WireType<VirtioNetConfig>);
static_assert(offsetof(VirtioNetConfig, status) == 0x06);
static_assert(offsetof(VirtioNetConfig, max_virtqueue_pairs) == 0x08);
static_assert(offsetof(VirtioNetConfig, mtu) == 0x0a);
static_assert(offsetof(VirtioNetConfig, speed) == 0x0c);
static_assert(offsetof(VirtioNetConfig, duplex) == 0x10);
static_assert(offsetof(VirtioNetConfig, rss_max_key_size) == 0x11);
static_assert(offsetof(VirtioNetConfig, rss_max_indirection_table_length) == 0x12);
static_assert(offsetof(VirtioNetConfig, supported_hash_types) == 0x14);

// §5.1.6: flags of the packet header.
inline constexpr std::uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
inline constexpr std::uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
inline constexpr std::uint8_t VIRTIO_NET_HDR_F_RSC_INFO = 4;

// §5.1.6: gso_type values; ECN is a flag on top of the TCP types.
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_UDP = 3; // UFO: IP fragmentation of one datagram
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_UDP_L4 = 5; // USO: one datagram per segment
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

// §5.1.6: the header in front of every packet, in both directions (struct virtio_net_hdr with
// num_buffers, which is always present once VIRTIO_F_VERSION_1 is negotiated).
struct VirtioNetHdrV1 {
    std::uint8_t flags;    // VIRTIO_NET_HDR_F_*
    std::uint8_t gso_type; // VIRTIO_NET_HDR_GSO_*
    le16 hdr_len;          // bytes of headers to replicate per segment (a hint without GUEST_HDRLEN)
    le16 gso_size;         // bytes of payload per segment (the MSS)
    le16 csum_start;
    le16 csum_offset;
    le16 num_buffers;      // receive side, with VIRTIO_NET_F_MRG_RXBUF; 0 on transmit
};
static_assert(sizeof(VirtioNetHdrV1) == 12 && WireType<VirtioNetHdrV1>);
static_assert(offsetof(VirtioNetHdrV1, csum_start) == 6);
static_assert(offsetof(VirtioNetHdrV1, num_buffers) == 10);

// §5.1.6: the header once VIRTIO_NET_F_HASH_REPORT is negotiated.
struct VirtioNetHdrV1Hash {
    VirtioNetHdrV1 hdr;
    le32 hash_value;
    le16 hash_report; // VIRTIO_NET_HASH_REPORT_*
    le16 padding_reserved;
};
static_assert(sizeof(VirtioNetHdrV1Hash) == 20 && WireType<VirtioNetHdrV1Hash>);
static_assert(offsetof(VirtioNetHdrV1Hash, hash_value) == 12);
static_assert(offsetof(VirtioNetHdrV1Hash, hash_report) == 16);

// §5.1.6.4.3.1 "Supported/enabled hash types".
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_IPv4 = 1U << 0;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_TCPv4 = 1U << 1;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_UDPv4 = 1U << 2;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_IPv6 = 1U << 3;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_TCPv6 = 1U << 4;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_UDPv6 = 1U << 5;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_IP_EX = 1U << 6;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_TCP_EX = 1U << 7;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_UDP_EX = 1U << 8;
inline constexpr std::uint32_t VIRTIO_NET_RSS_HASH_TYPE_ALL = (1U << 9) - 1;

// §5.1.6.4.4 "Hash reporting for incoming packets": hash type bit = 1 << (report - 1).
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_NONE = 0;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_IPv4 = 1;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_TCPv4 = 2;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_UDPv4 = 3;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_IPv6 = 4;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_TCPv6 = 5;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_UDPv6 = 6;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_IPv6_EX = 7;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_TCPv6_EX = 8;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_UDPv6_EX = 9;

// §5.1.6.5: every control command starts with class and command and ends with an ack byte.
struct VirtioNetCtrlHdr {
    std::uint8_t ctrl_class; // "class" in the spec
    std::uint8_t command;
};
static_assert(sizeof(VirtioNetCtrlHdr) == 2 && WireType<VirtioNetCtrlHdr>);

inline constexpr std::uint8_t VIRTIO_NET_OK = 0;
inline constexpr std::uint8_t VIRTIO_NET_ERR = 1;

// §5.1.6.5.1 "Packet Receive Filtering": one byte of data, 0 (off) or 1 (on).
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_PROMISC = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_ALLMULTI = 1;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_ALLUNI = 2; // 2-5 need VIRTIO_NET_F_CTRL_RX_EXTRA
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_NOMULTI = 3;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_NOUNI = 4;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_NOBCAST = 5;

// §5.1.6.5.2 "Setting MAC Address Filtering": TABLE_SET carries two struct virtio_net_ctrl_mac
// (le32 entries, then entries * 6 bytes): unicast first, then multicast. ADDR_SET carries 6 bytes.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MAC = 1;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MAC_TABLE_SET = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;

// §5.1.6.5.3 "VLAN Filtering": a le16 VLAN id.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_VLAN = 2;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_VLAN_ADD = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_VLAN_DEL = 1;

// §5.1.6.5.4 "Gratuitous Packet Sending".
inline constexpr std::uint8_t VIRTIO_NET_CTRL_ANNOUNCE = 3;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_ANNOUNCE_ACK = 0;

// §5.1.6.5.5-7: multiqueue, RSS and hash configuration.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MQ = 4;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MQ_RSS_CONFIG = 1;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MQ_HASH_CONFIG = 2;
inline constexpr std::uint16_t VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
inline constexpr std::uint16_t VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;

struct VirtioNetCtrlMq {
    le16 virtqueue_pairs;
};
static_assert(sizeof(VirtioNetCtrlMq) == 2 && WireType<VirtioNetCtrlMq>);

// §5.1.6.5.8 "Offloads State Configuration": a le64 mask of VIRTIO_NET_F_GUEST_* bits.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_GUEST_OFFLOADS = 5;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET = 0;

} // namespace vmm::virtio
