// SPDX-License-Identifier: Apache-2.0
// Transmit offloads in software: completing a partial checksum, and segmenting a GSO frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>

#include "vmm/base/result.hpp"

namespace vmm::virtio::net {

// Why a frame's virtio_net_hdr could not be acted on. Each is a driver error (or a frame this
// code does not handle); the device drops the frame.
enum class OffloadError : std::uint8_t {
    csum_out_of_range = 1, // csum_start + csum_offset + 2 past the end of the frame
    not_gso,               // segment() called with gso_type NONE
    unknown_gso_type,      // not TCPV4, TCPV6, UDP or UDP_L4
    ecn_without_tcp,       // the ECN flag on a UDP type
    gso_size_zero,         // a GSO type with gso_size 0
    gso_size_too_small,    // UFO: gso_size below 8, the fragment offset unit
    hdr_len_beyond_frame,  // hdr_len larger than the frame
    hdr_len_mismatch,      // VIRTIO_NET_F_GUEST_HDRLEN promised an exact hdr_len, and it is not
    l3_unknown,            // no IPv4/IPv6 header could be parsed (truncated or malformed)
    ip_version_mismatch,   // TCPV4 on IPv6 or TCPV6 on IPv4
    already_fragment,      // the packet is an IP fragment already
    l4_mismatch,           // no (complete) TCP header for a TCP type, or UDP header for a UDP type
    too_many_segments,     // more segments than the caller's limit
    too_large,             // a segment's IP length would not fit its 16-bit field
    scratch_too_small,     // the caller's buffer cannot hold one output frame
};

[[nodiscard]] std::string_view to_string(OffloadError error) noexcept;

template <class T>
using OffloadResult = Expected<T, OffloadError>;

// virtio 1.2 §5.1.6.2 (VIRTIO_NET_HDR_F_NEEDS_CSUM): sums the frame from csum_start to its end,
// where the field at csum_start + csum_offset holds the pseudo-header sum the driver put there,
// and stores the complement in that field. A result of 0 is stored as 0xffff, as Linux's
// skb_checksum_help does: equal in one's complement, and the only valid form for UDP.
[[nodiscard]] OffloadResult<void> complete_checksum(std::span<std::uint8_t> frame, std::uint16_t csum_start,
    std::uint16_t csum_offset) noexcept;

// A non-owning reference to a callable taking each output frame; no allocation. The callable
// must outlive the call that uses the sink.
class FrameSink {
public:
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, FrameSink>
            && std::is_invocable_v<F&, std::span<const std::uint8_t>>)
    FrameSink(F&& f) noexcept // NOLINT(google-explicit-constructor)
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f))))
        , call_(&invoke<std::remove_reference_t<F>>)
    {
    }

    void operator()(std::span<const std::uint8_t> frame) const { call_(object_, frame); }

private:
    template <class F>
    static void invoke(void* object, std::span<const std::uint8_t> frame)
    {
        (*static_cast<F*>(object))(frame);
    }

    void* object_;
    void (*call_)(void*, std::span<const std::uint8_t>);
};

// What the device knows about a GSO frame: its virtio_net_hdr fields and the limits it sets.
struct GsoRequest {
    std::uint8_t gso_type = 0;  // VIRTIO_NET_HDR_GSO_*, with the ECN flag
    std::uint16_t gso_size = 0; // payload bytes per segment (UFO: IP payload bytes per fragment)
    std::uint16_t hdr_len = 0;
    // VIRTIO_NET_F_GUEST_HDRLEN negotiated: hdr_len must equal the parsed header length.
    // Otherwise hdr_len is only a hint (§5.1.6.2.2) and the parsed length is used.
    bool hdr_len_exact = false;
    std::uint32_t ipv6_frag_id = 0;  // identification for the fragment header of IPv6 UFO
    std::size_t max_segments = 1024; // refuse frames that would make more output frames
};

// Segments the GSO frame `frame` (Ethernet header first, no virtio_net_hdr) into frames of at
// most the headers plus gso_size payload bytes, each built in `scratch` and passed to `sink`
// before the next is built. Every check is made before the first frame is emitted: on error
// nothing was emitted. Returns the number of frames emitted.
//
// - TCPV4/TCPV6: per segment, the IPv4 total length, identification (+1 per segment) and header
//   checksum, or the IPv6 payload length; the TCP sequence number advanced by the bytes before
//   it; FIN and PSH on the last segment only, CWR on the first only; the TCP checksum.
// - UDP_L4 (USO): one UDP datagram per segment, each with its own length and checksum (and
//   IPv4 identification +1 per segment).
// - UDP (UFO): the UDP checksum over the whole datagram, then IP fragmentation: IPv4 fragments
//   sharing the identification, with offsets and MF; IPv6 fragments each with a fragment header
//   carrying ipv6_frag_id, inserted after the unfragmentable part. gso_size is rounded down to a
//   multiple of 8; a datagram that fits in one fragment is sent whole.
//
// The ECN flag is accepted with the TCP types only; the CWR bit it describes is in the TCP
// header and handled as above. scratch must hold the headers plus gso_size bytes (plus 8 for
// IPv6 UFO).
[[nodiscard]] OffloadResult<std::size_t> segment(std::span<const std::uint8_t> frame, const GsoRequest& request,
    std::span<std::uint8_t> scratch, FrameSink sink);

} // namespace vmm::virtio::net
