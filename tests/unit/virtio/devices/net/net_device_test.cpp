// SPDX-License-Identifier: Apache-2.0
// NetDevice through the in-process driver: features and config, transmit, receive (single and
// mergeable buffers), offloads, filters, link state; split and packed rings.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_rig.hpp"
#include "virtio/devices/net/checksum.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::net;
using namespace vmm::virtio::test;

namespace {

constexpr MacAddress BROADCAST { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

VirtioNetHdrV1 header_at(const FakeGuest& guest, std::uint64_t at)
{
    VirtioNetHdrV1 h {};
    const auto raw = guest.read(at, sizeof(h));
    std::memcpy(&h, raw.data(), sizeof(h));
    return h;
}

// A transmit chain: the header (hdr_len bytes) and the frame, in two descriptors.
template <class Rig>
void post_tx(Rig& r, std::uint16_t queue, const VirtioNetHdrV1& hdr, const std::vector<std::uint8_t>& frame,
    std::size_t hdr_len = sizeof(VirtioNetHdrV1))
{
    std::vector<std::byte> h(hdr_len);
    std::memcpy(h.data(), &hdr, sizeof(hdr));
    const auto ha = r.rig.guest.alloc(hdr_len);
    r.rig.guest.write(ha, h);
    const auto fa = r.rig.guest.alloc(frame.size());
    r.rig.guest.write(fa, as_bytes_vec(frame));
    r.rig.queue(queue).add({ readable(ha, static_cast<std::uint32_t>(hdr_len)),
        readable(fa, static_cast<std::uint32_t>(frame.size())) });
}

} // namespace

TEMPLATE_TEST_CASE("virtio-net offers what its backend can honour, and its config says so", "[net][virtio]",
    DriverSplitQueue, DriverPackedQueue)
{
    SECTION("a backend without headers: transmit offloads in software, none on receive")
    {
        NetRig<TestType> r(NetRig<TestType>::options(1));
        const std::uint64_t offered = r.device.features();
        CHECK((offered & f(VIRTIO_NET_F_CSUM)) != 0);
        CHECK((offered & f(VIRTIO_NET_F_HOST_TSO4)) != 0);
        CHECK((offered & f(VIRTIO_NET_F_HOST_USO)) != 0);
        CHECK((offered & f(VIRTIO_NET_F_GUEST_CSUM)) == 0);
        CHECK((offered & f(VIRTIO_NET_F_GUEST_TSO4)) == 0);
        CHECK((offered & f(VIRTIO_NET_F_MQ)) == 0);
        CHECK((offered & f(VIRTIO_NET_F_RSS)) != 0);
        CHECK((offered & f(VIRTIO_NET_F_CTRL_VQ)) != 0);
        CHECK((offered & f(VIRTIO_F_RING_RESET)) != 0);
    }
    SECTION("a backend with headers and offloads: the matching GUEST_* features")
    {
        Offloads o { .csum = true, .tso4 = true, .tso6 = true, .ecn = true, .ufo = false, .uso = true };
        NetRig<TestType> r(NetRig<TestType>::options(4), 4, true, o);
        const std::uint64_t offered = r.device.features();
        CHECK((offered & f(VIRTIO_NET_F_GUEST_CSUM)) != 0);
        CHECK((offered & f(VIRTIO_NET_F_GUEST_TSO4)) != 0);
        CHECK((offered & f(VIRTIO_NET_F_GUEST_ECN)) != 0);
        CHECK((offered & f(VIRTIO_NET_F_GUEST_UFO)) == 0);
        CHECK((offered & f(VIRTIO_NET_F_GUEST_USO4)) != 0);
        CHECK((offered & f(VIRTIO_NET_F_MQ)) != 0);
        CHECK(r.device.queue_max_sizes().size() == 9);
    }
    SECTION("the config space")
    {
        NetOptions o = NetRig<TestType>::options(2);
        o.mtu = 9000;
        NetRig<TestType> r(o);
        VirtioNetConfig cfg {};
        r.device.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
        CHECK(cfg.mac == OUR_MAC);
        CHECK(cfg.status.get() == VIRTIO_NET_S_LINK_UP);
        CHECK(cfg.max_virtqueue_pairs.get() == 2);
        CHECK(cfg.mtu.get() == 9000);
        CHECK(cfg.speed.get() == VIRTIO_NET_SPEED_UNKNOWN);
        CHECK(cfg.duplex == VIRTIO_NET_DUPLEX_UNKNOWN);
        CHECK(cfg.rss_max_key_size == 40);
        CHECK(cfg.rss_max_indirection_table_length.get() == 128);
        CHECK(cfg.supported_hash_types.get() == VIRTIO_NET_RSS_HASH_TYPE_ALL);
    }
}

TEMPLATE_TEST_CASE("a transmitted frame reaches the backend, with or without its header", "[net][virtio]",
    DriverSplitQueue, DriverPackedQueue)
{
    const auto frame = udp_frame(OTHER_MAC, 100);
    VirtioNetHdrV1 hdr {};

    SECTION("plain backend: the frame alone")
    {
        NetRig<TestType> r;
        r.rig.start(f(VIRTIO_NET_F_CTRL_VQ));
        post_tx(r, 1, hdr, frame);
        r.rig.kick(1);
        REQUIRE(r.backend->sent.size() == 1);
        CHECK(r.backend->sent[0] == frame);
        const auto used = r.rig.queue(1).pop_used();
        REQUIRE(used);
        CHECK(used->len == 0);
        CHECK(r.device.counters(0).tx_frames == 1);
    }
    SECTION("backend with headers: the 12-byte header first")
    {
        NetRig<TestType> r(NetRig<TestType>::options(), 1, true, Offloads { .csum = true });
        r.rig.start(f(VIRTIO_NET_F_CSUM));
        hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        hdr.csum_start = le16(34);
        hdr.csum_offset = le16(6);
        post_tx(r, 1, hdr, frame);
        r.rig.kick(1);
        REQUIRE(r.backend->sent.size() == 1);
        REQUIRE(r.backend->sent[0].size() == 12 + frame.size());
        CHECK(r.backend->sent[0][0] == VIRTIO_NET_HDR_F_NEEDS_CSUM);
        CHECK(std::vector<std::uint8_t>(r.backend->sent[0].begin() + 12, r.backend->sent[0].end()) == frame);
    }
    SECTION("with HASH_REPORT the driver's header is 20 bytes, and only the frame follows it")
    {
        NetRig<TestType> r;
        r.rig.start(f(VIRTIO_NET_F_CTRL_VQ) | f(VIRTIO_NET_F_HASH_REPORT));
        post_tx(r, 1, hdr, frame, 20);
        r.rig.kick(1);
        REQUIRE(r.backend->sent.size() == 1);
        CHECK(r.backend->sent[0] == frame);
    }
}

TEMPLATE_TEST_CASE("a partial checksum is completed for a backend without headers", "[net][virtio]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(f(VIRTIO_NET_F_CSUM));
    auto frame = udp_frame(OTHER_MAC, 51);
    // The driver leaves the pseudo-header sum in the checksum field (§5.1.6.2).
    const std::span<const std::uint8_t, 4> src(frame.data() + 26, 4);
    const std::span<const std::uint8_t, 4> dst(frame.data() + 30, 4);
    const auto pseudo = ipv4_pseudo_header(src, dst, 17, static_cast<std::uint16_t>(8 + 51)).folded();
    frame[40] = static_cast<std::uint8_t>(pseudo >> 8);
    frame[41] = static_cast<std::uint8_t>(pseudo);
    VirtioNetHdrV1 hdr {};
    hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr.csum_start = le16(34);
    hdr.csum_offset = le16(6);
    post_tx(r, 1, hdr, frame);
    r.rig.kick(1);
    REQUIRE(r.backend->sent.size() == 1);
    const auto& out = r.backend->sent[0];
    // The UDP checksum verifies: the sum over pseudo-header and datagram folds to 0xffff.
    Checksum c = ipv4_pseudo_header(src, dst, 17, static_cast<std::uint16_t>(8 + 51));
    c.add(std::span(out).subspan(34));
    CHECK(c.folded() == 0xffff);
}

TEMPLATE_TEST_CASE("malformed transmit chains are dropped, counted and used", "[net][virtio]", DriverSplitQueue,
    DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(f(VIRTIO_NET_F_CSUM));
    VirtioNetHdrV1 hdr {};
    SECTION("shorter than the header")
    {
        const auto a = r.rig.buffer(8);
        r.rig.queue(1).add({ readable(a, 8) });
    }
    SECTION("a frame shorter than an Ethernet header")
    {
        post_tx(r, 1, hdr, std::vector<std::uint8_t>(10, 0));
    }
    SECTION("a TSO frame without HOST_TSO4 negotiated")
    {
        hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        hdr.gso_size = le16(1000);
        post_tx(r, 1, hdr, udp_frame(OTHER_MAC, 100));
    }
    SECTION("a checksum offset past the frame")
    {
        hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        hdr.csum_start = le16(140);
        hdr.csum_offset = le16(6);
        post_tx(r, 1, hdr, udp_frame(OTHER_MAC, 100));
    }
    SECTION("only device-writable buffers")
    {
        const auto a = r.rig.buffer(64);
        r.rig.queue(1).add({ writable(a, 64) });
    }
    r.rig.kick(1);
    CHECK(r.backend->sent.empty());
    CHECK(r.rig.queue(1).pop_used());
    const auto& d = r.device.drops();
    CHECK(d.tx_malformed + d.tx_offload == 1);
}

TEMPLATE_TEST_CASE("a backend that would block keeps the frame in the ring until it can take it", "[net][virtio]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start();
    r.backend->send_again = true;
    post_tx(r, 1, VirtioNetHdrV1 {}, udp_frame(OTHER_MAC, 20));
    r.rig.kick(1);
    CHECK(r.backend->sent.empty());
    CHECK_FALSE(r.rig.queue(1).pop_used());
    r.backend->send_again = false;
    REQUIRE(r.backend->fire_writable(0));
    CHECK(r.backend->sent.size() == 1);
    CHECK(r.rig.queue(1).pop_used());
}

TEMPLATE_TEST_CASE("a received frame lands after the header, one buffer without MRG_RXBUF", "[net][virtio]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start();
    const auto buf = r.rig.buffer(1526);
    r.rig.queue(0).add({ writable(buf, 1526) });
    const auto spare = r.rig.buffer(1526);
    r.rig.queue(0).add({ writable(spare, 1526) });
    const auto frame = udp_frame(OUR_MAC, 300);
    r.backend->inbound[0].push_back(frame);
    REQUIRE(r.backend->fire_readable(0));
    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 12 + frame.size());
    const auto h = header_at(r.rig.guest, buf);
    CHECK(h.num_buffers.get() == 1);
    CHECK(h.flags == 0);
    CHECK(h.gso_type == 0);
    CHECK(as_u8(r.rig.guest.read(buf + 12, frame.size())) == frame);
    CHECK(r.device.counters(0).rx_frames == 1);
    // The backend is empty again: the spare buffer went back to the ring and a watch waits
    // for the next frame.
    CHECK(r.backend->readable[0]);
    CHECK_FALSE(r.rig.queue(0).pop_used());
}

TEMPLATE_TEST_CASE("with MRG_RXBUF a frame spans buffers, and the ones it does not need stay available",
    "[net][virtio]", DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(f(VIRTIO_NET_F_MRG_RXBUF));
    std::vector<std::uint64_t> bufs;
    for (int i = 0; i < 6; ++i) {
        bufs.push_back(r.rig.buffer(512));
        r.rig.queue(0).add({ writable(bufs.back(), 512) });
    }
    const auto big = udp_frame(OUR_MAC, 1200); // 1242 bytes + 12 of header: three buffers
    const auto small = udp_frame(OUR_MAC, 10);
    r.backend->inbound[0].push_back(big);
    r.backend->inbound[0].push_back(small);
    REQUIRE(r.backend->fire_readable(0));

    std::vector<UsedEntry> used;
    while (auto u = r.rig.queue(0).pop_used()) {
        used.push_back(*u);
    }
    REQUIRE(used.size() == 4);
    CHECK(used[0].len == 512);
    CHECK(used[1].len == 512);
    CHECK(used[2].len == 12 + big.size() - 1024);
    CHECK(header_at(r.rig.guest, bufs[0]).num_buffers.get() == 3);
    std::vector<std::uint8_t> got;
    for (int i = 0; i < 3; ++i) {
        const auto part = as_u8(r.rig.guest.read(bufs[static_cast<std::size_t>(i)], used[static_cast<std::size_t>(i)].len));
        got.insert(got.end(), part.begin(), part.end());
    }
    CHECK(std::vector<std::uint8_t>(got.begin() + 12, got.end()) == big);
    // The small frame took the fourth buffer, the next one in the ring.
    CHECK(header_at(r.rig.guest, bufs[3]).num_buffers.get() == 1);
    CHECK(as_u8(r.rig.guest.read(bufs[3] + 12, small.size())) == small);
}

TEMPLATE_TEST_CASE("receive waits for buffers when the driver has none, and goes on at its notification",
    "[net][virtio]", DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start();
    const auto frame = udp_frame(OUR_MAC, 64);
    r.backend->inbound[0].push_back(frame);
    REQUIRE(r.backend->fire_readable(0));
    CHECK_FALSE(r.rig.queue(0).pop_used());
    CHECK(r.backend->inbound[0].size() == 1); // still in the backend: nothing was lost

    const auto buf = r.rig.buffer(1526);
    r.rig.queue(0).add({ writable(buf, 1526) });
    r.rig.kick(0);
    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 12 + frame.size());
    CHECK(r.backend->inbound[0].empty());
}

TEMPLATE_TEST_CASE("frames that do not fit or exceed the MTU are dropped, and the buffers are reused",
    "[net][virtio]", DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start();
    const auto buf = r.rig.buffer(256);
    r.rig.queue(0).add({ writable(buf, 256) });
    r.backend->inbound[0].push_back(udp_frame(OUR_MAC, 400)); // too big for the buffer
    r.backend->inbound[0].push_back(udp_frame(OUR_MAC, 1600)); // over the MTU, no GSO
    r.backend->inbound[0].push_back(udp_frame(OUR_MAC, 20));
    REQUIRE(r.backend->fire_readable(0));
    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 12 + 14 + 20 + 8 + 20);
    CHECK_FALSE(r.rig.queue(0).pop_used());
    CHECK(r.device.drops().rx_too_big == 2);
}

TEMPLATE_TEST_CASE("the receive filter follows the control queue's rx mode and MAC table", "[net][virtio]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(f(VIRTIO_NET_F_CTRL_VQ) | f(VIRTIO_NET_F_CTRL_RX) | f(VIRTIO_NET_F_CTRL_RX_EXTRA));
    const std::uint16_t ctrl = r.ctrl_index();
    auto command = [&](std::uint8_t cls, std::uint8_t cmd, std::vector<std::uint8_t> data) {
        std::vector<std::uint8_t> out { cls, cmd };
        out.insert(out.end(), data.begin(), data.end());
        const auto a = r.rig.guest.alloc(out.size());
        r.rig.guest.write(a, as_bytes_vec(out));
        const auto ack = r.rig.buffer(1);
        r.rig.guest.write(ack, std::vector<std::byte> { std::byte { 0x55 } });
        r.rig.queue(ctrl).add({ readable(a, static_cast<std::uint32_t>(out.size())), writable(ack, 1) });
        r.rig.kick(ctrl);
        REQUIRE(r.rig.queue(ctrl).pop_used());
        return std::to_integer<std::uint8_t>(r.rig.guest.read(ack, 1)[0]);
    };
    auto delivered = [&](const MacAddress& to) {
        // As a driver does: buffers, then a notification (the device asked for one when it ran
        // out), then the frame.
        const auto buf = r.rig.buffer(1526);
        r.rig.queue(0).add({ writable(buf, 1526) });
        r.rig.kick(0);
        r.backend->inbound[0].push_back(udp_frame(to, 10));
        r.backend->fire_readable(0);
        const bool got = r.rig.queue(0).pop_used().has_value();
        if (!got) {
            // Leave no buffer behind for the next frame to find.
            r.backend->inbound[0].clear();
        }
        return got;
    };
    // The device starts promiscuous (§5.1.6.5.1 leaves the default to the device).
    CHECK(delivered(OTHER_MAC));
    CHECK(command(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, { 0 }) == VIRTIO_NET_OK);
    CHECK(delivered(OUR_MAC));
    CHECK(delivered(BROADCAST));
    CHECK(r.device.drops().rx_filtered == 0);
}

TEMPLATE_TEST_CASE("link down and up: the status bit, a config notification, transmit dropped", "[net][virtio]",
    DriverSplitQueue, DriverPackedQueue)
{
    NetRig<TestType> r;
    r.rig.start(f(VIRTIO_NET_F_STATUS));
    const auto before = r.rig.irq.config_count();
    r.device.set_link(false);
    CHECK(r.rig.irq.config_count() == before + 1);
    VirtioNetConfig cfg {};
    r.device.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
    CHECK((cfg.status.get() & VIRTIO_NET_S_LINK_UP) == 0);
    post_tx(r, 1, VirtioNetHdrV1 {}, udp_frame(OTHER_MAC, 20));
    r.rig.kick(1);
    CHECK(r.backend->sent.empty());
    CHECK(r.device.drops().tx_link_down == 1);
    r.device.set_link(true);
    r.device.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
    CHECK((cfg.status.get() & VIRTIO_NET_S_LINK_UP) != 0);
    CHECK(r.rig.irq.config_count() == before + 2);
}
