// SPDX-License-Identifier: Apache-2.0
// Checksum completion and software GSO: TCP segmentation, UDP segmentation, UDP fragmentation.
#include "virtio/devices/net/offload.hpp"

#include <algorithm>
#include <array>

#include "virtio/devices/net/bytes.hpp"
#include "virtio/devices/net/checksum.hpp"
#include "virtio/devices/net/frame.hpp"
#include "virtio/spec/net.hpp"

namespace vmm::virtio::net {
namespace {

using Bytes = std::span<const std::uint8_t>;
using MutBytes = std::span<std::uint8_t>;

constexpr std::uint8_t TCP_FIN = 0x01;
constexpr std::uint8_t TCP_PSH = 0x08;
constexpr std::uint8_t TCP_CWR = 0x80;
constexpr std::uint16_t IPV4_MF = 0x2000;
constexpr std::size_t IPV4_MAX_LEN = 0xffff;
constexpr std::size_t IPV6_MAX_PAYLOAD = 0xffff;

Unexpected<OffloadError> error(OffloadError e) noexcept
{
    return Unexpected(e);
}

// The pseudo-header of the packet's TCP/UDP checksum for an upper-layer length. IPv6 uses the
// final destination (RFC 8200 §8.1), which for a type 2 routing header is the address in it,
// and the home address of a Home Address option as the source (RFC 6275 §6.3: upper layers see
// the home address).
Checksum pseudo_header(const FrameInfo& f, Bytes frame, std::uint8_t proto, std::size_t length) noexcept
{
    if (f.l3 == L3::ipv4) {
        return ipv4_pseudo_header(frame.subspan(f.src_addr_offset()).first<4>(),
            frame.subspan(f.dst_addr_offset()).first<4>(), proto, static_cast<std::uint16_t>(length));
    }
    const std::size_t src = f.ipv6_home_address != 0 ? f.ipv6_home_address : f.src_addr_offset();
    const std::size_t dst = f.ipv6_rh2_address != 0 ? f.ipv6_rh2_address : f.dst_addr_offset();
    return ipv6_pseudo_header(frame.subspan(src).first<16>(), frame.subspan(dst).first<16>(), proto,
        static_cast<std::uint32_t>(length));
}

// Stores the IP length fields of `out` for an IP packet of ip_len bytes; for IPv4 also the
// identification, the fragment word and the header checksum.
void finish_ip(MutBytes out, const FrameInfo& f, std::size_t ip_len, std::uint16_t id, std::uint16_t frag_word) noexcept
{
    const std::size_t l3 = f.l3_offset;
    if (f.l3 == L3::ipv6) {
        store_be16(out, l3 + 4, static_cast<std::uint16_t>(ip_len - IPV6_HEADER_BYTES));
        return;
    }
    store_be16(out, l3 + 2, static_cast<std::uint16_t>(ip_len));
    store_be16(out, l3 + 4, id);
    store_be16(out, l3 + 6, frag_word);
    store_be16(out, l3 + 10, 0);
    store_be16(out, l3 + 10, internet_checksum(out.subspan(l3, f.l3_len)));
}

// The TCP or UDP checksum of the segment in `out` (transport header and payload to its end).
void finish_l4_checksum(MutBytes out, const FrameInfo& f, Bytes frame) noexcept
{
    const bool tcp = f.l4 == L4::tcp;
    const std::size_t field = f.l4_offset + (tcp ? 16 : 6);
    const std::size_t length = out.size() - f.l4_offset;
    store_be16(out, field, 0);
    Checksum c = pseudo_header(f, frame, tcp ? IP_PROTO_TCP : IP_PROTO_UDP, length);
    c.add(out.subspan(f.l4_offset));
    std::uint16_t sum = c.finish();
    if (!tcp && sum == 0) {
        sum = 0xffff; // RFC 768: a computed zero is sent as all ones
    }
    store_be16(out, field, sum);
}

// TCPV4, TCPV6 and UDP_L4: the payload after the transport header cut into gso_size pieces,
// each behind a copy of the headers.
OffloadResult<std::size_t> segment_l4(Bytes frame, const FrameInfo& f, const GsoRequest& r, MutBytes scratch,
    FrameSink sink)
{
    const std::size_t hdr = f.l4_end();
    const std::size_t payload = f.ip_end - hdr;
    const std::size_t mss = r.gso_size;
    const std::size_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
    if (count > r.max_segments) {
        return error(OffloadError::too_many_segments);
    }
    if (scratch.size() < hdr + std::min(mss, payload)) {
        return error(OffloadError::scratch_too_small);
    }
    const bool tcp = f.l4 == L4::tcp;
    const bool ipv4 = f.l3 == L3::ipv4;
    const std::uint16_t id = ipv4 ? load_be16(frame, f.l3_offset + 4) : 0;
    const std::uint16_t frag_word = ipv4 ? load_be16(frame, f.l3_offset + 6) : 0; // DF or nothing
    const std::uint32_t seq = tcp ? load_be32(frame, f.l4_offset + 4) : 0;
    const std::uint8_t flags = tcp ? frame[f.l4_offset + 13] : 0;

    // Every field that differs between segments is rewritten below: one copy of the headers.
    std::copy_n(frame.begin(), hdr, scratch.begin());
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t begin = hdr + i * mss;
        const std::size_t len = std::min(mss, f.ip_end - begin);
        std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(begin), len,
            scratch.begin() + static_cast<std::ptrdiff_t>(hdr));
        const MutBytes out = scratch.first(hdr + len);
        // IPv4 identification: +1 per segment, as Linux's GSO does without TCP_FIXEDID.
        finish_ip(out, f, out.size() - f.l3_offset, static_cast<std::uint16_t>(id + i), frag_word);
        if (tcp) {
            store_be32(out, f.l4_offset + 4, seq + static_cast<std::uint32_t>(i * mss));
            std::uint8_t seg_flags = flags;
            if (i + 1 < count) {
                seg_flags &= static_cast<std::uint8_t>(~(TCP_FIN | TCP_PSH));
            }
            if (i > 0) {
                seg_flags &= static_cast<std::uint8_t>(~TCP_CWR);
            }
            out[f.l4_offset + 13] = seg_flags;
        } else {
            store_be16(out, f.l4_offset + 4, static_cast<std::uint16_t>(UDP_HEADER_BYTES + len));
        }
        finish_l4_checksum(out, f, frame);
        sink(out);
    }
    return count;
}

// UDP (UFO): one datagram, its checksum computed over the whole of it, then cut into IP
// fragments of `unit` bytes of the fragmentable part (IPv4: the IP payload; IPv6: what follows
// the unfragmentable part, RFC 8200 §4.5).
OffloadResult<std::size_t> fragment_udp(Bytes frame, const FrameInfo& f, const GsoRequest& r, MutBytes scratch,
    FrameSink sink)
{
    const std::size_t l3 = f.l3_offset;
    const std::size_t l4 = f.l4_offset;
    const bool ipv6 = f.l3 == L3::ipv6;
    // At most 65535: the IPv4 total length, or the IPv6 payload length, bounds it.
    const std::size_t udp_len = f.ip_end - l4;

    std::array<std::uint8_t, UDP_HEADER_BYTES> udp {};
    std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(l4), udp.size(), udp.begin());
    store_be16(udp, 4, static_cast<std::uint16_t>(udp_len));
    store_be16(udp, 6, 0);
    Checksum c = pseudo_header(f, frame, IP_PROTO_UDP, udp_len);
    c.add(udp);
    c.add(frame.subspan(l4 + UDP_HEADER_BYTES, udp_len - UDP_HEADER_BYTES));
    const std::uint16_t sum = c.finish();
    store_be16(udp, 6, sum == 0 ? 0xffff : sum);

    const std::size_t frag_begin = ipv6 ? f.ipv6_unfrag_end : l3 + f.l3_len;
    const std::size_t total = f.ip_end - frag_begin;
    const std::uint16_t id = ipv6 ? 0 : load_be16(frame, l3 + 4);
    if (total <= r.gso_size) {
        // Linux sends such a datagram unfragmented too (skb_segment is not reached).
        if (scratch.size() < f.ip_end) {
            return error(OffloadError::scratch_too_small);
        }
        const MutBytes out = scratch.first(f.ip_end);
        std::copy_n(frame.begin(), out.size(), out.begin());
        std::copy(udp.begin(), udp.end(), out.begin() + static_cast<std::ptrdiff_t>(l4));
        if (!ipv6) {
            finish_ip(out, f, out.size() - l3, id, load_be16(frame, l3 + 6));
        }
        sink(out);
        return std::size_t { 1 };
    }

    // Fragment offsets count 8-byte units: every fragment but the last is a multiple of 8.
    const std::size_t unit = r.gso_size & ~std::size_t { 7 };
    if (unit == 0) {
        return error(OffloadError::gso_size_too_small);
    }
    const std::size_t count = (total + unit - 1) / unit;
    if (count > r.max_segments) {
        return error(OffloadError::too_many_segments);
    }
    const std::size_t head = frag_begin + (ipv6 ? IPV6_FRAG_HEADER_BYTES : 0);
    if (head - l3 + unit > (ipv6 ? IPV6_HEADER_BYTES + IPV6_MAX_PAYLOAD : IPV4_MAX_LEN)) {
        return error(OffloadError::too_large);
    }
    if (scratch.size() < head + unit) {
        return error(OffloadError::scratch_too_small);
    }

    std::copy_n(frame.begin(), frag_begin, scratch.begin());
    if (ipv6) {
        // RFC 8200 §4.5: the fragment header takes over the next-header value of the last
        // unfragmentable header, which now names the fragment header.
        scratch[frag_begin] = frame[f.ipv6_unfrag_next];
        scratch[frag_begin + 1] = 0;
        store_be32(scratch, frag_begin + 4, r.ipv6_frag_id);
        scratch[f.ipv6_unfrag_next] = IP_PROTO_FRAGMENT;
    }
    // Where the UDP header sits in the fragmentable part.
    const std::size_t udp_at = l4 - frag_begin;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t off = i * unit;
        const std::size_t len = std::min(unit, total - off);
        const bool more = i + 1 < count;
        std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(frag_begin + off), len,
            scratch.begin() + static_cast<std::ptrdiff_t>(head));
        // The completed UDP header replaces the driver's, wherever it falls.
        for (std::size_t k = std::max(off, udp_at); k < std::min(off + len, udp_at + udp.size()); ++k) {
            scratch[head + k - off] = udp[k - udp_at];
        }
        const MutBytes out = scratch.first(head + len);
        if (ipv6) {
            store_be16(out, frag_begin + 2, static_cast<std::uint16_t>(off | (more ? 1U : 0U)));
            finish_ip(out, f, out.size() - l3, 0, 0);
        } else {
            // Fragments share the identification; DF is dropped, as Linux's UFO does.
            finish_ip(out, f, out.size() - l3, id, static_cast<std::uint16_t>((off >> 3) | (more ? IPV4_MF : 0U)));
        }
        sink(out);
    }
    return count;
}

} // namespace

std::string_view to_string(OffloadError e) noexcept
{
    switch (e) {
    case OffloadError::csum_out_of_range:
        return "csum_start + csum_offset is past the end of the frame";
    case OffloadError::not_gso:
        return "gso_type is NONE";
    case OffloadError::unknown_gso_type:
        return "unknown gso_type";
    case OffloadError::ecn_without_tcp:
        return "GSO ECN flag on a UDP gso_type";
    case OffloadError::gso_size_zero:
        return "gso_size is 0";
    case OffloadError::gso_size_too_small:
        return "UFO gso_size is below 8";
    case OffloadError::hdr_len_beyond_frame:
        return "hdr_len is larger than the frame";
    case OffloadError::hdr_len_mismatch:
        return "hdr_len differs from the headers (VIRTIO_NET_F_GUEST_HDRLEN)";
    case OffloadError::l3_unknown:
        return "no valid IPv4 or IPv6 header";
    case OffloadError::ip_version_mismatch:
        return "IP version does not match gso_type";
    case OffloadError::already_fragment:
        return "the packet is an IP fragment";
    case OffloadError::l4_mismatch:
        return "no valid transport header of the gso_type's protocol";
    case OffloadError::too_many_segments:
        return "too many segments";
    case OffloadError::too_large:
        return "a segment would exceed the IP length field";
    case OffloadError::scratch_too_small:
        return "scratch buffer too small for a segment";
    }
    return "unknown offload error";
}

OffloadResult<void> complete_checksum(std::span<std::uint8_t> frame, std::uint16_t csum_start,
    std::uint16_t csum_offset) noexcept
{
    const std::size_t field = std::size_t { csum_start } + csum_offset;
    if (field > frame.size() || frame.size() - field < 2) {
        return error(OffloadError::csum_out_of_range);
    }
    Checksum c;
    c.add(frame.subspan(csum_start));
    const std::uint16_t sum = c.finish();
    store_be16(frame, field, sum == 0 ? 0xffff : sum);
    return {};
}

OffloadResult<std::size_t> segment(std::span<const std::uint8_t> frame, const GsoRequest& r,
    std::span<std::uint8_t> scratch, FrameSink sink)
{
    const auto type = static_cast<std::uint8_t>(r.gso_type & ~VIRTIO_NET_HDR_GSO_ECN);
    const bool ecn = (r.gso_type & VIRTIO_NET_HDR_GSO_ECN) != 0;
    if (type == VIRTIO_NET_HDR_GSO_NONE) {
        return error(OffloadError::not_gso);
    }
    const bool tcp = type == VIRTIO_NET_HDR_GSO_TCPV4 || type == VIRTIO_NET_HDR_GSO_TCPV6;
    if (!tcp && type != VIRTIO_NET_HDR_GSO_UDP && type != VIRTIO_NET_HDR_GSO_UDP_L4) {
        return error(OffloadError::unknown_gso_type);
    }
    if (ecn && !tcp) {
        return error(OffloadError::ecn_without_tcp);
    }
    if (r.gso_size == 0) {
        return error(OffloadError::gso_size_zero);
    }
    if (r.hdr_len > frame.size()) {
        return error(OffloadError::hdr_len_beyond_frame);
    }
    const FrameInfo f = parse_frame(frame);
    if (f.l3 == L3::unknown) {
        return error(OffloadError::l3_unknown);
    }
    if ((type == VIRTIO_NET_HDR_GSO_TCPV4 && f.l3 != L3::ipv4) || (type == VIRTIO_NET_HDR_GSO_TCPV6 && f.l3 != L3::ipv6)) {
        return error(OffloadError::ip_version_mismatch);
    }
    if (f.fragment) {
        return error(OffloadError::already_fragment);
    }
    if (f.l4 != (tcp ? L4::tcp : L4::udp)) {
        return error(OffloadError::l4_mismatch);
    }
    if (r.hdr_len_exact && r.hdr_len != f.l4_end()) {
        return error(OffloadError::hdr_len_mismatch);
    }
    if (type == VIRTIO_NET_HDR_GSO_UDP) {
        return fragment_udp(frame, f, r, scratch, sink);
    }
    return segment_l4(frame, f, r, scratch, sink);
}

} // namespace vmm::virtio::net
