// SPDX-License-Identifier: Apache-2.0
// Receive filter: modes and their precedence, MAC tables and their overflow, VLAN filtering,
// and the control commands' payloads.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_frames.hpp"
#include "virtio/devices/net/rx_filter.hpp"
#include "virtio/spec/net.hpp"

using namespace vmm::virtio;
using namespace vmm::virtio::net;
using namespace net_test;
using Catch::Matchers::Contains;

namespace {

constexpr Mac OWN { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };
constexpr Mac OTHER { 0x52, 0x54, 0x00, 0x00, 0x00, 0x99 };
constexpr Mac MCAST { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };  // 224.0.0.251
constexpr Mac MCAST6 { 0x33, 0x33, 0xff, 0x00, 0x00, 0x01 }; // solicited-node

Bytes frame_to(const Mac& dst)
{
    return concat({ ethernet(dst, MAC_A, 0x0800), payload_pattern(46) });
}

Bytes tagged_to(const Mac& dst, std::uint16_t tpid, std::uint16_t tci)
{
    return concat({ ethernet(dst, MAC_A, tpid), vlan_tag(tci, 0x0800), payload_pattern(46) });
}

// struct virtio_net_ctrl_mac twice: le32 count and the addresses.
Bytes mac_table(std::initializer_list<Mac> uni, std::initializer_list<Mac> multi)
{
    Builder b;
    b.le32(static_cast<std::uint32_t>(uni.size()));
    for (const Mac& m : uni) {
        b.bytes(m);
    }
    b.le32(static_cast<std::uint32_t>(multi.size()));
    for (const Mac& m : multi) {
        b.bytes(m);
    }
    return b.done();
}

RxFilter filtering()
{
    RxFilter f(OWN);
    f.set_promiscuous(false);
    return f;
}

std::string table_error(const Bytes& data)
{
    const auto r = parse_mac_table_set(data);
    return r ? std::string("<no error>") : r.error().describe();
}

} // namespace

TEST_CASE("rx filter: starts promiscuous; runts are dropped", "[net][rx_filter]")
{
    RxFilter f(OWN);
    CHECK(f.mac() == OWN);
    CHECK(f.accept(frame_to(OTHER)));
    CHECK(f.accept(frame_to(MCAST)));
    CHECK(f.accept(Bytes(14, 0)));
    CHECK_FALSE(f.accept(Bytes(13, 0)));
    CHECK_FALSE(f.accept({}));
}

TEST_CASE("rx filter: own address, broadcast, and nothing else by default", "[net][rx_filter]")
{
    RxFilter f = filtering();
    CHECK(f.accept(frame_to(OWN)));
    CHECK(f.accept(frame_to(MAC_BROADCAST)));
    CHECK_FALSE(f.accept(frame_to(OTHER)));
    CHECK_FALSE(f.accept(frame_to(MCAST)));
    f.set_mac(OTHER);
    CHECK(f.accept(frame_to(OTHER)));
    CHECK_FALSE(f.accept(frame_to(OWN)));
}

TEST_CASE("rx filter: modes and their precedence (§5.1.6.5.1)", "[net][rx_filter]")
{
    RxFilter f = filtering();
    SECTION("all-multicast")
    {
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_ALLMULTI, true));
        CHECK(f.accept(frame_to(MCAST)));
        CHECK(f.accept(frame_to(MCAST6)));
        CHECK_FALSE(f.accept(frame_to(OTHER)));
    }
    SECTION("all-unicast")
    {
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_ALLUNI, true));
        CHECK(f.accept(frame_to(OTHER)));
        CHECK_FALSE(f.accept(frame_to(MCAST)));
    }
    SECTION("no-multicast wins over all-multicast but spares broadcast")
    {
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_ALLMULTI, true));
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_NOMULTI, true));
        CHECK_FALSE(f.accept(frame_to(MCAST)));
        CHECK(f.accept(frame_to(MAC_BROADCAST)));
        CHECK(f.accept(frame_to(OWN)));
    }
    SECTION("no-unicast wins over all-unicast and the own address")
    {
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_ALLUNI, true));
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_NOUNI, true));
        CHECK_FALSE(f.accept(frame_to(OWN)));
        CHECK_FALSE(f.accept(frame_to(OTHER)));
        CHECK(f.accept(frame_to(MAC_BROADCAST)));
    }
    SECTION("no-broadcast wins over all-multicast")
    {
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_ALLMULTI, true));
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_NOBCAST, true));
        CHECK_FALSE(f.accept(frame_to(MAC_BROADCAST)));
        CHECK(f.accept(frame_to(MCAST)));
    }
    SECTION("promiscuous wins over everything")
    {
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_NOUNI, true));
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_NOMULTI, true));
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_NOBCAST, true));
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_PROMISC, true));
        CHECK(f.accept(frame_to(OTHER)));
        CHECK(f.accept(frame_to(MCAST)));
        CHECK(f.accept(frame_to(MAC_BROADCAST)));
        REQUIRE(f.set_rx_mode(VIRTIO_NET_CTRL_RX_PROMISC, false));
        CHECK_FALSE(f.accept(frame_to(OWN)));
    }
    SECTION("unknown commands")
    {
        CHECK_FALSE(f.set_rx_mode(6, true));
        CHECK_FALSE(f.set_rx_mode(0xff, true));
        CHECK_FALSE(f.accept(frame_to(OTHER)));
    }
}

TEST_CASE("rx filter: MAC tables (§5.1.6.5.2)", "[net][rx_filter]")
{
    RxFilter f = filtering();
    const Bytes data = mac_table({ OTHER }, { MCAST });
    const auto t = parse_mac_table_set(data); // views `data`
    REQUIRE(t);
    CHECK(t->unicast_count() == 1);
    CHECK(t->multicast_count() == 1);
    f.set_mac_table(*t);
    CHECK(f.unicast_entries() == 1);
    CHECK(f.multicast_entries() == 1);
    CHECK(f.accept(frame_to(OTHER)));
    CHECK(f.accept(frame_to(MCAST)));
    CHECK(f.accept(frame_to(OWN)));
    CHECK_FALSE(f.accept(frame_to(MCAST6)));
    CHECK_FALSE(f.accept(frame_to(Mac { 0x52, 0x54, 0x00, 0x00, 0x00, 0x98 })));

    // A new table replaces the old one.
    REQUIRE(f.set_mac_table(mac_table({}, { MCAST6 })));
    CHECK_FALSE(f.accept(frame_to(OTHER)));
    CHECK_FALSE(f.accept(frame_to(MCAST)));
    CHECK(f.accept(frame_to(MCAST6)));

    // A malformed command leaves the tables as they were.
    CHECK_FALSE(f.set_mac_table(Builder().le32(3).bytes(OTHER).le32(0).done()));
    CHECK(f.accept(frame_to(MCAST6)));
    CHECK(f.multicast_entries() == 1);

    f.reset();
    CHECK(f.unicast_entries() == 0);
    CHECK(f.multicast_entries() == 0);
    CHECK(f.mac() == OWN);
    CHECK(f.accept(frame_to(MCAST))); // promiscuous again
}

TEST_CASE("rx filter: more addresses than the table holds stop filtering that kind", "[net][rx_filter]")
{
    RxFilter f = filtering();
    Builder b;
    b.le32(65);
    for (std::uint8_t i = 0; i < 65; ++i) {
        b.bytes({ 0x02, 0, 0, 0, 0, i });
    }
    b.le32(0);
    REQUIRE(f.set_mac_table(b.done()));
    CHECK(f.unicast_overflow());
    CHECK_FALSE(f.multicast_overflow());
    CHECK(f.accept(frame_to(OTHER)));
    CHECK_FALSE(f.accept(frame_to(MCAST)));

    Builder m;
    m.le32(0).le32(65);
    for (std::uint8_t i = 0; i < 65; ++i) {
        m.bytes({ 0x01, 0, 0x5e, 0, 0, i });
    }
    REQUIRE(f.set_mac_table(m.done()));
    CHECK_FALSE(f.unicast_overflow());
    CHECK(f.multicast_overflow());
    CHECK_FALSE(f.accept(frame_to(OTHER)));
    CHECK(f.accept(frame_to(MCAST6)));

    // Exactly 64 fit.
    Builder full;
    full.le32(64);
    for (std::uint8_t i = 0; i < 64; ++i) {
        full.bytes({ 0x02, 0, 0, 0, 0, i });
    }
    full.le32(0);
    REQUIRE(f.set_mac_table(full.done()));
    CHECK_FALSE(f.unicast_overflow());
    CHECK(f.unicast_entries() == 64);
    CHECK(f.accept(frame_to(Mac { 0x02, 0, 0, 0, 0, 63 })));
    CHECK_FALSE(f.accept(frame_to(OTHER)));
}

TEST_CASE("rx filter: MAC table payloads are checked against their bytes", "[net][rx_filter]")
{
    CHECK(parse_mac_table_set(mac_table({}, {})));
    // Two unicast entries announced, one present.
    const Bytes short_uni = Builder().le32(2).bytes(OTHER).le32(0).done();
    CHECK_THAT(table_error(short_uni), Contains("2 unicast entries need 12 bytes, 10 are present"));
    CHECK_THAT(table_error(Builder().le32(2).bytes(OTHER).done()), Contains("2 unicast entries need 12 bytes, 6"));
    // A count whose byte size would wrap 32 bits.
    CHECK_THAT(table_error(Builder().le32(0xffffffff).bytes(OTHER).done()), Contains("4294967295 unicast entries"));
    CHECK_THAT(table_error(Builder().le32(0).le32(0x2aaaaaab).bytes(MCAST).done()), Contains("multicast entries"));
    CHECK_THAT(table_error(Builder().le32(1).bytes(OTHER).done()), Contains("multicast entry count"));
    CHECK_THAT(table_error(Builder().le32(0).le32(1).bytes(MCAST).u8(0).done()), Contains("1 bytes after"));
    CHECK_THAT(table_error(Builder().u8(0).u8(0).u8(0).done()), Contains("unicast entry count"));
    CHECK_THAT(table_error({}), Contains("unicast entry count"));
}

TEST_CASE("rx filter: VLAN filtering (§5.1.6.5.3)", "[net][rx_filter]")
{
    RxFilter f = filtering();
    const Bytes tagged = tagged_to(OWN, 0x8100, 0x2064); // PCP 1, VLAN 100
    CHECK(f.accept(tagged)); // not negotiated: every tag passes

    f.set_vlan_filtering(true);
    CHECK_FALSE(f.accept(tagged));
    CHECK(f.accept(frame_to(OWN))); // untagged frames are not VLAN-filtered
    REQUIRE(f.add_vlan(100));
    CHECK(f.has_vlan(100));
    CHECK(f.accept(tagged));
    CHECK_FALSE(f.accept(tagged_to(OWN, 0x8100, 101)));
    CHECK_FALSE(f.accept(tagged_to(OTHER, 0x8100, 100))); // the address filter still applies
    // An 802.1ad service tag is not an id the driver registers.
    CHECK(f.accept(tagged_to(OWN, 0x88a8, 5)));
    // A tag cut short is dropped.
    CHECK_FALSE(f.accept(Bytes(tagged.begin(), tagged.begin() + 16)));

    REQUIRE(f.remove_vlan(100));
    CHECK_FALSE(f.accept(tagged));
    CHECK_FALSE(f.add_vlan(4096));
    CHECK_FALSE(f.remove_vlan(0xffff));
    CHECK_FALSE(f.has_vlan(4096));
    REQUIRE(f.add_vlan(4095));
    CHECK(f.accept(tagged_to(OWN, 0x8100, 0xffff))); // id 4095, PCP 7, DEI set

    f.set_promiscuous(true);
    CHECK(f.accept(tagged_to(OWN, 0x8100, 7)));

    f.reset();
    f.set_promiscuous(false);
    CHECK_FALSE(f.has_vlan(4095));
    CHECK_FALSE(f.accept(tagged_to(OWN, 0x8100, 4095))); // still negotiated, table emptied
}

TEST_CASE("rx filter: the small control payloads", "[net][rx_filter]")
{
    const auto mac = parse_mac_addr_set(OTHER);
    REQUIRE(mac);
    CHECK(*mac == OTHER);
    CHECK_FALSE(parse_mac_addr_set(Bytes(5, 1)));
    CHECK_FALSE(parse_mac_addr_set(Bytes(7, 1)));

    const auto id = parse_vlan_id(Builder().le16(4095).done());
    REQUIRE(id);
    CHECK(*id == 4095);
    CHECK_FALSE(parse_vlan_id(Builder().le16(4096).done()));
    CHECK_FALSE(parse_vlan_id(Bytes { 1 }));
    CHECK_FALSE(parse_vlan_id(Bytes { 1, 0, 0 }));

    CHECK(*parse_rx_mode_switch(Bytes { 1 }));
    CHECK_FALSE(*parse_rx_mode_switch(Bytes { 0 }));
    CHECK(*parse_rx_mode_switch(Bytes { 2 }));
    CHECK_FALSE(parse_rx_mode_switch({}));
    CHECK_FALSE(parse_rx_mode_switch(Bytes { 1, 1 }));
}
