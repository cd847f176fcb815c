// SPDX-License-Identifier: Apache-2.0
// virtio-mem through its Device interface, over split and packed rings: the configuration,
// PLUG, UNPLUG, UNPLUG_ALL and STATE with good and bad ranges (unplugged blocks really leave
// the host), the usable region, resize from the API, reset, and malformed requests.
#include <algorithm>
#include <optional>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/device_rig.hpp"
#include "virtio/devices/mem/mem.hpp"
#include "virtio/spec/mem.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

constexpr std::uint64_t MiB = 1ULL << 20;
constexpr std::uint64_t BASE = 1ULL << 30; // where the hot-plug region sits
constexpr std::uint64_t BLOCK = 2 * MiB;

// The device's region lives in its own GuestMemory: the rig's fake guest holds the rings.
GuestMemory hotplug_memory(std::uint64_t size)
{
    const MemoryRegionSpec spec { GuestAddress { BASE }, size, true };
    auto m = GuestMemory::create(std::span(&spec, 1));
    REQUIRE(m);
    return std::move(m).value();
}

mem::MemOptions options(std::uint64_t region, std::uint64_t requested)
{
    mem::MemOptions o;
    o.region_size = region;
    o.block_size = BLOCK;
    o.requested_size = requested;
    return o;
}

struct Reply {
    std::uint32_t used_len = 0;
    std::uint16_t type = 0xffff;
    std::uint16_t state = 0xffff;
};

template <class Driver>
struct MemRig {
    explicit MemRig(std::uint64_t region = 64 * MiB, std::uint64_t requested = 16 * MiB)
        : memory(hotplug_memory(region))
        , device(memory, memory.regions().front(), options(region, requested))
    {
        rig.start(feature_bit(VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE));
    }

    Reply send(std::uint16_t type, std::uint64_t addr = 0, std::uint16_t nb_blocks = 0)
    {
        VirtioMemReq req {};
        req.type = le16(type);
        req.addr = le64(addr);
        req.nb_blocks = le16(nb_blocks);
        const std::uint64_t in = rig.buffer(sizeof(req));
        rig.guest.write_obj(in, req);
        const std::uint64_t out = rig.buffer(sizeof(VirtioMemResp));
        rig.guest.fill(out, std::byte { 0xff }, sizeof(VirtioMemResp));
        rig.queue(0).add({ readable(in, sizeof(req)), writable(out, sizeof(VirtioMemResp)) });
        rig.kick(0);
        const auto used = rig.queue(0).pop_used();
        REQUIRE(used);
        const auto resp = rig.guest.template read_obj<VirtioMemResp>(out);
        return Reply { used->len, resp.type.get(), resp.state.get() };
    }
    Reply plug(std::uint64_t offset, std::uint16_t n) { return send(VIRTIO_MEM_REQ_PLUG, BASE + offset, n); }
    Reply unplug(std::uint64_t offset, std::uint16_t n) { return send(VIRTIO_MEM_REQ_UNPLUG, BASE + offset, n); }
    Reply state(std::uint64_t offset, std::uint16_t n) { return send(VIRTIO_MEM_REQ_STATE, BASE + offset, n); }

    std::uint64_t config_u64(std::size_t offset) const
    {
        std::uint64_t v = 0;
        device.read_config(static_cast<std::uint32_t>(offset), std::as_writable_bytes(std::span(&v, 1)));
        return v;
    }
    std::byte* host(std::uint64_t offset) const { return memory.regions().front().host() + offset; }
    bool all(std::uint64_t offset, std::uint64_t len, std::uint8_t v) const
    {
        return std::all_of(host(offset), host(offset) + len, [v](std::byte b) { return b == std::byte { v }; });
    }

    GuestMemory memory;
    DeviceRig<Driver> rig { device };
    mem::MemDevice device;
};

} // namespace

TEST_CASE("virtio-mem's configuration has its region, block size, and a usable region around the request",
    "[mem]")
{
    GuestMemory m = hotplug_memory(1024 * MiB);
    mem::MemOptions o = options(1024 * MiB, 100 * MiB);
    mem::MemDevice d(m, m.regions().front(), o);
    CHECK(d.type() == DeviceType::mem);
    CHECK(d.config_size() == sizeof(VirtioMemConfig));
    CHECK(d.queue_max_sizes().size() == 1);
    CHECK(has_feature(d.features(), VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE));
    CHECK_FALSE(has_feature(d.features(), VIRTIO_MEM_F_ACPI_PXM));
    VirtioMemConfig cfg {};
    d.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
    CHECK(cfg.block_size.get() == BLOCK);
    CHECK(cfg.addr.get() == BASE);
    CHECK(cfg.region_size.get() == 1024 * MiB);
    CHECK(cfg.requested_size.get() == 100 * MiB);
    CHECK(cfg.plugged_size.get() == 0);
    // requested + 256 MiB, within the region and a multiple of the block size.
    CHECK(cfg.usable_region_size.get() == 356 * MiB);
    CHECK(cfg.node_id.get() == 0);

    o.node = 3;
    o.requested_size = 0;
    mem::MemDevice numa(m, m.regions().front(), o);
    CHECK(has_feature(numa.features(), VIRTIO_MEM_F_ACPI_PXM));
    numa.read_config(0, std::as_writable_bytes(std::span(&cfg, 1)));
    CHECK(cfg.node_id.get() == 3);
    CHECK(cfg.usable_region_size.get() == 0); // nothing requested, nothing usable
}

TEMPLATE_TEST_CASE("virtio-mem plugs up to the requested size, reports block states and unplugs", "[mem]",
    DriverSplitQueue, DriverPackedQueue)
{
    MemRig<TestType> t; // 64 MiB region, 16 MiB requested: 8 blocks may be plugged
    auto r = t.plug(0, 4);
    CHECK(r.used_len == sizeof(VirtioMemResp));
    CHECK(r.type == VIRTIO_MEM_RESP_ACK);
    CHECK(t.device.plugged_size() == 8 * MiB);
    CHECK(t.config_u64(offsetof(VirtioMemConfig, plugged_size)) == 8 * MiB);

    CHECK(t.state(0, 4).state == VIRTIO_MEM_STATE_PLUGGED);
    CHECK(t.state(4 * BLOCK, 4).state == VIRTIO_MEM_STATE_UNPLUGGED);
    CHECK(t.state(2 * BLOCK, 4).state == VIRTIO_MEM_STATE_MIXED);
    CHECK(t.state(2 * BLOCK, 4).type == VIRTIO_MEM_RESP_ACK);

    // Already plugged (wholly or partly): ERROR. Past the requested size: NACK.
    CHECK(t.plug(0, 1).type == VIRTIO_MEM_RESP_ERROR);
    CHECK(t.plug(3 * BLOCK, 2).type == VIRTIO_MEM_RESP_ERROR);
    CHECK(t.plug(8 * BLOCK, 5).type == VIRTIO_MEM_RESP_NACK);
    CHECK(t.plug(8 * BLOCK, 4).type == VIRTIO_MEM_RESP_ACK);
    CHECK(t.device.plugged_size() == 16 * MiB);
    CHECK(t.plug(20 * BLOCK, 1).type == VIRTIO_MEM_RESP_NACK);

    // The guest uses the memory; unplugging gives it back: it reads zeroes afterwards.
    std::fill(t.host(0), t.host(4 * BLOCK), std::byte { 0x5a });
    CHECK(t.unplug(BLOCK, 2).type == VIRTIO_MEM_RESP_ACK);
    CHECK(t.all(BLOCK, 2 * BLOCK, 0));
    CHECK(t.all(0, BLOCK, 0x5a));
    CHECK(t.all(3 * BLOCK, BLOCK, 0x5a));
    CHECK(t.device.plugged_size() == 12 * MiB);
    CHECK(t.device.counters().released_bytes == 2 * BLOCK);
    // Not (all) plugged: ERROR, and nothing changes.
    CHECK(t.unplug(BLOCK, 1).type == VIRTIO_MEM_RESP_ERROR);
    CHECK(t.unplug(0, 2).type == VIRTIO_MEM_RESP_ERROR);
    CHECK(t.all(0, BLOCK, 0x5a));
    CHECK(t.device.plugged_size() == 12 * MiB);
    CHECK(t.device.counters().plugs == 2);
    CHECK(t.device.counters().unplugs == 1);
    CHECK(t.device.counters().nacks == 2);
    CHECK(t.device.counters().errors == 4);
}

TEMPLATE_TEST_CASE("virtio-mem UNPLUG_ALL empties the region and shrinks the usable region", "[mem]",
    DriverSplitQueue, DriverPackedQueue)
{
    MemRig<TestType> t(1024 * MiB, 512 * MiB);
    CHECK(t.device.usable_region_size() == 768 * MiB);
    CHECK(t.plug(700 * MiB, 10).type == VIRTIO_MEM_RESP_ACK);
    std::fill(t.host(700 * MiB), t.host(720 * MiB), std::byte { 0x11 });
    REQUIRE(t.device.resize(0));
    CHECK(t.device.usable_region_size() == 768 * MiB); // only UNPLUG_ALL shrinks it
    const auto configs = t.rig.irq.config_count();
    const auto r = t.send(VIRTIO_MEM_REQ_UNPLUG_ALL);
    CHECK(r.type == VIRTIO_MEM_RESP_ACK);
    CHECK(t.device.plugged_size() == 0);
    CHECK(t.device.usable_region_size() == 0);
    CHECK(t.config_u64(offsetof(VirtioMemConfig, usable_region_size)) == 0);
    CHECK(t.rig.irq.config_count() == configs); // §5.15.5: no notification for UNPLUG_ALL
    CHECK(t.all(700 * MiB, 20 * MiB, 0));
    // Again, with nothing plugged: still an ACK.
    CHECK(t.send(VIRTIO_MEM_REQ_UNPLUG_ALL).type == VIRTIO_MEM_RESP_ACK);
}

TEMPLATE_TEST_CASE("virtio-mem answers bad ranges and unknown requests with ERROR", "[mem]", DriverSplitQueue,
    DriverPackedQueue)
{
    MemRig<TestType> t(1024 * MiB, 16 * MiB); // usable: 272 MiB
    CHECK(t.plug(MiB, 1).type == VIRTIO_MEM_RESP_ERROR);                      // not block-aligned
    CHECK(t.plug(0, 0).type == VIRTIO_MEM_RESP_ERROR);                        // no blocks
    CHECK(t.plug(272 * MiB, 1).type == VIRTIO_MEM_RESP_ERROR);                // past the usable region
    CHECK(t.plug(270 * MiB, 2).type == VIRTIO_MEM_RESP_ERROR);                // runs past it
    CHECK(t.send(VIRTIO_MEM_REQ_PLUG, BASE - BLOCK, 1).type == VIRTIO_MEM_RESP_ERROR); // below the region
    CHECK(t.send(VIRTIO_MEM_REQ_STATE, ~0ULL - BLOCK + 1, 0xffff).type == VIRTIO_MEM_RESP_ERROR); // wraps
    CHECK(t.send(VIRTIO_MEM_REQ_UNPLUG, 0, 1).type == VIRTIO_MEM_RESP_ERROR);
    CHECK(t.send(7, BASE, 1).type == VIRTIO_MEM_RESP_ERROR); // unknown type
    CHECK(t.state(0, 0xffff).type == VIRTIO_MEM_RESP_ERROR);
    CHECK(t.device.plugged_size() == 0);
    CHECK(t.device.counters().errors == 9);
    CHECK(t.rig.irq.needs_reset_count() == 0);
    // The last block of the usable region is fine.
    CHECK(t.plug(270 * MiB, 1).type == VIRTIO_MEM_RESP_ACK);
}

TEMPLATE_TEST_CASE("virtio-mem returns malformed chains unanswered and goes on", "[mem]", DriverSplitQueue,
    DriverPackedQueue)
{
    MemRig<TestType> t;
    // A short request.
    const std::uint64_t in = t.rig.buffer(24);
    const std::uint64_t out = t.rig.buffer(10);
    t.rig.queue(0).add({ readable(in, 23), writable(out, 10) });
    t.rig.kick(0);
    auto used = t.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    // No room for the response.
    t.rig.queue(0).add({ readable(in, 24), writable(out, 9) });
    t.rig.kick(0);
    used = t.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    // No response buffer at all.
    t.rig.queue(0).add({ readable(in, 24) });
    t.rig.kick(0);
    REQUIRE(t.rig.queue(0).pop_used());
    CHECK(t.device.counters().bad_requests == 3);
    CHECK(t.plug(0, 1).type == VIRTIO_MEM_RESP_ACK);
}

TEMPLATE_TEST_CASE("mem-resize changes the requested size with a config interrupt; reset keeps plugged blocks",
    "[mem]", DriverSplitQueue, DriverPackedQueue)
{
    MemRig<TestType> t(1024 * MiB, 0);
    CHECK(t.plug(0, 1).type == VIRTIO_MEM_RESP_ERROR); // nothing usable yet
    const auto configs = t.rig.irq.config_count();
    CHECK_FALSE(t.device.resize(MiB));          // not whole blocks
    CHECK_FALSE(t.device.resize(2048 * MiB));   // more than the region
    CHECK(t.rig.irq.config_count() == configs);
    REQUIRE(t.device.resize(64 * MiB));
    CHECK(t.rig.irq.config_count() == configs + 1);
    CHECK(t.config_u64(offsetof(VirtioMemConfig, requested_size)) == 64 * MiB);
    CHECK(t.device.usable_region_size() == 320 * MiB);
    CHECK(t.plug(0, 32).type == VIRTIO_MEM_RESP_ACK);
    std::fill(t.host(0), t.host(MiB), std::byte { 0x77 });

    // §5.15.5: a device reset changes no block; the driver finds what is still plugged.
    t.device.reset();
    CHECK(t.device.plugged_size() == 64 * MiB);
    CHECK(t.config_u64(offsetof(VirtioMemConfig, plugged_size)) == 64 * MiB);
    CHECK(t.all(0, MiB, 0x77));
    t.rig.start(feature_bit(VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE));
    CHECK(t.state(0, 32).state == VIRTIO_MEM_STATE_PLUGGED);
    CHECK(t.send(VIRTIO_MEM_REQ_UNPLUG_ALL).type == VIRTIO_MEM_RESP_ACK);
    CHECK(t.device.usable_region_size() == 320 * MiB); // still requested
    CHECK(t.device.status()["plugged_size"] == 0);
    CHECK(t.device.status()["requested_size"] == 64 * MiB);
}
