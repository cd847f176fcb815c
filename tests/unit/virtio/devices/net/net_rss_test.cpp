// SPDX-License-Identifier: Apache-2.0
// RSS: which fields each hash type takes from real frames (known Microsoft values where they
// apply), the _EX rules, queue selection, and the RSS/hash configuration commands.
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_frames.hpp"
#include "tests/unit/virtio/devices/net/rss_vectors.hpp"
#include "virtio/devices/net/rss.hpp"
#include "virtio/devices/net/toeplitz.hpp"

using namespace vmm::virtio;
using namespace vmm::virtio::net;
using namespace net_test;
using Catch::Matchers::Contains;

namespace {

constexpr std::uint32_t ALL = VIRTIO_NET_RSS_HASH_TYPE_ALL;

Bytes tcp4_frame(const V4Case& v, std::uint8_t proto = 6, std::uint16_t frag = 0x4000)
{
    const Bytes l4 = proto == 6 ? tcp(v.sport, v.dport, 1, 0x10) : udp(v.sport, v.dport, 0);
    return concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(v.src, v.dst, proto, l4.size(), 1, frag), l4 });
}

HashResult hash(const Bytes& frame, std::uint32_t types)
{
    return compute_hash(frame, parse_frame(frame), types, MS_KEY);
}

// IPv6 TCP behind hop-by-hop, a type 2 routing header and a Home Address option, with the
// addresses of a Microsoft IPv6 vector in the options: the _EX hashes then have known values.
Bytes tcp6_ext_frame(const V6Case& v)
{
    const Bytes t = tcp(v.sport, v.dport, 1, 0x10);
    const Bytes ext = concat({ hop_by_hop(43), routing_type2(60, v.dst), dstopts_home(6, v.src) });
    return concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 0, ext.size() + t.size()), ext, t });
}

std::uint32_t toeplitz_of(std::initializer_list<std::span<const std::uint8_t>> parts)
{
    return toeplitz_hash(MS_KEY, concat(parts));
}

Bytes ports(std::uint16_t s, std::uint16_t d)
{
    return Builder().u16(s).u16(d).done();
}

} // namespace

TEST_CASE("rss: IPv4 TCP takes addresses and ports (Microsoft vectors)", "[net][rss]")
{
    for (const auto& v : MS_V4) {
        const Bytes f = tcp4_frame(v);
        CHECK(hash(f, ALL).value == v.tcp_hash);
        CHECK(hash(f, ALL).report == VIRTIO_NET_HASH_REPORT_TCPv4);
        CHECK(hash(f, VIRTIO_NET_RSS_HASH_TYPE_TCPv4).value == v.tcp_hash);
        // Without TCPv4, the IPv4 type hashes the addresses only.
        const HashResult ip = hash(f, VIRTIO_NET_RSS_HASH_TYPE_IPv4 | VIRTIO_NET_RSS_HASH_TYPE_UDPv4);
        CHECK(ip.value == v.ip_hash);
        CHECK(ip.report == VIRTIO_NET_HASH_REPORT_IPv4);
        // Only types that do not apply: no hash.
        CHECK_FALSE(hash(f, VIRTIO_NET_RSS_HASH_TYPE_UDPv4 | VIRTIO_NET_RSS_HASH_TYPE_TCPv6).calculated());
    }
}

TEST_CASE("rss: IPv4 UDP hashes like TCP under UDPv4", "[net][rss]")
{
    const V4Case& v = MS_V4[1];
    const Bytes f = tcp4_frame(v, 17);
    const HashResult h = hash(f, ALL);
    CHECK(h.value == v.tcp_hash); // the same four fields
    CHECK(h.report == VIRTIO_NET_HASH_REPORT_UDPv4);
    CHECK(hash(f, VIRTIO_NET_RSS_HASH_TYPE_TCPv4 | VIRTIO_NET_RSS_HASH_TYPE_IPv4).report == VIRTIO_NET_HASH_REPORT_IPv4);
    CHECK_FALSE(hash(f, VIRTIO_NET_RSS_HASH_TYPE_TCPv4).calculated());
}

TEST_CASE("rss: an IPv4 fragment gets the address hash only", "[net][rss]")
{
    const V4Case& v = MS_V4[2];
    const Bytes f = tcp4_frame(v, 6, 0x2000); // first fragment: MF
    const HashResult h = hash(f, ALL);
    CHECK(h.value == v.ip_hash);
    CHECK(h.report == VIRTIO_NET_HASH_REPORT_IPv4);
    CHECK_FALSE(hash(f, VIRTIO_NET_RSS_HASH_TYPE_TCPv4 | VIRTIO_NET_RSS_HASH_TYPE_UDPv4).calculated());
}

TEST_CASE("rss: VLAN tags do not change the hash; non-IP and broken frames get none", "[net][rss]")
{
    const V4Case& v = MS_V4[3];
    const Bytes plain = tcp4_frame(v);
    Bytes tagged = concat({ ethernet(MAC_B, MAC_A, 0x8100), vlan_tag(7, 0x0800) });
    tagged.insert(tagged.end(), plain.begin() + 14, plain.end());
    CHECK(hash(tagged, ALL).value == v.tcp_hash);
    CHECK(hash(tagged, ALL).report == VIRTIO_NET_HASH_REPORT_TCPv4);

    const Bytes arp = concat({ ethernet(MAC_BROADCAST, MAC_A, 0x0806), payload_pattern(28) });
    CHECK_FALSE(hash(arp, ALL).calculated());
    Bytes bad_ihl = plain;
    bad_ihl[14] = 0x43;
    CHECK_FALSE(hash(bad_ihl, ALL).calculated());
    CHECK_FALSE(hash(Bytes(10, 0), ALL).calculated());
    CHECK_FALSE(hash(plain, 0).calculated());
}

TEST_CASE("rss: IPv6 without extension headers (Microsoft vectors)", "[net][rss]")
{
    for (const auto& v : MS_V6) {
        const Bytes t = tcp(v.sport, v.dport, 1, 0x10);
        const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(v.src, v.dst, 6, t.size()), t });
        CHECK(hash(f, ALL).value == v.tcp_hash);
        CHECK(hash(f, ALL).report == VIRTIO_NET_HASH_REPORT_TCPv6);
        const HashResult ip = hash(f, VIRTIO_NET_RSS_HASH_TYPE_IPv6 | VIRTIO_NET_RSS_HASH_TYPE_IPv4);
        CHECK(ip.value == v.ip_hash);
        CHECK(ip.report == VIRTIO_NET_HASH_REPORT_IPv6);
        // The _EX types are for packets with extension headers only.
        CHECK_FALSE(hash(f, VIRTIO_NET_RSS_HASH_TYPE_TCP_EX | VIRTIO_NET_RSS_HASH_TYPE_IP_EX).calculated());
    }
}

TEST_CASE("rss: IPv6 _EX types use the home address and the type 2 routing address", "[net][rss]")
{
    for (const auto& v : MS_V6) {
        const Bytes f = tcp6_ext_frame(v);
        const HashResult tcp_ex = hash(f, ALL);
        CHECK(tcp_ex.value == v.tcp_hash);
        CHECK(tcp_ex.report == VIRTIO_NET_HASH_REPORT_TCPv6_EX);
        const HashResult ip_ex = hash(f, VIRTIO_NET_RSS_HASH_TYPE_IP_EX);
        CHECK(ip_ex.value == v.ip_hash);
        CHECK(ip_ex.report == VIRTIO_NET_HASH_REPORT_IPv6_EX);
        // §5.1.6.4.3.4 takes IP_EX before falling back to TCPv6.
        CHECK(hash(f, VIRTIO_NET_RSS_HASH_TYPE_IP_EX | VIRTIO_NET_RSS_HASH_TYPE_TCPv6).report
            == VIRTIO_NET_HASH_REPORT_IPv6_EX);
        // No _EX type enabled: the header's own addresses, as without extension headers.
        const HashResult plain = hash(f, VIRTIO_NET_RSS_HASH_TYPE_TCPv6 | VIRTIO_NET_RSS_HASH_TYPE_IPv6);
        CHECK(plain.report == VIRTIO_NET_HASH_REPORT_TCPv6);
        CHECK(plain.value == toeplitz_of({ IP6_A, IP6_B, ports(v.sport, v.dport) }));
        CHECK(hash(f, VIRTIO_NET_RSS_HASH_TYPE_IPv6).value == toeplitz_of({ IP6_A, IP6_B }));
        // UDP_EX does not apply to TCP, and nothing else is enabled.
        CHECK_FALSE(hash(f, VIRTIO_NET_RSS_HASH_TYPE_UDP_EX).calculated());
    }
}

TEST_CASE("rss: IPv6 extension headers without the mobility options keep the header's addresses",
    "[net][rss]")
{
    const Bytes u = udp(1111, 2222, 4);
    const Bytes f = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 0, 8 + u.size() + 4), hop_by_hop(17),
        u, payload_pattern(4) });
    const HashResult h = hash(f, ALL);
    CHECK(h.report == VIRTIO_NET_HASH_REPORT_UDPv6_EX);
    CHECK(h.value == toeplitz_of({ IP6_A, IP6_B, ports(1111, 2222) }));
    CHECK(hash(f, VIRTIO_NET_RSS_HASH_TYPE_UDPv6).report == VIRTIO_NET_HASH_REPORT_UDPv6);

    // A fragment: the address types only.
    const Bytes fh = fragment_header(17, 0, true, 1);
    const Bytes frag = concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 44, 8 + u.size()), fh, u });
    CHECK(hash(frag, ALL).report == VIRTIO_NET_HASH_REPORT_IPv6_EX);
    CHECK(hash(frag, VIRTIO_NET_RSS_HASH_TYPE_UDPv6 | VIRTIO_NET_RSS_HASH_TYPE_IPv6).report
        == VIRTIO_NET_HASH_REPORT_IPv6);
}

namespace {

// struct virtio_net_rss_config, field by field (little-endian).
Bytes rss_config(std::uint32_t types, std::uint16_t mask, std::uint16_t unclassified,
    std::initializer_list<std::uint16_t> table, std::uint16_t max_tx_vq, std::span<const std::uint8_t> key,
    std::optional<std::uint8_t> key_length = std::nullopt)
{
    Builder b;
    b.le32(types).le16(mask).le16(unclassified);
    for (const std::uint16_t q : table) {
        b.le16(q);
    }
    b.le16(max_tx_vq).u8(key_length.value_or(static_cast<std::uint8_t>(key.size()))).bytes(key);
    return b.done();
}

RssLimits limits(std::uint16_t pairs)
{
    RssLimits l;
    l.queue_pairs = pairs;
    return l;
}

std::string rss_error(const Bytes& data, const RssLimits& l)
{
    const auto r = parse_rss_config(data, l);
    return r ? std::string("<no error>") : r.error().describe();
}

} // namespace

TEST_CASE("rss config: a valid command and queue selection", "[net][rss]")
{
    const std::uint32_t types = VIRTIO_NET_RSS_HASH_TYPE_TCPv4 | VIRTIO_NET_RSS_HASH_TYPE_IPv4;
    const auto c = parse_rss_config(rss_config(types, 3, 2, { 3, 1, 2, 0 }, 4, MS_KEY), limits(4));
    REQUIRE(c);
    CHECK(c->hash_types == types);
    CHECK(c->unclassified_queue == 2);
    CHECK(c->max_tx_vq == 4);
    CHECK(c->indirection_table == std::vector<std::uint16_t> { 3, 1, 2, 0 });
    CHECK(c->key_length == 40);
    CHECK(std::equal(c->key().begin(), c->key().end(), MS_KEY.begin(), MS_KEY.end()));

    for (std::uint32_t h : { 0u, 1u, 2u, 3u, 4u, 0xfffffffeu, 0xffffffffu }) {
        CHECK(c->select_queue(h) == c->indirection_table[h & 3]);
    }
    CHECK(c->select_queue(HashResult {}) == 2);

    // Frame to queue: 0x51ccc178 & 3 = 0, and table[0] = 3; an ARP frame is unclassified.
    const Bytes f = tcp4_frame(MS_V4[0]);
    const HashResult h = c->hash(f, parse_frame(f));
    CHECK(h.value == 0x51ccc178);
    CHECK(c->select_queue(h) == 3);
    const Bytes arp = concat({ ethernet(MAC_BROADCAST, MAC_A, 0x0806), payload_pattern(28) });
    CHECK(c->select_queue(c->hash(arp, parse_frame(arp))) == 2);
}

TEST_CASE("rss config: a one-entry table, no hashing, and the default state", "[net][rss]")
{
    const auto c = parse_rss_config(rss_config(0, 0, 0, { 0 }, 1, {}), limits(1));
    REQUIRE(c);
    CHECK(c->indirection_table.size() == 1);
    CHECK(c->key_length == 0);
    CHECK(c->select_queue(0xffffffffu) == 0);

    const RssConfig none;
    CHECK(none.select_queue(0x1234u) == 0);
    CHECK_FALSE(none.hash(tcp4_frame(MS_V4[0]), parse_frame(tcp4_frame(MS_V4[0]))).calculated());
}

TEST_CASE("rss config: every field is checked", "[net][rss]")
{
    const std::uint32_t types = VIRTIO_NET_RSS_HASH_TYPE_TCPv4;
    const RssLimits l = limits(4);
    const Bytes good = rss_config(types, 3, 0, { 0, 1, 2, 3 }, 4, MS_KEY);
    REQUIRE(parse_rss_config(good, l));

    CHECK_THAT(rss_error(Bytes(good.begin(), good.begin() + 7), l), Contains("shorter than its 8-byte head"));
    CHECK_THAT(rss_error(rss_config(types, 2, 0, { 0, 1, 2 }, 4, MS_KEY), l), Contains("not a power of two"));
    CHECK_THAT(rss_error(rss_config(types, 0xfffe, 0, {}, 4, MS_KEY), l), Contains("not a power of two"));
    // 0xffff + 1 = 65536 entries: a power of two, and far above the device's 128.
    CHECK_THAT(rss_error(rss_config(types, 0xffff, 0, {}, 4, MS_KEY), l), Contains("above the device's maximum 128"));
    CHECK_THAT(rss_error(Bytes(good.begin(), good.begin() + 8 + 8 + 2), l), Contains("too short for a 4-entry"));
    CHECK_THAT(rss_error(rss_config(types, 3, 4, { 0, 1, 2, 3 }, 4, MS_KEY), l), Contains("unclassified_queue 4"));
    CHECK_THAT(rss_error(rss_config(types, 3, 0, { 0, 1, 4, 3 }, 4, MS_KEY), l), Contains("indirection_table[2] = 4"));
    CHECK_THAT(rss_error(rss_config(types, 3, 0, { 0, 1, 0x8000, 3 }, 4, MS_KEY), l),
        Contains("indirection_table[2] = 32768"));
    CHECK_THAT(rss_error(rss_config(types, 3, 0, { 0, 1, 2, 3 }, 0, MS_KEY), l), Contains("max_tx_vq 0"));
    CHECK_THAT(rss_error(rss_config(types, 3, 0, { 0, 1, 2, 3 }, 5, MS_KEY), l), Contains("max_tx_vq 5"));

    const Bytes long_key(41, 0xaa);
    CHECK_THAT(rss_error(rss_config(types, 3, 0, { 0, 1, 2, 3 }, 4, long_key), l), Contains("hash_key_length 41"));
    RssLimits small_key = l;
    small_key.max_key_size = 20;
    CHECK_THAT(rss_error(good, small_key), Contains("above the device's maximum 20"));
    CHECK_THAT(rss_error(rss_config(types, 3, 0, { 0, 1, 2, 3 }, 4, {}), l), Contains("without a key"));
    CHECK_THAT(rss_error(rss_config(types, 3, 0, { 0, 1, 2, 3 }, 4, std::span(MS_KEY).first(39), 40), l),
        Contains("make"));
    // Linux's struct padding after the key is accepted and ignored.
    Bytes trailing = good;
    trailing.push_back(0xee);
    const auto padded = parse_rss_config(trailing, l);
    REQUIRE(padded);
    CHECK(padded->key_length == 40);
    CHECK(std::equal(MS_KEY.begin(), MS_KEY.end(), padded->key_bytes.begin()));

    RssLimits v4_only = l;
    v4_only.supported_hash_types = VIRTIO_NET_RSS_HASH_TYPE_IPv4;
    CHECK_THAT(rss_error(good, v4_only), Contains("does not support"));
    CHECK_THAT(rss_error(rss_config(1U << 9, 3, 0, { 0, 1, 2, 3 }, 4, MS_KEY), l), Contains("does not support"));

    // A table as large as the device allows is fine.
    RssLimits big = l;
    big.max_indirection_table_length = 8;
    Builder b;
    b.le32(types).le16(7).le16(0);
    for (int i = 0; i < 8; ++i) {
        b.le16(static_cast<std::uint16_t>(i % 4));
    }
    b.le16(4).u8(40).bytes(MS_KEY);
    CHECK(parse_rss_config(b.done(), big));
    CHECK_THAT(rss_error(b.done(), l), Contains("<no error>"));
    big.max_indirection_table_length = 4;
    CHECK_THAT(rss_error(b.done(), big), Contains("above the device's maximum 4"));
}

TEST_CASE("rss config: the hash-report-only command", "[net][rss]")
{
    const std::uint32_t types = VIRTIO_NET_RSS_HASH_TYPE_UDPv6;
    const Bytes data = Builder().le32(types).zeros(8).u8(40).bytes(MS_KEY).done();
    const auto c = parse_hash_config(data, limits(1));
    REQUIRE(c);
    CHECK(c->hash_types == types);
    CHECK(c->key_length == 40);
    CHECK(c->indirection_table.empty());

    CHECK_FALSE(parse_hash_config(Bytes(data.begin(), data.begin() + 12), limits(1)));
    CHECK_FALSE(parse_hash_config(Bytes(data.begin(), data.end() - 1), limits(1)));
    Bytes padded = data;
    padded.push_back(0);
    CHECK(parse_hash_config(padded, limits(1)));
    CHECK_FALSE(parse_hash_config(Builder().le32(types).zeros(8).u8(0).done(), limits(1)));
    CHECK(parse_hash_config(Builder().le32(0).zeros(8).u8(0).done(), limits(1)));
}
