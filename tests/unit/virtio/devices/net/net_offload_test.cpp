// SPDX-License-Identifier: Apache-2.0
// Offloads: partial checksum completion, TSO, USO and UFO, every field of every segment, and
// the headers a hostile driver can send.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_frames.hpp"
#include "virtio/devices/net/offload.hpp"
#include "virtio/spec/net.hpp"

using namespace vmm::virtio;
using namespace vmm::virtio::net;
using namespace net_test;

namespace {

constexpr std::uint8_t ACK = 0x10;
constexpr std::uint8_t PSH = 0x08;
constexpr std::uint8_t FIN = 0x01;
constexpr std::uint8_t CWR = 0x80;

std::span<const std::uint8_t> sub(const Bytes& b, std::size_t off, std::size_t len = SIZE_MAX)
{
    return std::span<const std::uint8_t>(b).subspan(off, len == SIZE_MAX ? b.size() - off : len);
}

// Runs segment() with a scratch buffer of exactly `scratch_size` bytes on the heap (ASan sees
// any write past it) and collects the output frames.
struct Run {
    OffloadResult<std::size_t> result;
    std::vector<Bytes> frames;
};

Run run(const Bytes& frame, const GsoRequest& r, std::size_t scratch_size = 65536)
{
    Run out;
    std::vector<std::uint8_t> scratch(scratch_size);
    out.result = segment(frame, r, scratch, [&out](std::span<const std::uint8_t> f) {
        out.frames.emplace_back(f.begin(), f.end());
    });
    return out;
}

GsoRequest gso(std::uint8_t type, std::uint16_t size, std::uint16_t hdr_len = 0)
{
    GsoRequest r;
    r.gso_type = type;
    r.gso_size = size;
    r.hdr_len = hdr_len;
    return r;
}

// The folded pseudo-header sum a driver stores in the checksum field with NEEDS_CSUM.
std::uint16_t pseudo_sum(const Bytes& pseudo)
{
    return static_cast<std::uint16_t>(~ref_checksum(pseudo));
}

Bytes tcp4_frame(std::size_t payload_len, std::uint8_t flags, std::uint32_t seq, std::uint16_t id)
{
    const Bytes t = tcp(40000, 443, seq, flags);
    return concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 6, t.size() + payload_len, id, 0x4000), t,
        payload_pattern(payload_len) });
}

} // namespace

TEST_CASE("offload: NEEDS_CSUM completes a TCP/IPv4 checksum over an odd payload", "[net][offload]")
{
    Bytes f = tcp4_frame(101, ACK | PSH, 1, 1);
    const std::size_t tcp_len = f.size() - 34;
    put16(f, 34 + 16, pseudo_sum(pseudo4(IP4_A, IP4_B, 6, tcp_len)));
    REQUIRE(complete_checksum(f, 34, 16));
    CHECK(l4_checksum_ok(pseudo4(IP4_A, IP4_B, 6, tcp_len), sub(f, 34)));
}

TEST_CASE("offload: NEEDS_CSUM completes a UDP/IPv6 checksum", "[net][offload]")
{
    const Bytes u = udp(1000, 2000, 37);
    Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 17, u.size() + 37), u, payload_pattern(37) });
    put16(f, 54 + 6, pseudo_sum(pseudo6(IP6_A, IP6_B, 17, 45)));
    REQUIRE(complete_checksum(f, 54, 6));
    CHECK(l4_checksum_ok(pseudo6(IP6_A, IP6_B, 17, 45), sub(f, 54)));
}

TEST_CASE("offload: NEEDS_CSUM stores a zero result as ffff", "[net][offload]")
{
    Bytes f { 0xff, 0xff, 0x00, 0x00 };
    REQUIRE(complete_checksum(f, 0, 2));
    CHECK(f == Bytes { 0xff, 0xff, 0xff, 0xff });
}

TEST_CASE("offload: NEEDS_CSUM offsets past the frame are refused", "[net][offload]")
{
    const Bytes original = payload_pattern(60);
    Bytes f = original;
    CHECK(complete_checksum(f, 58, 0)); // the last two bytes
    f = original;
    for (const auto& [start, offset] : { std::pair<std::uint16_t, std::uint16_t> { 59, 0 }, { 60, 0 }, { 0, 59 },
             { 30, 29 }, { 0xffff, 0xffff }, { 0xffff, 0 }, { 0, 0xffff } }) {
        INFO("csum_start " << start << " csum_offset " << offset);
        const auto r = complete_checksum(f, start, offset);
        REQUIRE_FALSE(r);
        CHECK(r.error() == OffloadError::csum_out_of_range);
        CHECK(f == original);
    }
}

TEST_CASE("offload: TSO over IPv4, every field of every segment", "[net][offload]")
{
    const std::uint32_t seq = 0xfffff000; // wraps during the second segment
    const std::uint16_t id = 0xfffe;      // wraps at the third
    const Bytes f = tcp4_frame(4000, ACK | PSH | FIN | CWR, seq, id);
    const Bytes payload(f.begin() + 54, f.end());
    for (const std::uint8_t type : { VIRTIO_NET_HDR_GSO_TCPV4,
             static_cast<std::uint8_t>(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN) }) {
        // hdr_len is a hint without GUEST_HDRLEN: a wrong one changes nothing.
        const Run r = run(f, gso(type, 1448, 14), 54 + 1448);
        REQUIRE(r.result);
        REQUIRE(*r.result == 3);
        REQUIRE(r.frames.size() == 3);
        Bytes joined;
        const std::array<std::size_t, 3> lens { 1448, 1448, 1104 };
        const std::array<std::uint8_t, 3> flags { ACK | CWR, ACK, ACK | PSH | FIN };
        for (std::size_t k = 0; k < 3; ++k) {
            INFO("segment " << k);
            const Bytes& s = r.frames[k];
            REQUIRE(s.size() == 54 + lens[k]);
            CHECK(std::equal(f.begin(), f.begin() + 14, s.begin())); // Ethernet header
            CHECK(s[14] == 0x45);
            CHECK(get16(s, 16) == 40 + lens[k]);
            CHECK(get16(s, 18) == static_cast<std::uint16_t>(id + k));
            CHECK(get16(s, 20) == 0x4000); // DF kept
            CHECK(s[22] == f[22]);         // TTL
            CHECK(s[23] == 6);
            CHECK(std::equal(f.begin() + 26, f.begin() + 34, s.begin() + 26)); // addresses
            CHECK(ref_checksum(sub(s, 14, 20)) == 0);                          // IPv4 header checksum
            CHECK(get16(s, 34) == 40000);
            CHECK(get16(s, 36) == 443);
            CHECK(get32(s, 38) == static_cast<std::uint32_t>(seq + k * 1448));
            CHECK(get32(s, 42) == get32(f, 42)); // ack
            CHECK(s[46] == 0x50);
            CHECK(s[47] == flags[k]);
            CHECK(get16(s, 48) == get16(f, 48)); // window
            CHECK(l4_checksum_ok(pseudo4(IP4_A, IP4_B, 6, 20 + lens[k]), sub(s, 34)));
            joined.insert(joined.end(), s.begin() + 54, s.end());
        }
        CHECK(joined == payload);
    }
}

TEST_CASE("offload: TSO over IPv6 behind a VLAN tag and a hop-by-hop header", "[net][offload]")
{
    const Bytes t = tcp(1, 2, 100, ACK | PSH);
    const Bytes hbh = hop_by_hop(6);
    const Bytes payload = payload_pattern(3001, 9);
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x8100), vlan_tag(42, 0x86dd),
        ipv6(IP6_A, IP6_B, 0, hbh.size() + t.size() + payload.size()), hbh, t, payload });
    const std::size_t hdr = 18 + 40 + 8 + 20;
    const Run r = run(f, gso(VIRTIO_NET_HDR_GSO_TCPV6, 1000), hdr + 1000);
    REQUIRE(r.result);
    REQUIRE(r.frames.size() == 4);
    Bytes joined;
    for (std::size_t k = 0; k < 4; ++k) {
        INFO("segment " << k);
        const Bytes& s = r.frames[k];
        const std::size_t len = k < 3 ? 1000 : 1;
        REQUIRE(s.size() == hdr + len);
        CHECK(std::equal(f.begin(), f.begin() + 18, s.begin())); // Ethernet and tag
        CHECK(get16(s, 18 + 4) == 8 + 20 + len);                   // payload length
        CHECK(std::equal(f.begin() + 58, f.begin() + 66, s.begin() + 58)); // hop-by-hop
        CHECK(get32(s, 66 + 4) == 100 + k * 1000);
        CHECK(s[66 + 13] == (k == 3 ? (ACK | PSH) : ACK));
        CHECK(l4_checksum_ok(pseudo6(IP6_A, IP6_B, 6, 20 + len), sub(s, 66)));
        joined.insert(joined.end(), s.begin() + static_cast<std::ptrdiff_t>(hdr), s.end());
    }
    CHECK(joined == payload);
}

TEST_CASE("offload: TSO over IPv6 sums the pseudo-header to the final destination", "[net][offload]")
{
    // RFC 8200 §8.1: with a routing header, the pseudo-header has the final destination, here
    // the address of the type 2 routing header.
    const Bytes t = tcp(1, 2, 0, ACK);
    const Bytes rh = routing_type2(6, IP6_RH2);
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 43, rh.size() + t.size() + 100), rh,
        t, payload_pattern(100) });
    const Run r = run(f, gso(VIRTIO_NET_HDR_GSO_TCPV6, 60));
    REQUIRE(r.result);
    REQUIRE(r.frames.size() == 2);
    const std::size_t l4 = 14 + 40 + 24;
    CHECK(l4_checksum_ok(pseudo6(IP6_A, IP6_RH2, 6, 80), sub(r.frames[0], l4)));
    CHECK_FALSE(l4_checksum_ok(pseudo6(IP6_A, IP6_B, 6, 80), sub(r.frames[0], l4)));
}

TEST_CASE("offload: USO over IPv4 makes separate datagrams", "[net][offload]")
{
    const Bytes payload = payload_pattern(2500, 4);
    const Bytes u = udp(4789, 53, payload.size());
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 17, 8 + payload.size(), 0x0100, 0),
        u, payload });
    const Run r = run(f, gso(VIRTIO_NET_HDR_GSO_UDP_L4, 1000, 42), 42 + 1000);
    REQUIRE(r.result);
    REQUIRE(r.frames.size() == 3);
    Bytes joined;
    for (std::size_t k = 0; k < 3; ++k) {
        INFO("datagram " << k);
        const Bytes& s = r.frames[k];
        const std::size_t len = k < 2 ? 1000 : 500;
        REQUIRE(s.size() == 42 + len);
        CHECK(get16(s, 16) == 28 + len);
        CHECK(get16(s, 18) == 0x0100 + k);
        CHECK(get16(s, 20) == 0); // not fragments
        CHECK(ref_checksum(sub(s, 14, 20)) == 0);
        CHECK(get16(s, 34) == 4789);
        CHECK(get16(s, 36) == 53);
        CHECK(get16(s, 38) == 8 + len);
        CHECK(get16(s, 40) != 0);
        CHECK(l4_checksum_ok(pseudo4(IP4_A, IP4_B, 17, 8 + len), sub(s, 34)));
        joined.insert(joined.end(), s.begin() + 42, s.end());
    }
    CHECK(joined == payload);
}

TEST_CASE("offload: USO over IPv6", "[net][offload]")
{
    const Bytes payload = payload_pattern(2401, 5);
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 17, 8 + payload.size()),
        udp(1, 2, payload.size()), payload });
    const Run r = run(f, gso(VIRTIO_NET_HDR_GSO_UDP_L4, 1200));
    REQUIRE(r.result);
    REQUIRE(r.frames.size() == 3);
    Bytes joined;
    for (std::size_t k = 0; k < 3; ++k) {
        const Bytes& s = r.frames[k];
        const std::size_t len = k < 2 ? 1200 : 1;
        REQUIRE(s.size() == 62 + len);
        CHECK(get16(s, 18) == 8 + len);
        CHECK(get16(s, 58) == 8 + len);
        CHECK(l4_checksum_ok(pseudo6(IP6_A, IP6_B, 17, 8 + len), sub(s, 54)));
        joined.insert(joined.end(), s.begin() + 62, s.end());
    }
    CHECK(joined == payload);
}

TEST_CASE("offload: UFO over IPv4 fragments one datagram", "[net][offload]")
{
    const Bytes payload = payload_pattern(3000, 6);
    Bytes u = udp(5000, 6000, payload.size());
    put16(u, 4, 0x1234); // the driver's length is not trusted
    put16(u, 6, 0xbeef); // nor its checksum field
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x0800),
        ipv4(IP4_A, IP4_B, 17, 8 + payload.size(), 0x4242, 0x4000), u, payload });

    for (const std::uint16_t gso_size : { std::uint16_t { 1480 }, std::uint16_t { 1487 } }) {
        INFO("gso_size " << gso_size);
        const std::size_t unit = 1480; // 1487 rounds down to a multiple of 8
        const Run r = run(f, gso(VIRTIO_NET_HDR_GSO_UDP, gso_size), 34 + unit);
        REQUIRE(r.result);
        REQUIRE(r.frames.size() == 3); // 3008 bytes: 1480 + 1480 + 48
        Bytes datagram;
        for (std::size_t k = 0; k < 3; ++k) {
            INFO("fragment " << k);
            const Bytes& s = r.frames[k];
            const std::size_t len = k < 2 ? unit : 3008 - 2 * unit;
            REQUIRE(s.size() == 34 + len);
            CHECK(get16(s, 16) == 20 + len);
            CHECK(get16(s, 18) == 0x4242); // one identification for all
            CHECK(get16(s, 20) == ((k * unit / 8) | (k < 2 ? 0x2000U : 0U)));
            CHECK(s[23] == 17);
            CHECK(ref_checksum(sub(s, 14, 20)) == 0);
            datagram.insert(datagram.end(), s.begin() + 34, s.end());
        }
        REQUIRE(datagram.size() == 3008);
        CHECK(get16(datagram, 0) == 5000);
        CHECK(get16(datagram, 4) == 3008);
        CHECK(l4_checksum_ok(pseudo4(IP4_A, IP4_B, 17, 3008), datagram));
        CHECK(Bytes(datagram.begin() + 8, datagram.end()) == payload);
    }
}

TEST_CASE("offload: UFO over IPv6 inserts a fragment header after hop-by-hop", "[net][offload]")
{
    const Bytes payload = payload_pattern(3000, 7);
    const Bytes hbh = hop_by_hop(17);
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 0, 8 + 8 + payload.size()), hbh,
        udp(7, 8, payload.size()), payload });
    GsoRequest req = gso(VIRTIO_NET_HDR_GSO_UDP, 1448);
    req.ipv6_frag_id = 0xdeadbeef;
    const std::size_t head = 14 + 40 + 8 + 8;
    const Run r = run(f, req, head + 1448);
    REQUIRE(r.result);
    REQUIRE(r.frames.size() == 3); // 3008 bytes: 1448 + 1448 + 112
    Bytes datagram;
    for (std::size_t k = 0; k < 3; ++k) {
        INFO("fragment " << k);
        const Bytes& s = r.frames[k];
        const std::size_t len = k < 2 ? 1448 : 112;
        REQUIRE(s.size() == head + len);
        CHECK(s[20] == 0);                       // IPv6 next header: still hop-by-hop
        CHECK(get16(s, 18) == 8 + 8 + len);      // payload length
        CHECK(s[54] == 44);                      // hop-by-hop now names the fragment header
        CHECK(std::equal(f.begin() + 55, f.begin() + 62, s.begin() + 55));
        CHECK(s[62] == 17);                      // fragment header: next header UDP
        CHECK(s[63] == 0);
        CHECK(get16(s, 64) == ((k * 1448) | (k < 2 ? 1U : 0U)));
        CHECK(get32(s, 66) == 0xdeadbeef);
        datagram.insert(datagram.end(), s.begin() + static_cast<std::ptrdiff_t>(head), s.end());
    }
    REQUIRE(datagram.size() == 3008);
    CHECK(get16(datagram, 4) == 3008);
    CHECK(l4_checksum_ok(pseudo6(IP6_A, IP6_B, 17, 3008), datagram));
    CHECK(Bytes(datagram.begin() + 8, datagram.end()) == payload);
}

TEST_CASE("offload: UFO of a datagram that fits is sent whole", "[net][offload]")
{
    const Bytes u = udp(1, 2, 100);
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 17, 108, 9, 0), u, payload_pattern(100) });
    const Run r = run(f, gso(VIRTIO_NET_HDR_GSO_UDP, 1480), f.size());
    REQUIRE(r.result);
    REQUIRE(r.frames.size() == 1);
    const Bytes& s = r.frames[0];
    REQUIRE(s.size() == f.size());
    CHECK(get16(s, 20) == 0);
    CHECK(ref_checksum(sub(s, 14, 20)) == 0);
    CHECK(l4_checksum_ok(pseudo4(IP4_A, IP4_B, 17, 108), sub(s, 34)));
}

TEST_CASE("offload: a GSO frame with no payload is one frame", "[net][offload]")
{
    const Bytes f = tcp4_frame(0, ACK | FIN, 5, 5);
    const Run r = run(f, gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), 54);
    REQUIRE(r.result);
    REQUIRE(r.frames.size() == 1);
    CHECK(r.frames[0].size() == 54);
    CHECK(r.frames[0][47] == (ACK | FIN));
    CHECK(l4_checksum_ok(pseudo4(IP4_A, IP4_B, 6, 20), sub(r.frames[0], 34)));
}

TEST_CASE("offload: an exact hdr_len (GUEST_HDRLEN) must match the headers", "[net][offload]")
{
    const Bytes f = tcp4_frame(3000, ACK, 0, 0);
    GsoRequest r = gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448, 54);
    r.hdr_len_exact = true;
    CHECK(run(f, r).result);
    r.hdr_len = 66;
    const Run bad = run(f, r);
    REQUIRE_FALSE(bad.result);
    CHECK(bad.result.error() == OffloadError::hdr_len_mismatch);
    CHECK(bad.frames.empty());
}

TEST_CASE("offload: impossible headers are refused before anything is emitted", "[net][offload]")
{
    const Bytes tcp4 = tcp4_frame(3000, ACK, 0, 0);
    const Bytes t6 = tcp(1, 2, 3, ACK);
    const Bytes tcp6 = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 6, 20 + 3000), t6, payload_pattern(3000) });
    const Bytes udp4 = concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 17, 8 + 3000), udp(1, 2, 3000),
        payload_pattern(3000) });
    const auto expect = [](const Bytes& frame, const GsoRequest& r, OffloadError e, std::size_t scratch = 65536) {
        const Run out = run(frame, r, scratch);
        INFO("expected " << to_string(e));
        REQUIRE_FALSE(out.result);
        CHECK(out.result.error() == e);
        CHECK(out.frames.empty());
    };
    const auto with = [](Bytes f, std::size_t off, std::uint8_t v) {
        f[off] = v;
        return f;
    };
    expect(tcp4, gso(VIRTIO_NET_HDR_GSO_NONE, 1448), OffloadError::not_gso);
    expect(tcp4, gso(2, 1448), OffloadError::unknown_gso_type);
    expect(tcp4, gso(6, 1448), OffloadError::unknown_gso_type);
    expect(tcp4, gso(0x41, 1448), OffloadError::unknown_gso_type);
    expect(udp4, gso(VIRTIO_NET_HDR_GSO_UDP_L4 | VIRTIO_NET_HDR_GSO_ECN, 1000), OffloadError::ecn_without_tcp);
    expect(tcp4, gso(VIRTIO_NET_HDR_GSO_TCPV4, 0), OffloadError::gso_size_zero);
    expect(tcp4, gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448, static_cast<std::uint16_t>(tcp4.size() + 1)),
        OffloadError::hdr_len_beyond_frame);
    expect(tcp6, gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), OffloadError::ip_version_mismatch);
    expect(tcp4, gso(VIRTIO_NET_HDR_GSO_TCPV6, 1448), OffloadError::ip_version_mismatch);
    expect(tcp4, gso(VIRTIO_NET_HDR_GSO_UDP_L4, 1448), OffloadError::l4_mismatch);
    expect(tcp4, gso(VIRTIO_NET_HDR_GSO_UDP, 1448), OffloadError::l4_mismatch);
    expect(udp4, gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), OffloadError::l4_mismatch);
    expect(with(tcp4, 46, 0x40), gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), OffloadError::l4_mismatch); // data offset 4
    expect(with(tcp4, 14, 0x44), gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), OffloadError::l3_unknown);  // IHL 4
    expect(with(tcp4, 16, 0xff), gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), OffloadError::l3_unknown);  // length
    expect(Bytes(tcp4.begin(), tcp4.begin() + 40), gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), OffloadError::l3_unknown);
    expect(concat({ ethernet(MAC_B, MAC_A, 0x0806), payload_pattern(100) }), gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448),
        OffloadError::l3_unknown);
    expect(with(tcp4, 20, 0x20), gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), OffloadError::already_fragment); // MF
    expect(with(udp4, 20, 0x20), gso(VIRTIO_NET_HDR_GSO_UDP, 1448), OffloadError::already_fragment);
    expect(udp4, gso(VIRTIO_NET_HDR_GSO_UDP, 7), OffloadError::gso_size_too_small);
    expect(tcp4, gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448), OffloadError::scratch_too_small, 54 + 1447);
    expect(udp4, gso(VIRTIO_NET_HDR_GSO_UDP, 1480), OffloadError::scratch_too_small, 34 + 1479);
    expect(udp4, gso(VIRTIO_NET_HDR_GSO_UDP_L4, 1000), OffloadError::scratch_too_small, 42 + 999);
    // One byte per segment: 3000 segments, over the default limit of 1024.
    expect(tcp4, gso(VIRTIO_NET_HDR_GSO_TCPV4, 1), OffloadError::too_many_segments);
    GsoRequest two = gso(VIRTIO_NET_HDR_GSO_TCPV4, 1448);
    two.max_segments = 2;
    expect(tcp4, two, OffloadError::too_many_segments);
    two.gso_type = VIRTIO_NET_HDR_GSO_UDP;
    expect(udp4, two, OffloadError::too_many_segments);
}

TEST_CASE("offload: every error has a description", "[net][offload]")
{
    for (int e = 1; e <= static_cast<int>(OffloadError::scratch_too_small); ++e) {
        CHECK_FALSE(to_string(static_cast<OffloadError>(e)).empty());
        CHECK(to_string(static_cast<OffloadError>(e)) != "unknown offload error");
    }
}
