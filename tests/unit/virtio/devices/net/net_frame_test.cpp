// SPDX-License-Identifier: Apache-2.0
// Frame parsing: real IPv4/IPv6 frames with VLAN tags and extension headers, and broken ones.
#include <memory>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_frames.hpp"
#include "virtio/devices/net/frame.hpp"

using namespace vmm::virtio::net;
using namespace net_test;

namespace {

// An IPv4 TCP SYN with an MSS option (data offset 6).
Bytes ipv4_syn()
{
    const Bytes t = tcp(40000, 80, 0x11223344, 0x02, { 0x02, 0x04, 0x05, 0xb4 });
    return concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 6, t.size()), t });
}

// IPv6 / hop-by-hop / type 2 routing / destination options with a home address / UDP.
Bytes ipv6_udp_ext(std::size_t payload = 11)
{
    const Bytes u = concat({ udp(5353, 53, payload), payload_pattern(payload) });
    const Bytes ext = concat({ hop_by_hop(43), routing_type2(60, IP6_RH2), dstopts_home(17, IP6_HOME) });
    return concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 0, ext.size() + u.size()), ext, u });
}

// Parses a copy of exactly `n` bytes on the heap, so that ASan sees any read past them.
FrameInfo parse_copy(const Bytes& frame, std::size_t n, std::size_t frame_len)
{
    const auto copy = std::make_unique<std::uint8_t[]>(n == 0 ? 1 : n);
    std::copy_n(frame.begin(), n, copy.get());
    return parse_frame(std::span<const std::uint8_t>(copy.get(), n), frame_len);
}

} // namespace

TEST_CASE("frame: an IPv4 TCP SYN", "[net][frame]")
{
    const Bytes f = ipv4_syn();
    REQUIRE(f.size() == 58);
    const FrameInfo i = parse_frame(f);
    CHECK(i.ethernet);
    CHECK(i.dst == MAC_B);
    CHECK(i.src == MAC_A);
    CHECK(i.vlan_count == 0);
    CHECK(i.ethertype == 0x0800);
    CHECK(i.l3 == L3::ipv4);
    CHECK(i.l3_offset == 14);
    CHECK(i.l3_len == 20);
    CHECK(i.ip_end == 58);
    CHECK(i.ip_protocol == 6);
    CHECK_FALSE(i.fragment);
    CHECK(i.src_addr_offset() == 26);
    CHECK(i.dst_addr_offset() == 30);
    CHECK(i.addr_len() == 4);
    CHECK(i.l4 == L4::tcp);
    CHECK(i.l4_offset == 34);
    CHECK(i.l4_len == 24);
    CHECK(i.l4_end() == 58);
}

TEST_CASE("frame: IPv4 options and Ethernet padding", "[net][frame]")
{
    const Bytes u = udp(1, 2, 4);
    // IHL 6 (a 4-byte option: NOP NOP NOP EOL), then 4 bytes of padding after the packet.
    Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 17, u.size() + 4, 1, 0, { 1, 1, 1, 0 }), u,
        payload_pattern(4), Bytes(4, 0) });
    const FrameInfo i = parse_frame(f);
    CHECK(i.l3 == L3::ipv4);
    CHECK(i.l3_len == 24);
    CHECK(i.l4 == L4::udp);
    CHECK(i.l4_offset == 38);
    CHECK(i.l4_len == 8);
    CHECK(i.ip_end == f.size() - 4); // padding excluded
}

TEST_CASE("frame: 802.1Q and 802.1ad tags", "[net][frame]")
{
    const Bytes t = tcp(1, 2, 3, 0x10);
    const Bytes ip = ipv4(IP4_A, IP4_B, 6, t.size());
    SECTION("one customer tag")
    {
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x8100), vlan_tag(0xa064, 0x0800), ip, t });
        const FrameInfo i = parse_frame(f);
        REQUIRE(i.vlan_count == 1);
        CHECK(i.vlans[0].tpid == 0x8100);
        CHECK(i.vlans[0].tci == 0xa064);
        CHECK(i.vlans[0].id() == 100);
        CHECK(i.ethertype == 0x0800);
        CHECK(i.l3_offset == 18);
        CHECK(i.l4 == L4::tcp);
        CHECK(i.l4_offset == 38);
    }
    SECTION("QinQ: service tag then customer tag")
    {
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x88a8), vlan_tag(0x0123, 0x8100), vlan_tag(0x0fff, 0x0800),
            ip, t });
        const FrameInfo i = parse_frame(f);
        REQUIRE(i.vlan_count == 2);
        CHECK(i.vlans[0].tpid == 0x88a8);
        CHECK(i.vlans[0].id() == 0x123);
        CHECK(i.vlans[1].tpid == 0x8100);
        CHECK(i.vlans[1].id() == 0xfff);
        CHECK(i.l3_offset == 22);
        CHECK(i.l4 == L4::tcp);
    }
    SECTION("a third tag is not followed")
    {
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x88a8), vlan_tag(1, 0x8100), vlan_tag(2, 0x8100),
            vlan_tag(3, 0x0800), ip, t });
        const FrameInfo i = parse_frame(f);
        CHECK(i.vlan_count == 2);
        CHECK(i.ethertype == 0x8100);
        CHECK(i.l3 == L3::unknown);
        CHECK(i.l4 == L4::unknown);
    }
    SECTION("a truncated tag")
    {
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x8100), Bytes { 0x00 } });
        const FrameInfo i = parse_frame(f);
        CHECK(i.ethernet);
        CHECK(i.vlan_count == 0);
        CHECK(i.l3 == L3::unknown);
    }
}

TEST_CASE("frame: IPv6 UDP behind hop-by-hop, routing type 2 and a home address option", "[net][frame]")
{
    const Bytes f = ipv6_udp_ext(11);
    const FrameInfo i = parse_frame(f);
    CHECK(i.l3 == L3::ipv6);
    CHECK(i.l3_offset == 14);
    CHECK(i.src_addr_offset() == 22);
    CHECK(i.dst_addr_offset() == 38);
    CHECK(i.addr_len() == 16);
    CHECK(i.ipv6_ext);
    // 40 + hop-by-hop 8 + routing 24 + destination options 24.
    CHECK(i.l3_len == 96);
    CHECK(i.ipv6_rh2_address == 14 + 40 + 8 + 8);
    CHECK(i.ipv6_home_address == 14 + 40 + 8 + 24 + 8);
    CHECK(std::equal(IP6_RH2.begin(), IP6_RH2.end(), f.begin() + static_cast<std::ptrdiff_t>(i.ipv6_rh2_address)));
    CHECK(std::equal(IP6_HOME.begin(), IP6_HOME.end(), f.begin() + static_cast<std::ptrdiff_t>(i.ipv6_home_address)));
    // The unfragmentable part ends after the routing header, whose next-header byte would name
    // an inserted fragment header.
    CHECK(i.ipv6_unfrag_end == 14 + 40 + 8 + 24);
    CHECK(i.ipv6_unfrag_next == 14 + 40 + 8);
    CHECK(i.ip_protocol == 17);
    CHECK_FALSE(i.fragment);
    CHECK(i.l4 == L4::udp);
    CHECK(i.l4_offset == 110);
    CHECK(i.ip_end == f.size());
}

TEST_CASE("frame: IPv6 without extension headers", "[net][frame]")
{
    const Bytes t = tcp(1, 2, 3, 0x10);
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 6, t.size()), t });
    const FrameInfo i = parse_frame(f);
    CHECK(i.l3 == L3::ipv6);
    CHECK_FALSE(i.ipv6_ext);
    CHECK(i.l3_len == 40);
    CHECK(i.ipv6_unfrag_end == 54);
    CHECK(i.ipv6_unfrag_next == 20);
    CHECK(i.ipv6_home_address == 0);
    CHECK(i.ipv6_rh2_address == 0);
    CHECK(i.l4 == L4::tcp);
    CHECK(i.l4_offset == 54);
}

TEST_CASE("frame: fragments have no transport header", "[net][frame]")
{
    const Bytes u = concat({ udp(1, 2, 8), payload_pattern(8) });
    SECTION("IPv4 first fragment (MF)")
    {
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 17, u.size(), 7, 0x2000), u });
        const FrameInfo i = parse_frame(f);
        CHECK(i.l3 == L3::ipv4);
        CHECK(i.fragment);
        CHECK(i.ip_protocol == 17);
        CHECK(i.l4 == L4::unknown);
    }
    SECTION("IPv4 later fragment (offset)")
    {
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 17, u.size(), 7, 0x0005), u });
        CHECK(parse_frame(f).fragment);
        CHECK(parse_frame(f).l4 == L4::unknown);
    }
    SECTION("IPv4 with only DF is whole")
    {
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 17, u.size(), 7, 0x4000), u });
        CHECK_FALSE(parse_frame(f).fragment);
        CHECK(parse_frame(f).l4 == L4::udp);
    }
    SECTION("IPv6 fragment header with M set")
    {
        const Bytes fh = fragment_header(17, 0, true, 0xabcd);
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 44, fh.size() + u.size()), fh, u });
        const FrameInfo i = parse_frame(f);
        CHECK(i.fragment);
        CHECK(i.ipv6_ext);
        CHECK(i.ip_protocol == 17);
        CHECK(i.l4 == L4::unknown);
    }
    SECTION("IPv6 atomic fragment (offset 0, M clear) is whole")
    {
        const Bytes fh = fragment_header(17, 0, false, 0xabcd);
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 44, fh.size() + u.size()), fh, u });
        const FrameInfo i = parse_frame(f);
        CHECK_FALSE(i.fragment);
        CHECK(i.l4 == L4::udp);
        CHECK(i.l4_offset == 14 + 40 + 8);
    }
}

TEST_CASE("frame: a prefix of a long frame is parsed against the full length", "[net][frame]")
{
    const Bytes t = tcp(1, 2, 3, 0x18);
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 6, t.size() + 1400), t, payload_pattern(1400) });
    const FrameInfo i = parse_copy(f, 64, f.size());
    CHECK(i.l3 == L3::ipv4);
    CHECK(i.ip_end == f.size());
    CHECK(i.l4 == L4::tcp);
    // The same 64 bytes taken as the whole frame: the IP length runs past it.
    CHECK(parse_copy(f, 64, 64).l3 == L3::unknown);
}

TEST_CASE("frame: every truncation stays in bounds and stops at the cut layer", "[net][frame]")
{
    for (const Bytes& f : { ipv4_syn(), ipv6_udp_ext(3) }) {
        const FrameInfo whole = parse_frame(f);
        for (std::size_t n = 0; n <= f.size(); ++n) {
            INFO("first " << n << " of " << f.size() << " bytes");
            // As a prefix of the full frame: each layer is known once its header is in.
            const FrameInfo p = parse_copy(f, n, f.size());
            CHECK(p.ethernet == (n >= 14));
            CHECK((p.l3 != L3::unknown) == (n >= whole.l3_offset + (whole.l3 == L3::ipv4 ? 20 : 40)));
            CHECK((p.l4 != L4::unknown) == (n >= whole.l4_end()));
            // As a whole frame of n bytes: the IP length says it is cut short.
            const FrameInfo t = parse_copy(f, n, n);
            CHECK((t.l3 != L3::unknown) == (n == f.size()));
        }
    }
}

TEST_CASE("frame: malformed headers leave the layer unknown", "[net][frame]")
{
    const Bytes good = ipv4_syn();
    const std::size_t l3 = 14;
    const std::size_t l4 = 34;
    const auto with = [&](std::size_t off, std::uint8_t v) {
        Bytes f = good;
        f[off] = v;
        return parse_frame(f);
    };
    CHECK(with(l3, 0x44).l3 == L3::unknown);          // IHL 4: shorter than the fixed header
    CHECK(with(l3, 0x4f).l3 == L3::unknown);          // IHL 15: 60 bytes, past the frame
    CHECK(with(l3, 0x65).l3 == L3::unknown);          // version 6 under ethertype IPv4
    CHECK(with(l3 + 2, 0xff).l3 == L3::unknown);      // total length past the frame
    CHECK(with(l3 + 3, 0x13).l3 == L3::unknown);      // total length 0x2c -> 0x13: below IHL
    CHECK(with(l4 + 12, 0x40).l4 == L4::unknown);     // TCP data offset 4
    CHECK(with(l4 + 12, 0x40).l3 == L3::ipv4);        // ... while IPv4 itself is fine
    CHECK(with(l4 + 12, 0x70).l4 == L4::unknown);     // data offset 7: past the IP packet
    CHECK(with(13, 0x08).l3 == L3::unknown);          // ethertype 0x0808
    CHECK(parse_frame(Bytes(13, 0)).ethernet == false);
    CHECK(parse_frame(Bytes {}).l3 == L3::unknown);

    SECTION("IPv6: payload length past the frame")
    {
        Bytes f = ipv6_udp_ext();
        f[14 + 4] = 0xff;
        CHECK(parse_frame(f).l3 == L3::unknown);
    }
    SECTION("IPv6: an extension header longer than the packet")
    {
        Bytes f = ipv6_udp_ext();
        f[14 + 40 + 8 + 1] = 200; // routing header length
        const FrameInfo i = parse_frame(f);
        CHECK(i.l3 == L3::ipv6);
        CHECK(i.ipv6_ext);
        CHECK(i.l4 == L4::unknown);
    }
    SECTION("IPv6: hop-by-hop options after another extension header")
    {
        Bytes f = ipv6_udp_ext();
        f[14 + 40 + 8 + 24] = 0; // destination options now says hop-by-hop follows
        CHECK(parse_frame(f).l4 == L4::unknown);
    }
    SECTION("IPv6: a malformed option ends the scan without a home address")
    {
        Bytes f = ipv6_udp_ext();
        f[14 + 40 + 8 + 24 + 4] = 60; // the PadN length now runs past the header
        const FrameInfo i = parse_frame(f);
        CHECK(i.ipv6_home_address == 0);
        CHECK(i.l4 == L4::udp);
    }
    SECTION("IPv6: a routing header of another type has no type 2 address")
    {
        Bytes f = ipv6_udp_ext();
        f[14 + 40 + 8 + 2] = 4; // segment routing header
        const FrameInfo i = parse_frame(f);
        CHECK(i.ipv6_rh2_address == 0);
        CHECK(i.l4 == L4::udp);
    }
    SECTION("IPv6: ESP ends the walk")
    {
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 50, 16), payload_pattern(16) });
        const FrameInfo i = parse_frame(f);
        CHECK(i.l3 == L3::ipv6);
        CHECK(i.ipv6_ext);
        CHECK(i.ip_protocol == 50);
        CHECK(i.l4 == L4::unknown);
    }
    SECTION("IPv6 under ethertype IPv6 but version 4")
    {
        Bytes f = ipv6_udp_ext();
        f[14] = 0x45;
        CHECK(parse_frame(f).l3 == L3::unknown);
    }
}

TEST_CASE("frame: non-IP frames", "[net][frame]")
{
    const Bytes arp = concat({ ethernet(MAC_BROADCAST, MAC_A, 0x0806), payload_pattern(28) });
    const FrameInfo i = parse_frame(arp);
    CHECK(i.ethernet);
    CHECK(i.ethertype == 0x0806);
    CHECK(i.l3 == L3::unknown);
    CHECK(i.src_addr_offset() == 0);
}
