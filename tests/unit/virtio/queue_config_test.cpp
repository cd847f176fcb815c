// SPDX-License-Identifier: Apache-2.0
// QueueConfig: register handling and the checks made at activation.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

struct SetupFixture {
    FakeGuest guest;
    FakeInterrupt irq;
    QueueConfig config { 256 };
    std::uint64_t desc = guest.alloc(0x4000, 4096);
    std::uint64_t avail = guest.alloc(0x1000, 4096);
    std::uint64_t used = guest.alloc(0x1000, 4096);

    SetupFixture()
    {
        config.set_size(8);
        config.set_desc_addr(desc);
        config.set_driver_addr(avail);
        config.set_device_addr(used);
        config.set_ready(true);
    }

    Result<Queue> activate(std::uint64_t features = BASE_FEATURES)
    {
        return config.activate(0, guest.dma(), features, irq);
    }
};

// Registers are only writable while the queue is disabled.
void with_disabled(QueueConfig& config, auto&& change)
{
    config.set_ready(false);
    change();
    config.set_ready(true);
}

} // namespace

TEST_CASE("a well-formed split queue configuration activates", "[virtio][queue]")
{
    SetupFixture f;

    auto q = f.activate();

    REQUIRE(q);
    CHECK(q->size() == 8);
    CHECK(q->layout() == RingLayout::split);
}

TEST_CASE("a queue that is not enabled does not activate", "[virtio][queue]")
{
    SetupFixture f;
    f.config.set_ready(false);

    CHECK_FALSE(f.activate());
}

TEST_CASE("queue size 0 is refused at activation", "[virtio][queue]")
{
    SetupFixture f;
    with_disabled(f.config, [&] { f.config.set_size(0); });

    CHECK_FALSE(f.activate());
    CHECK_FALSE(f.activate(BASE_FEATURES | PACKED));
}

TEST_CASE("a split queue size that is not a power of two is refused", "[virtio][queue]")
{
    SetupFixture f;
    with_disabled(f.config, [&] { f.config.set_size(6); });

    CHECK_FALSE(f.activate());
    CHECK(f.activate(BASE_FEATURES | PACKED));
}

TEST_CASE("a queue size above the device maximum is refused", "[virtio][queue]")
{
    SetupFixture f;
    with_disabled(f.config, [&] { f.config.set_size(512); });

    CHECK_FALSE(f.activate());
}

TEST_CASE("a misaligned split descriptor table, avail ring or used ring is refused", "[virtio][queue]")
{
    SetupFixture desc;
    with_disabled(desc.config, [&] { desc.config.set_desc_addr(desc.desc + 8); });
    SetupFixture avail;
    with_disabled(avail.config, [&] { avail.config.set_driver_addr(avail.avail + 1); });
    SetupFixture used;
    with_disabled(used.config, [&] { used.config.set_device_addr(used.used + 2); });

    CHECK_FALSE(desc.activate());
    CHECK_FALSE(avail.activate());
    CHECK_FALSE(used.activate());
}

TEST_CASE("split alignments are the minimum: avail at 2 and used at 4 are accepted", "[virtio][queue]")
{
    SetupFixture f;
    with_disabled(f.config, [&] {
        f.config.set_driver_addr(f.avail + 2);
        f.config.set_device_addr(f.used + 4);
    });

    CHECK(f.activate());
}

TEST_CASE("misaligned packed event suppression structures are refused", "[virtio][queue]")
{
    SetupFixture f;
    with_disabled(f.config, [&] { f.config.set_driver_addr(f.avail + 2); });

    CHECK_FALSE(f.activate(BASE_FEATURES | PACKED));
}

TEST_CASE("rings that overlap each other are refused", "[virtio][queue]")
{
    SetupFixture f;
    with_disabled(f.config, [&] { f.config.set_driver_addr(f.desc + 0x40); });

    CHECK_FALSE(f.activate());
}

TEST_CASE("enabling a queue without programming its addresses is refused (all rings at 0 overlap)",
    "[virtio][queue]")
{
    FakeGuest guest;
    FakeInterrupt irq;
    QueueConfig config(8);
    config.set_ready(true);

    CHECK_FALSE(config.activate(0, guest.dma(), BASE_FEATURES, irq));
}

TEST_CASE("a ring outside RAM or in the hole is refused", "[virtio][queue]")
{
    SetupFixture outside;
    with_disabled(outside.config, [&] { outside.config.set_device_addr(FakeGuest::RAM_END); });
    SetupFixture hole;
    with_disabled(hole.config, [&] { hole.config.set_desc_addr(FakeGuest::HOLE_BASE); });
    SetupFixture crossing;
    with_disabled(crossing.config, [&] { crossing.config.set_desc_addr(FakeGuest::HOLE_BASE - 64); });

    CHECK_FALSE(outside.activate());
    CHECK_FALSE(hole.activate());
    CHECK_FALSE(crossing.activate());
}

TEST_CASE("a ring whose end wraps the address space is refused", "[virtio][queue]")
{
    SetupFixture f;
    with_disabled(f.config, [&] { f.config.set_device_addr(0xffff'ffff'ffff'fff0); });

    CHECK_FALSE(f.activate());
}

TEST_CASE("queue registers written while the queue is enabled are ignored", "[virtio][queue]")
{
    SetupFixture f;

    f.config.set_size(4);
    f.config.set_desc_addr(0);
    f.config.set_driver_addr(0);
    f.config.set_device_addr(0);

    CHECK(f.config.size() == 8);
    CHECK(f.config.desc_addr() == f.desc);
    CHECK(f.config.driver_addr() == f.avail);
    CHECK(f.config.device_addr() == f.used);
}

TEST_CASE("a running queue keeps the registers it was activated with", "[virtio][queue]")
{
    SetupFixture f;
    auto q = f.activate();
    REQUIRE(q);

    with_disabled(f.config, [&] { f.config.set_size(4); });

    CHECK(q->size() == 8);
}

TEST_CASE("reset returns the configuration to its defaults", "[virtio][queue]")
{
    SetupFixture f;
    f.config.set_ring_state(RingState { 5, 5, true, true });

    f.config.reset();

    CHECK(f.config.size() == 256);
    CHECK(f.config.desc_addr() == 0);
    CHECK(f.config.driver_addr() == 0);
    CHECK(f.config.device_addr() == 0);
    CHECK_FALSE(f.config.ready());
    CHECK(f.config.ring_state().next_avail == 0);
}

TEST_CASE("a packed ring state outside the ring is refused", "[virtio][queue]")
{
    SetupFixture f;
    f.config.set_ring_state(RingState { 8, 0, true, true });

    CHECK_FALSE(f.activate(BASE_FEATURES | PACKED));
}
