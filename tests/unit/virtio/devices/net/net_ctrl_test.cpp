// SPDX-License-Identifier: Apache-2.0
// NetDevice's control queue: every command class with good and bad data, MQ, RSS steering
// and hash reporting, offload switching, announce; split and packed rings.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_rig.hpp"
#include "virtio/devices/net/frame.hpp"
#include "virtio/devices/net/rss.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::net;
using namespace vmm::virtio::test;

namespace {

constexpr std::uint64_t CTRL = feature_bit(VIRTIO_NET_F_CTRL_VQ) | feature_bit(VIRTIO_NET_F_CTRL_RX)
    | feature_bit(VIRTIO_NET_F_CTRL_RX_EXTRA) | feature_bit(VIRTIO_NET_F_CTRL_VLAN)
    | feature_bit(VIRTIO_NET_F_CTRL_MAC_ADDR) | feature_bit(VIRTIO_NET_F_GUEST_ANNOUNCE)
    | feature_bit(VIRTIO_NET_F_STATUS);

constexpr MacAddress MCAST { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };

template <class Rig>
std::uint8_t command(Rig& r, std::uint8_t cls, std::uint8_t cmd, const std::vector<std::uint8_t>& data)
{
    const std::uint16_t ctrl = r.ctrl_index();
    std::vector<std::uint8_t> out { cls, cmd };
    out.insert(out.end(), data.begin(), data.end());
    const auto a = r.rig.guest.alloc(out.size());
    r.rig.guest.write(a, as_bytes_vec(out));
    const auto ack = r.rig.buffer(1);
    r.rig.guest.write(ack, std::vector<std::byte> { std::byte { 0x55 } });
    r.rig.queue(ctrl).add({ readable(a, static_cast<std::uint32_t>(out.size())), writable(ack, 1) });
    r.rig.kick(ctrl);
    const auto used = r.rig.queue(ctrl).pop_used();
    REQUIRE(used);
    CHECK(used->len == 1);
    return std::to_integer<std::uint8_t>(r.rig.guest.read(ack, 1)[0]);
}

std::vector<std::uint8_t> le16v(std::uint16_t v)
{
    return { static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8) };
}

std::vector<std::uint8_t> mac_table(const std::vector<MacAddress>& uni, const std::vector<MacAddress>& multi)
{
    std::vector<std::uint8_t> out;
    for (const auto* t : { &uni, &multi }) {
        const auto n = static_cast<std::uint32_t>(t->size());
        for (int i = 0; i < 4; ++i) {
            out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
        }
        for (const auto& m : *t) {
            out.insert(out.end(), m.begin(), m.end());
        }
    }
    return out;
}

// struct virtio_net_rss_config (§5.1.6.5.7.1).
std::vector<std::uint8_t> rss_config(std::uint32_t types, const std::vector<std::uint16_t>& table,
    std::uint16_t unclassified, std::uint16_t max_tx, const std::vector<std::uint8_t>& key)
{
    std::vector<std::uint8_t> out;
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<std::uint8_t>(types >> (8 * i)));
    }
    const auto mask = le16v(static_cast<std::uint16_t>(table.size() - 1));
    out.insert(out.end(), mask.begin(), mask.end());
    const auto u = le16v(unclassified);
    out.insert(out.end(), u.begin(), u.end());
    for (auto q : table) {
        const auto e = le16v(q);
        out.insert(out.end(), e.begin(), e.end());
    }
    const auto m = le16v(max_tx);
    out.insert(out.end(), m.begin(), m.end());
    out.push_back(static_cast<std::uint8_t>(key.size()));
    out.insert(out.end(), key.begin(), key.end());
    return out;
}

const std::vector<std::uint8_t> KEY = { 0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43,
    0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa };

template <class Rig>
bool delivered(Rig& r, const std::vector<std::uint8_t>& frame, std::uint16_t pair = 0)
{
    // As a driver does: buffers, then a notification (the device asked for one when it ran
    // out), then the frame.
    const auto buf = r.rig.buffer(1526);
    r.rig.queue(static_cast<std::uint16_t>(2 * pair)).add({ writable(buf, 1526) });
    r.rig.kick(static_cast<std::uint16_t>(2 * pair));
    r.backend->inbound[0].push_back(frame);
    r.backend->fire_readable(0);
    const bool got = r.rig.queue(static_cast<std::uint16_t>(2 * pair)).pop_used().has_value();
    r.backend->inbound[0].clear();
    return got;
}

} // namespace

TEMPLATE_TEST_CASE("rx mode commands: each needs its feature and exactly one byte", "[net][virtio][ctrl]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    SECTION("with CTRL_RX and CTRL_RX_EXTRA")
    {
        r.rig.start(CTRL);
        for (std::uint8_t cmd = VIRTIO_NET_CTRL_RX_PROMISC; cmd <= VIRTIO_NET_CTRL_RX_NOBCAST; ++cmd) {
            CHECK(command(r, VIRTIO_NET_CTRL_RX, cmd, { 1 }) == VIRTIO_NET_OK);
            CHECK(command(r, VIRTIO_NET_CTRL_RX, cmd, { 0 }) == VIRTIO_NET_OK);
            CHECK(command(r, VIRTIO_NET_CTRL_RX, cmd, {}) == VIRTIO_NET_ERR);
            CHECK(command(r, VIRTIO_NET_CTRL_RX, cmd, { 1, 0 }) == VIRTIO_NET_ERR);
        }
        CHECK(command(r, VIRTIO_NET_CTRL_RX, 6, { 1 }) == VIRTIO_NET_ERR);
    }
    SECTION("the extra modes without CTRL_RX_EXTRA")
    {
        r.rig.start(f(VIRTIO_NET_F_CTRL_VQ) | f(VIRTIO_NET_F_CTRL_RX));
        CHECK(command(r, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, { 1 }) == VIRTIO_NET_OK);
        CHECK(command(r, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, { 1 }) == VIRTIO_NET_ERR);
    }
    CHECK(r.device.drops().ctrl_errors > 0);
}

TEMPLATE_TEST_CASE("the MAC table and the device MAC decide which unicast and multicast frames pass",
    "[net][virtio][ctrl]", DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(CTRL);
    REQUIRE(command(r, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, { 0 }) == VIRTIO_NET_OK);
    CHECK(delivered(r, udp_frame(OUR_MAC, 10)));
    CHECK_FALSE(delivered(r, udp_frame(OTHER_MAC, 10)));
    CHECK_FALSE(delivered(r, udp_frame(MCAST, 10)));

    CHECK(command(r, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, mac_table({ OTHER_MAC }, { MCAST }))
        == VIRTIO_NET_OK);
    CHECK(delivered(r, udp_frame(OTHER_MAC, 10)));
    CHECK(delivered(r, udp_frame(MCAST, 10)));

    SECTION("a table whose count says more than it carries is refused and changes nothing")
    {
        auto bad = mac_table({ OTHER_MAC }, {});
        bad[0] = 3;
        CHECK(command(r, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, bad) == VIRTIO_NET_ERR);
        CHECK(delivered(r, udp_frame(OTHER_MAC, 10)));
    }
    SECTION("ADDR_SET changes the config's mac and what counts as ours")
    {
        const MacAddress next { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 };
        CHECK(command(r, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, std::vector<std::uint8_t>(next.begin(), next.end()))
            == VIRTIO_NET_OK);
        VirtioNetConfig cfg {};
        r.device.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
        CHECK(cfg.mac == next);
        CHECK(delivered(r, udp_frame(next, 10)));
        CHECK_FALSE(delivered(r, udp_frame(OUR_MAC, 10)));
        CHECK(command(r, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, { 1, 2, 3 }) == VIRTIO_NET_ERR);
        // A reset brings the configured MAC back.
        r.device.reset();
        r.device.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
        CHECK(cfg.mac == OUR_MAC);
    }
}

TEMPLATE_TEST_CASE("VLAN filtering passes only the VLANs added", "[net][virtio][ctrl]", DriverSplitQueue,
    DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(CTRL);
    auto tagged = [](std::uint16_t vid) {
        auto frame = udp_frame(OUR_MAC, 10);
        const std::uint8_t tag[4] = { 0x81, 0x00, static_cast<std::uint8_t>(vid >> 8), static_cast<std::uint8_t>(vid) };
        frame.insert(frame.begin() + 12, tag, tag + 4);
        return frame;
    };
    // Promiscuous mode passes every VLAN (QEMU likewise); Linux turns it off.
    CHECK(delivered(r, tagged(5)));
    REQUIRE(command(r, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, { 0 }) == VIRTIO_NET_OK);
    CHECK_FALSE(delivered(r, tagged(5)));
    CHECK(delivered(r, udp_frame(OUR_MAC, 10))); // untagged frames are not filtered by VLAN
    CHECK(command(r, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16v(5)) == VIRTIO_NET_OK);
    CHECK(delivered(r, tagged(5)));
    CHECK_FALSE(delivered(r, tagged(6)));
    CHECK(command(r, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, le16v(5)) == VIRTIO_NET_OK);
    CHECK_FALSE(delivered(r, tagged(5)));
    CHECK(command(r, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, le16v(4096)) == VIRTIO_NET_ERR);
    CHECK(command(r, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, { 5 }) == VIRTIO_NET_ERR);
    CHECK(command(r, VIRTIO_NET_CTRL_VLAN, 7, le16v(5)) == VIRTIO_NET_ERR);
}

TEMPLATE_TEST_CASE("announce: the host sets ANNOUNCE, the driver's ack clears it", "[net][virtio][ctrl]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(CTRL);
    const auto before = r.rig.irq.config_count();
    REQUIRE(r.device.announce());
    CHECK(r.rig.irq.config_count() == before + 1);
    VirtioNetConfig cfg {};
    r.device.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
    CHECK((cfg.status.get() & VIRTIO_NET_S_ANNOUNCE) != 0);
    CHECK(command(r, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, { 1 }) == VIRTIO_NET_ERR);
    CHECK(command(r, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, {}) == VIRTIO_NET_OK);
    r.device.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
    CHECK((cfg.status.get() & VIRTIO_NET_S_ANNOUNCE) == 0);
    CHECK((cfg.status.get() & VIRTIO_NET_S_LINK_UP) != 0);
    // An announcement the driver never acknowledged ends with a reset; the link stays up.
    REQUIRE(r.device.announce());
    r.device.reset();
    r.device.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
    CHECK(cfg.status.get() == VIRTIO_NET_S_LINK_UP);
}

TEMPLATE_TEST_CASE("MQ: VQ_PAIRS_SET takes 1..max_virtqueue_pairs", "[net][virtio][ctrl]", DriverSplitQueue,
    DriverPackedQueue)
{
    NetRig<TestType> r(NetRig<TestType>::options(4));
    r.rig.start(CTRL | f(VIRTIO_NET_F_MQ));
    CHECK(r.device.active_pairs() == 1);
    CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16v(4)) == VIRTIO_NET_OK);
    CHECK(r.device.active_pairs() == 4);
    CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16v(0)) == VIRTIO_NET_ERR);
    CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16v(5)) == VIRTIO_NET_ERR);
    CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, { 2 }) == VIRTIO_NET_ERR);
    CHECK(r.device.active_pairs() == 4);
    // RSS was not negotiated.
    CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rss_config(1, { 0 }, 0, 1, KEY))
        == VIRTIO_NET_ERR);
}

TEMPLATE_TEST_CASE("RSS steers each frame to the queue its Toeplitz hash picks, and reports the hash",
    "[net][virtio][ctrl][rss]", DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r(NetRig<TestType>::options(4));
    r.rig.start(CTRL | f(VIRTIO_NET_F_MQ) | f(VIRTIO_NET_F_RSS) | f(VIRTIO_NET_F_HASH_REPORT));
    // A table of 4: hash & 3 names the queue.
    const std::uint32_t types = VIRTIO_NET_RSS_HASH_TYPE_IPv4 | VIRTIO_NET_RSS_HASH_TYPE_UDPv4;
    REQUIRE(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rss_config(types, { 0, 1, 2, 3 }, 0, 4, KEY))
        == VIRTIO_NET_OK);
    REQUIRE(r.device.rss());
    for (std::uint16_t port = 1000; port < 1016; ++port) {
        const auto frame = udp_frame(OUR_MAC, 20, port, 53);
        const auto expect = compute_hash(frame, parse_frame(frame), types, KEY);
        REQUIRE(expect.report == VIRTIO_NET_HASH_REPORT_UDPv4);
        const auto pair = static_cast<std::uint16_t>(expect.value & 3);
        const auto buf = r.rig.buffer(1526);
        r.rig.queue(static_cast<std::uint16_t>(2 * pair)).add({ writable(buf, 1526) });
        r.rig.kick(static_cast<std::uint16_t>(2 * pair));
        r.backend->inbound[0].push_back(frame);
        r.backend->fire_readable(0);
        const auto used = r.rig.queue(static_cast<std::uint16_t>(2 * pair)).pop_used();
        REQUIRE(used);
        CHECK(used->len == 20 + frame.size());
        VirtioNetHdrV1Hash h {};
        const auto raw = r.rig.guest.read(buf, sizeof(h));
        std::memcpy(&h, raw.data(), sizeof(h));
        CHECK(h.hash_value.get() == expect.value);
        CHECK(h.hash_report.get() == VIRTIO_NET_HASH_REPORT_UDPv4);
        CHECK(h.hdr.num_buffers.get() == 1);
    }
    SECTION("a table with a queue beyond the pairs is refused")
    {
        CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rss_config(types, { 0, 4 }, 0, 4, KEY))
            == VIRTIO_NET_ERR);
    }
    SECTION("a table length that is not a power of two is refused")
    {
        CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rss_config(types, { 0, 1, 2 }, 0, 4, KEY))
            == VIRTIO_NET_ERR);
    }
    SECTION("VQ_PAIRS_SET turns steering back into automatic steering")
    {
        CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16v(2)) == VIRTIO_NET_OK);
        CHECK_FALSE(r.device.rss());
    }
}

TEMPLATE_TEST_CASE("HASH_CONFIG alone gives hash reports without steering", "[net][virtio][ctrl][rss]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(CTRL | f(VIRTIO_NET_F_HASH_REPORT));
    std::vector<std::uint8_t> cfg { 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }; // IPv4 | TCPv4, reserved
    cfg.push_back(static_cast<std::uint8_t>(KEY.size()));
    cfg.insert(cfg.end(), KEY.begin(), KEY.end());
    REQUIRE(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, cfg) == VIRTIO_NET_OK);
    const auto frame = udp_frame(OUR_MAC, 20);
    const auto buf = r.rig.buffer(1526);
    r.rig.queue(0).add({ writable(buf, 1526) });
    r.rig.kick(0);
    r.backend->inbound[0].push_back(frame);
    r.backend->fire_readable(0);
    REQUIRE(r.rig.queue(0).pop_used());
    VirtioNetHdrV1Hash h {};
    const auto raw = r.rig.guest.read(buf, sizeof(h));
    std::memcpy(&h, raw.data(), sizeof(h));
    // UDP is not enabled: the IPv4 address hash applies.
    CHECK(h.hash_report.get() == VIRTIO_NET_HASH_REPORT_IPv4);
    CHECK(h.hash_value.get() == compute_hash(frame, parse_frame(frame), 0x3, KEY).value);
    CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, { 1, 2, 3 }) == VIRTIO_NET_ERR);
}

TEMPLATE_TEST_CASE("GUEST_OFFLOADS_SET narrows the receive offloads to a negotiated subset", "[net][virtio][ctrl]",
    DriverSplitQueue, DriverPackedQueue)
{
    const Offloads all { .csum = true, .tso4 = true, .tso6 = true, .ecn = true, .ufo = true, .uso = true };
    NetRig<TestType> r(NetRig<TestType>::options(), 1, true, all);
    const std::uint64_t guest = f(VIRTIO_NET_F_GUEST_CSUM) | f(VIRTIO_NET_F_GUEST_TSO4) | f(VIRTIO_NET_F_GUEST_TSO6);
    r.rig.start(CTRL | f(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | guest);
    CHECK(r.backend->receive_offloads.tso4);
    auto bits = [](std::uint64_t v) {
        std::vector<std::uint8_t> out;
        for (int i = 0; i < 8; ++i) {
            out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        }
        return out;
    };
    CHECK(command(r, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, bits(f(VIRTIO_NET_F_GUEST_CSUM)))
        == VIRTIO_NET_OK);
    CHECK(r.backend->receive_offloads.csum);
    CHECK_FALSE(r.backend->receive_offloads.tso4);
    // UFO was not negotiated: refused, nothing changes.
    CHECK(command(r, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, bits(f(VIRTIO_NET_F_GUEST_UFO)))
        == VIRTIO_NET_ERR);
    CHECK(command(r, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, { 1, 2 }) == VIRTIO_NET_ERR);
    CHECK(r.backend->receive_offloads.csum);
}

TEMPLATE_TEST_CASE("malformed control chains get VIRTIO_NET_ERR or are used without an ack", "[net][virtio][ctrl]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(CTRL);
    const std::uint16_t ctrl = r.ctrl_index();
    CHECK(command(r, 9, 0, {}) == VIRTIO_NET_ERR);
    CHECK(command(r, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le16v(1)) == VIRTIO_NET_ERR); // no MQ
    // No room for the ack: used with length 0.
    const auto a = r.rig.buffer(3);
    r.rig.queue(ctrl).add({ readable(a, 3) });
    r.rig.kick(ctrl);
    const auto used = r.rig.queue(ctrl).pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    // Only one byte of header.
    const auto ack = r.rig.buffer(1);
    r.rig.queue(ctrl).add({ readable(a, 1), writable(ack, 1) });
    r.rig.kick(ctrl);
    REQUIRE(r.rig.queue(ctrl).pop_used());
    CHECK(std::to_integer<std::uint8_t>(r.rig.guest.read(ack, 1)[0]) == VIRTIO_NET_ERR);
}

TEMPLATE_TEST_CASE("RSS config as Linux sends it: 128 entries, a padded 40-byte key, split over descriptors, then weights",
    "[net][virtio][ctrl][rss]", DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r(NetRig<TestType>::options(4));
    r.rig.start(CTRL | f(VIRTIO_NET_F_MQ) | f(VIRTIO_NET_F_RSS) | f(VIRTIO_NET_F_HASH_REPORT));
    const std::uint32_t types = VIRTIO_NET_RSS_HASH_TYPE_ALL
        & ~(VIRTIO_NET_RSS_HASH_TYPE_IP_EX | VIRTIO_NET_RSS_HASH_TYPE_TCP_EX | VIRTIO_NET_RSS_HASH_TYPE_UDP_EX);
    std::vector<std::uint16_t> table(128);
    for (std::size_t i = 0; i < table.size(); ++i) {
        table[i] = static_cast<std::uint16_t>(i % 4);
    }
    // The driver's layout: class and command, the config head with its table, the trailer with
    // max_tx_vq and the key, the status byte: four descriptors.
    const auto send = [&](const std::vector<std::uint16_t>& t) {
        auto cfg = rss_config(types, t, 0, 4, KEY);
        cfg.push_back(0); // struct_size() of Linux's trailer: one byte of padding after the key
        const std::size_t head = 8 + 2 * t.size();
        const std::uint16_t ctrl = r.ctrl_index();
        const auto hdr = r.rig.guest.alloc(2);
        r.rig.guest.write(hdr, as_bytes_vec(std::vector<std::uint8_t> { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG }));
        const auto a = r.rig.guest.alloc(head);
        r.rig.guest.write(a, as_bytes_vec(std::vector<std::uint8_t>(cfg.begin(), cfg.begin() + static_cast<std::ptrdiff_t>(head))));
        const auto b = r.rig.guest.alloc(cfg.size() - head);
        r.rig.guest.write(b, as_bytes_vec(std::vector<std::uint8_t>(cfg.begin() + static_cast<std::ptrdiff_t>(head), cfg.end())));
        const auto ack = r.rig.buffer(1);
        r.rig.queue(ctrl).add({ readable(hdr, 2), readable(a, static_cast<std::uint32_t>(head)),
            readable(b, static_cast<std::uint32_t>(cfg.size() - head)), writable(ack, 1) });
        r.rig.kick(ctrl);
        REQUIRE(r.rig.queue(ctrl).pop_used());
        return std::to_integer<std::uint8_t>(r.rig.guest.read(ack, 1)[0]);
    };
    REQUIRE(send(table) == VIRTIO_NET_OK);
    REQUIRE(r.device.rss());
    CHECK(r.device.active_pairs() == 4);
    // ethtool -X weight 0 1 0 0: every entry names pair 1.
    std::fill(table.begin(), table.end(), std::uint16_t { 1 });
    REQUIRE(send(table) == VIRTIO_NET_OK);
    for (std::uint16_t port = 1000; port < 1008; ++port) {
        CHECK(delivered(r, udp_frame(OUR_MAC, 20, port, 53), 1));
    }
}
