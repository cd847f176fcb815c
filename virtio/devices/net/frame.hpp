// SPDX-License-Identifier: Apache-2.0
// FrameInfo: where the Ethernet, VLAN, IP and TCP/UDP headers of a frame are, bounds-checked.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace vmm::virtio::net {

// Names chosen not to collide with the macros of <linux/if_ether.h>, <net/ethernet.h> and
// <netinet/in.h> (ETH_HLEN, ETH_P_*, ETHERTYPE_*, IPPROTO_*), which device code may include.
inline constexpr std::size_t ETH_HEADER_BYTES = 14;
inline constexpr std::size_t VLAN_TAG_BYTES = 4;
inline constexpr std::size_t IPV4_MIN_HEADER_BYTES = 20;
inline constexpr std::size_t IPV6_HEADER_BYTES = 40;
inline constexpr std::size_t TCP_MIN_HEADER_BYTES = 20;
inline constexpr std::size_t UDP_HEADER_BYTES = 8;
inline constexpr std::size_t IPV6_FRAG_HEADER_BYTES = 8;

inline constexpr std::uint16_t ETH_TYPE_IPV4 = 0x0800;
inline constexpr std::uint16_t ETH_TYPE_IPV6 = 0x86dd;
inline constexpr std::uint16_t ETH_TYPE_8021Q = 0x8100;  // customer VLAN tag
inline constexpr std::uint16_t ETH_TYPE_8021AD = 0x88a8; // service VLAN tag (QinQ outer)

inline constexpr std::uint8_t IP_PROTO_HOPOPTS = 0;
inline constexpr std::uint8_t IP_PROTO_TCP = 6;
inline constexpr std::uint8_t IP_PROTO_UDP = 17;
inline constexpr std::uint8_t IP_PROTO_ROUTING = 43;
inline constexpr std::uint8_t IP_PROTO_FRAGMENT = 44;
inline constexpr std::uint8_t IP_PROTO_DSTOPTS = 60;

using MacAddress = std::array<std::uint8_t, 6>;

enum class L3 : std::uint8_t { unknown, ipv4, ipv6 };
enum class L4 : std::uint8_t { unknown, tcp, udp };

struct VlanTag {
    std::uint16_t tpid = 0; // ETH_TYPE_8021Q or ETH_TYPE_8021AD
    std::uint16_t tci = 0;  // PCP:3 DEI:1 VID:12

    [[nodiscard]] std::uint16_t id() const noexcept { return tci & 0x0fff; }
};

// What parse_frame() found. Offsets are from the start of the frame. A layer whose header is
// truncated, or says something impossible (a bogus IHL, a length past the frame, a TCP data
// offset below 5), is left unknown, and so is everything above it; the fields of an unknown
// layer are zero. Nothing here points outside the bytes that were parsed, except ip_end, which
// is bounded by the frame length given to parse_frame().
struct FrameInfo {
    bool ethernet = false; // at least the 14 bytes of an Ethernet header
    MacAddress dst {};
    MacAddress src {};
    std::uint8_t vlan_count = 0; // up to two tags, outermost first
    std::array<VlanTag, 2> vlans {};
    std::uint16_t ethertype = 0; // after the tags
    std::size_t l3_offset = 0;

    L3 l3 = L3::unknown;
    std::size_t l3_len = 0;       // IPv4: IHL * 4; IPv6: 40 plus the extension headers walked
    std::size_t ip_end = 0;       // l3_offset + IP total length: where Ethernet padding starts
    std::uint8_t ip_protocol = 0; // IPv4 protocol, or the IPv6 next header after the extensions
    bool fragment = false;        // a fragment (MF or an offset, or an IPv6 fragment header)
    // IPv6 only.
    bool ipv6_ext = false;              // at least one extension header
    std::size_t ipv6_home_address = 0;  // Home Address destination option's address, 0 if none
    std::size_t ipv6_rh2_address = 0;   // type 2 routing header's address, 0 if none
    std::size_t ipv6_unfrag_end = 0;    // end of the unfragmentable part (RFC 8200 §4.5)
    std::size_t ipv6_unfrag_next = 0;   // the next-header byte naming the first fragmentable header

    L4 l4 = L4::unknown; // only for a packet that is not a fragment
    std::size_t l4_offset = 0;
    std::size_t l4_len = 0; // TCP: data offset * 4; UDP: 8

    [[nodiscard]] std::size_t src_addr_offset() const noexcept;
    [[nodiscard]] std::size_t dst_addr_offset() const noexcept;
    [[nodiscard]] std::size_t addr_len() const noexcept { return l3 == L3::ipv6 ? 16 : 4; }
    // End of the TCP/UDP header: where the payload starts.
    [[nodiscard]] std::size_t l4_end() const noexcept { return l4_offset + l4_len; }
};

// Parses the headers at the start of `bytes`, which holds the first bytes of a frame of
// frame_len bytes (the device copies a bounded prefix from guest memory). IP length fields are
// checked against frame_len; every header the parser reads must lie inside `bytes`. A
// frame_len smaller than bytes.size() limits the parse to frame_len bytes.
[[nodiscard]] FrameInfo parse_frame(std::span<const std::uint8_t> bytes, std::size_t frame_len) noexcept;
[[nodiscard]] inline FrameInfo parse_frame(std::span<const std::uint8_t> frame) noexcept
{
    return parse_frame(frame, frame.size());
}

} // namespace vmm::virtio::net
