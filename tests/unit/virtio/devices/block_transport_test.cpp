// SPDX-License-Identifier: Apache-2.0
// virtio-blk behind each real transport, driven through registers as a guest drives it.
#include <catch2/catch.hpp>

#include "tests/support/fake_block_backend.hpp"
#include "tests/support/transport_rig.hpp"
#include "virtio/devices/block/block_device.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::block;
using namespace vmm::virtio::test;

namespace {

constexpr std::uint16_t QSIZE = 16;

struct Running {
    explicit Running(RigTransport t, BlockOptions o = {}, std::uint64_t drop = 0)
    {
        o.queue_size = QSIZE;
        auto b = std::make_unique<FakeBlockBackend>(64 * 1024);
        backend = b.get();
        rig = make_rig(t, std::make_unique<BlockDevice>(std::move(b), o));
        const std::uint64_t offered = rig->driver().device_features();
        // Split rings: the driver-side queues here are DriverSplitQueues.
        accepted = rig->driver().negotiate(
            offered & ~drop & ~feature_bit(VIRTIO_F_RING_PACKED) & ~feature_bit(VIRTIO_F_EVENT_IDX));
        REQUIRE(accepted);
        for (std::uint16_t i = 0; i < o.num_queues; ++i) {
            queues.emplace_back(rig->guest, QSIZE);
            rig->driver().setup_queue(i, queues.back());
        }
        rig->driver().driver_ok();
    }

    // A 3-descriptor request; returns the status byte's address.
    std::uint64_t request(std::uint16_t q, std::uint32_t type, std::uint64_t sector, std::uint32_t len, bool writable_data)
    {
        auto& g = rig->guest;
        const std::uint64_t h = g.alloc(16);
        VirtioBlkReqHeader hdr {};
        hdr.type.set(type);
        hdr.sector.set(sector);
        g.write_obj(h, hdr);
        const std::uint64_t status = g.alloc(1);
        g.fill(status, std::byte { 0xee }, 1);
        std::vector<Buf> bufs { readable(h, 16) };
        if (len > 0) {
            last_data = g.alloc(len);
            bufs.push_back(Buf { last_data, len, writable_data });
        }
        bufs.push_back(writable(status, 1));
        queues[q].add(bufs);
        return status;
    }
    [[nodiscard]] std::uint8_t status_at(std::uint64_t a) const
    {
        return std::to_integer<std::uint8_t>(rig->guest.read(a, 1)[0]);
    }

    std::unique_ptr<TransportRig> rig;
    FakeBlockBackend* backend = nullptr;
    std::optional<std::uint64_t> accepted;
    std::vector<DriverSplitQueue> queues;
    std::uint64_t last_data = 0;
};

} // namespace

TEST_CASE("block: the transport shows device ID 2 and the capacity in the config space", "[virtio][blk][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        Running r(t);

        CHECK(r.rig->driver().device_id() == static_cast<std::uint32_t>(DeviceType::block));
        CHECK(r.rig->driver().read_config_obj<le64>(0).get() == 128);
        CHECK(has_feature(*r.accepted, VIRTIO_BLK_F_FLUSH));
        CHECK(has_feature(*r.accepted, VIRTIO_F_RING_RESET));
    }
}

TEST_CASE("block: a write and a read through the transport complete with queue interrupts", "[virtio][blk][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        Running r(t);
        const auto payload = pattern(1024, 8);
        const std::uint64_t ws = r.request(0, VIRTIO_BLK_T_OUT, 2, 1024, false);
        r.rig->guest.write(r.last_data, payload);
        r.rig->driver().notify(0);
        r.backend->complete_all();
        const std::uint32_t first = r.rig->driver().queue_interrupts(0);
        const std::uint64_t rs = r.request(0, VIRTIO_BLK_T_IN, 2, 1024, true);

        r.rig->driver().notify(0);
        r.backend->complete_all();

        CHECK(r.status_at(ws) == VIRTIO_BLK_S_OK);
        CHECK(r.status_at(rs) == VIRTIO_BLK_S_OK);
        CHECK(r.rig->guest.read(r.last_data, 1024) == payload);
        CHECK(r.queues[0].pop_used());
        CHECK(r.queues[0].pop_used());
        CHECK(first == 1);
        CHECK(r.rig->driver().queue_interrupts(0) == 2);
    }
}

TEST_CASE("block: the driver switches the cache mode through the writeback config byte", "[virtio][blk][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        Running r(t);
        const std::byte zero { 0 };

        r.rig->driver().write_config(offsetof(VirtioBlkConfig, writeback), std::span(&zero, 1));
        r.request(0, VIRTIO_BLK_T_OUT, 0, 512, false);
        r.rig->driver().notify(0);
        r.backend->complete_all();

        CHECK(r.rig->driver().read_config_obj<std::uint8_t>(offsetof(VirtioBlkConfig, writeback)) == 0);
        REQUIRE(r.backend->records().size() == 1);
        CHECK(r.backend->records()[0].sync);
    }
}

TEST_CASE("block: resize raises a configuration interrupt and changes the generation", "[virtio][blk][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        Running r(t);
        const std::uint32_t gen = r.rig->driver().config_generation();

        REQUIRE(r.rig->device<BlockDevice>().resize(1024 * 1024));

        CHECK(r.rig->driver().config_interrupts() == 1);
        CHECK(r.rig->driver().config_generation() != gen);
        CHECK(r.rig->driver().read_config_obj<le64>(0).get() == 2048);
    }
}

TEST_CASE("block: status reads 0 only after in-flight requests are finished, and none completes",
    "[virtio][blk][transport][reset]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        Running r(t);
        const std::uint64_t s = r.request(0, VIRTIO_BLK_T_IN, 0, 512, true);
        r.rig->driver().notify(0);
        REQUIRE(r.backend->in_flight() == 1);
        const std::uint32_t drains = r.backend->drains();

        r.rig->driver().set_status(0);

        CHECK(r.rig->driver().status() == 0);
        CHECK(r.backend->drains() == drains + 1);
        CHECK(r.backend->in_flight() == 0);
        CHECK(r.status_at(s) == 0xee);
        CHECK_FALSE(r.queues[0].pop_used());
    }
}

TEST_CASE("block: a queue reset through the transport drops that queue's in-flight requests",
    "[virtio][blk][transport][reset]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        BlockOptions o;
        o.num_queues = 2;
        Running r(t, o);
        const std::uint64_t s0 = r.request(0, VIRTIO_BLK_T_IN, 0, 512, true);
        const std::uint64_t s1 = r.request(1, VIRTIO_BLK_T_IN, 0, 512, true);
        r.rig->driver().notify(0);
        r.rig->driver().notify(1);

        r.rig->driver().reset_queue(1);

        CHECK(r.backend->in_flight() == 0);
        CHECK(r.status_at(s0) == VIRTIO_BLK_S_OK);
        CHECK(r.status_at(s1) == 0xee);
        CHECK_FALSE(r.queues[1].pop_used());
        CHECK_FALSE(r.rig->driver().queue_ready(1));
    }
}

TEST_CASE("block: a driver without MQ uses queue 0 of a multiqueue device", "[virtio][blk][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        BlockOptions o;
        o.num_queues = 4;
        o.queue_size = QSIZE;
        auto b = std::make_unique<FakeBlockBackend>(64 * 1024);
        FakeBlockBackend* backend = b.get();
        auto rig = make_rig(t, std::make_unique<BlockDevice>(std::move(b), o));
        const auto accepted = rig->driver().negotiate(
            rig->driver().device_features() & ~feature_bit(VIRTIO_BLK_F_MQ) & ~feature_bit(VIRTIO_F_RING_PACKED));
        REQUIRE(accepted);
        DriverSplitQueue q(rig->guest, QSIZE);
        rig->driver().setup_queue(0, q);
        rig->driver().driver_ok();
        const std::uint64_t h = rig->guest.alloc(16);
        VirtioBlkReqHeader hdr {};
        hdr.type.set(VIRTIO_BLK_T_FLUSH);
        rig->guest.write_obj(h, hdr);
        const std::uint64_t s = rig->guest.alloc(1);
        q.add({ readable(h, 16), writable(s, 1) });

        rig->driver().notify(0);
        backend->complete_all();

        CHECK(std::to_integer<int>(rig->guest.read(s, 1)[0]) == VIRTIO_BLK_S_OK);
        CHECK_FALSE(rig->driver().needs_reset());
    }
}
