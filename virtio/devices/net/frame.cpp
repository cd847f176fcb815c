// SPDX-License-Identifier: Apache-2.0
// Header parsing: Ethernet and VLAN tags, IPv4, IPv6 with its extension headers, TCP and UDP.
#include "virtio/devices/net/frame.hpp"

#include <algorithm>

#include "virtio/devices/net/bytes.hpp"

namespace vmm::virtio::net {
namespace {

using Bytes = std::span<const std::uint8_t>;

// RFC 6275 §6.3: the Home Address option of a destination options header.
constexpr std::uint8_t IPV6_OPT_PAD1 = 0;
constexpr std::uint8_t IPV6_OPT_HOME_ADDRESS = 0xc9;
constexpr std::size_t IPV6_ADDR_BYTES = 16;
// RFC 6275 §6.4: a type 2 routing header is 24 bytes (Hdr Ext Len 2) with one address at 8.
constexpr std::uint8_t IPV6_RH_TYPE2 = 2;
constexpr std::uint8_t IPV6_RH_TYPE2_EXT_LEN = 2;
// Each extension header walked is at least 8 bytes, so the walk ends by itself; the cap only
// bounds the work on a prefix of many tiny headers.
constexpr int MAX_IPV6_EXT_HEADERS = 32;

// RFC 8200 §4 and the IANA list of IPv6 extension header types. The parser walks hop-by-hop,
// routing, fragment and destination options (RFC 8200 §4.3-4.6); the others end the walk (L4
// unknown) but still mark the packet as one with extension headers.
bool is_ipv6_ext_header(std::uint8_t nh) noexcept
{
    switch (nh) {
    case IP_PROTO_HOPOPTS:
    case IP_PROTO_ROUTING:
    case IP_PROTO_FRAGMENT:
    case 50:  // ESP
    case 51:  // AH
    case IP_PROTO_DSTOPTS:
    case 135: // Mobility
    case 139: // HIP
    case 140: // Shim6
    case 253: // experimental
    case 254:
        return true;
    default:
        return false;
    }
}

// TCP or UDP at `off` with protocol `proto`; needs the whole header inside both the parsed
// bytes and the IP packet.
void parse_l4(FrameInfo& f, Bytes b, std::size_t off, std::uint8_t proto) noexcept
{
    f.ip_protocol = proto;
    if (f.fragment) {
        // Only the first fragment carries the transport header. Treating every fragment alike
        // keeps a datagram's fragments on one RSS queue, and out of segmentation.
        return;
    }
    const std::size_t limit = std::min(b.size(), f.ip_end);
    if (proto == IP_PROTO_TCP) {
        if (off > limit || limit - off < TCP_MIN_HEADER_BYTES) {
            return;
        }
        const std::size_t len = std::size_t { b[off + 12] } / 16 * 4;
        if (len < TCP_MIN_HEADER_BYTES || limit - off < len) {
            return;
        }
        f.l4 = L4::tcp;
        f.l4_offset = off;
        f.l4_len = len;
    } else if (proto == IP_PROTO_UDP) {
        if (off > limit || limit - off < UDP_HEADER_BYTES) {
            return;
        }
        f.l4 = L4::udp;
        f.l4_offset = off;
        f.l4_len = UDP_HEADER_BYTES;
    }
}

void parse_ipv4(FrameInfo& f, Bytes b, std::size_t frame_len) noexcept
{
    const std::size_t l3 = f.l3_offset;
    if (b.size() - l3 < IPV4_MIN_HEADER_BYTES || (b[l3] >> 4) != 4) {
        return;
    }
    const std::size_t ihl = std::size_t { b[l3] & 0x0fu } * 4;
    if (ihl < IPV4_MIN_HEADER_BYTES || b.size() - l3 < ihl) {
        return;
    }
    const std::size_t total = load_be16(b, l3 + 2);
    if (total < ihl || frame_len - l3 < total) {
        return;
    }
    const std::uint16_t frag = load_be16(b, l3 + 6);
    f.l3 = L3::ipv4;
    f.l3_len = ihl;
    f.ip_end = l3 + total;
    // RFC 791: MF is bit 13 of the flags/offset word, the offset its low 13 bits.
    f.fragment = (frag & 0x3fff) != 0;
    parse_l4(f, b, l3 + ihl, b[l3 + 9]);
}

// Scans the options of a destination options header for a Home Address option. Malformed
// options end the scan; the header itself was already bounds-checked.
void scan_dstopts(FrameInfo& f, Bytes b, std::size_t begin, std::size_t end) noexcept
{
    std::size_t i = begin;
    while (i < end) {
        const std::uint8_t type = b[i];
        if (type == IPV6_OPT_PAD1) {
            ++i;
            continue;
        }
        if (end - i < 2) {
            return;
        }
        const std::size_t len = b[i + 1];
        if (end - i - 2 < len) {
            return;
        }
        if (type == IPV6_OPT_HOME_ADDRESS && len == IPV6_ADDR_BYTES && f.ipv6_home_address == 0) {
            f.ipv6_home_address = i + 2;
        }
        i += 2 + len;
    }
}

// One extension header at `off` of type `nh`, the n-th after the IPv6 header: records what it
// says and advances nh and off past it. False when it is truncated, malformed or not walked.
bool walk_ipv6_ext(FrameInfo& f, Bytes b, std::size_t limit, int n, std::uint8_t& nh, std::size_t& off) noexcept
{
    if (limit - off < 8) {
        return false;
    }
    std::size_t len = 8;
    switch (nh) {
    case IP_PROTO_HOPOPTS:
    case IP_PROTO_ROUTING:
    case IP_PROTO_DSTOPTS:
        if (nh == IP_PROTO_HOPOPTS && n != 0) {
            return false; // RFC 8200 §4.1: hop-by-hop options only right after the IPv6 header
        }
        len = (std::size_t { b[off + 1] } + 1) * 8;
        if (limit - off < len) {
            return false;
        }
        if (nh == IP_PROTO_DSTOPTS) {
            scan_dstopts(f, b, off + 2, off + len);
            break;
        }
        if (nh == IP_PROTO_ROUTING && b[off + 2] == IPV6_RH_TYPE2 && b[off + 1] == IPV6_RH_TYPE2_EXT_LEN
            && f.ipv6_rh2_address == 0) {
            f.ipv6_rh2_address = off + 8;
        }
        // RFC 8200 §4.5: the hop-by-hop and routing headers, and what precedes them, are the
        // unfragmentable part.
        f.ipv6_unfrag_end = off + len;
        f.ipv6_unfrag_next = off;
        break;
    case IP_PROTO_FRAGMENT:
        // Offset in the high 13 bits of bytes 2-3, M in bit 0. Offset 0 with M clear is an
        // atomic fragment (RFC 6946): the whole packet, not a fragment.
        if ((load_be16(b, off + 2) & 0xfff9) != 0) {
            f.fragment = true;
        }
        break;
    default:
        return false; // ESP, AH, mobility...: not walked
    }
    nh = b[off];
    off += len;
    return true;
}

void parse_ipv6(FrameInfo& f, Bytes b, std::size_t frame_len) noexcept
{
    const std::size_t l3 = f.l3_offset;
    if (b.size() - l3 < IPV6_HEADER_BYTES || (b[l3] >> 4) != 6) {
        return;
    }
    const std::size_t total = IPV6_HEADER_BYTES + load_be16(b, l3 + 4);
    if (frame_len - l3 < total) {
        return;
    }
    f.l3 = L3::ipv6;
    f.ip_end = l3 + total;
    f.ipv6_unfrag_end = l3 + IPV6_HEADER_BYTES;
    f.ipv6_unfrag_next = l3 + 6;

    const std::size_t limit = std::min(b.size(), f.ip_end);
    std::uint8_t nh = b[l3 + 6];
    std::size_t off = l3 + IPV6_HEADER_BYTES;
    bool walked = true;
    for (int n = 0; walked && is_ipv6_ext_header(nh); ++n) {
        f.ipv6_ext = true;
        walked = n < MAX_IPV6_EXT_HEADERS && walk_ipv6_ext(f, b, limit, n, nh, off);
    }
    f.l3_len = off - l3;
    f.ip_protocol = nh;
    if (walked) {
        parse_l4(f, b, off, nh);
    }
}

} // namespace

std::size_t FrameInfo::src_addr_offset() const noexcept
{
    switch (l3) {
    case L3::ipv4:
        return l3_offset + 12;
    case L3::ipv6:
        return l3_offset + 8;
    case L3::unknown:
        break;
    }
    return 0;
}

std::size_t FrameInfo::dst_addr_offset() const noexcept
{
    switch (l3) {
    case L3::ipv4:
        return l3_offset + 16;
    case L3::ipv6:
        return l3_offset + 24;
    case L3::unknown:
        break;
    }
    return 0;
}

FrameInfo parse_frame(std::span<const std::uint8_t> bytes, std::size_t frame_len) noexcept
{
    FrameInfo f;
    if (frame_len < bytes.size()) {
        bytes = bytes.first(frame_len);
    }
    if (bytes.size() < ETH_HEADER_BYTES) {
        return f;
    }
    f.ethernet = true;
    std::copy_n(bytes.begin(), 6, f.dst.begin());
    std::copy_n(bytes.begin() + 6, 6, f.src.begin());
    std::uint16_t type = load_be16(bytes, 12);
    std::size_t off = ETH_HEADER_BYTES;
    while (type == ETH_TYPE_8021Q || type == ETH_TYPE_8021AD) {
        if (f.vlan_count == f.vlans.size() || bytes.size() - off < VLAN_TAG_BYTES) {
            // A third tag, or a truncated one: the type is left as the tag's, L3 unknown.
            f.ethertype = type;
            return f;
        }
        f.vlans[f.vlan_count++] = VlanTag { type, load_be16(bytes, off) };
        type = load_be16(bytes, off + 2);
        off += VLAN_TAG_BYTES;
    }
    f.ethertype = type;
    f.l3_offset = off;
    if (type == ETH_TYPE_IPV4) {
        parse_ipv4(f, bytes, frame_len);
    } else if (type == ETH_TYPE_IPV6) {
        parse_ipv6(f, bytes, frame_len);
    }
    if (f.l3 == L3::unknown) {
        f.ip_end = 0;
        f.ip_protocol = 0;
        f.fragment = false;
    }
    return f;
}

} // namespace vmm::virtio::net
