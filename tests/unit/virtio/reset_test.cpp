// SPDX-License-Identifier: Apache-2.0
// Queue and device reset: in-flight chains of a reset queue are never completed afterwards.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/echo_rig.hpp"
#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

TEST_CASE("a chain popped before a queue reset is not completed on the re-activated queue",
    "[virtio][queue][reset]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 8) });
    auto stale = f.pop();

    f.config.set_ready(false);
    f.config.reset();
    f.driver.configure(f.config);
    f.activate(); // replaces the old Queue
    f.queue->add_used(std::move(stale), 8);

    CHECK(f.driver.used_idx() == 0);
    CHECK_FALSE(f.queue->fault());
    CHECK(f.queue->in_flight() == 0);
}

TEST_CASE("a new Queue does not own chains of the previous one", "[virtio][queue][reset]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 8) });
    auto chain = f.pop();
    const bool owned_before = f.queue->owns(chain);

    f.activate();

    CHECK(owned_before);
    CHECK_FALSE(f.queue->owns(chain));
}

TEST_CASE("after a per-queue reset, held chains of that queue are neither written nor completed",
    "[virtio][queue][reset]")
{
    EchoRig rig;
    const auto out = rig.guest.alloc(8);
    const auto in = rig.guest.alloc(8);
    rig.guest.write(out, bytes_of("payload!"));
    rig.start();
    rig.device.set_hold(true);
    rig.drivers[0].add({ readable(out, 8), writable(in, 8) });
    rig.device.on_queue_notify(0);
    REQUIRE(rig.device.held() == 1);
    const auto old_used = rig.drivers[0].used_addr();

    rig.device.reset_queue(0);
    rig.restart_queue(0);
    rig.device.complete_held();

    CHECK(rig.guest.read(in, 8) == std::vector<std::byte>(8));
    CHECK(rig.guest.read_obj<le16>(old_used + RING_IDX_OFFSET).get() == 0);
    CHECK(rig.drivers[0].used_idx() == 0);
    CHECK(rig.irq.queue_count(0) == 0);
}

TEST_CASE("resetting one queue leaves the other queue running", "[virtio][queue][reset]")
{
    EchoRig rig;
    const auto out = rig.guest.alloc(4);
    const auto in = rig.guest.alloc(4);
    rig.guest.write(out, bytes_of("ping"));
    rig.start();

    rig.device.reset_queue(0);
    rig.drivers[1].add({ readable(out, 4), writable(in, 4) });
    rig.device.on_queue_notify(1);

    CHECK(rig.drivers[1].used_idx() == 1);
    CHECK(rig.guest.read(in, 4) == bytes_of("ping"));
    CHECK(rig.irq.queue_count(1) == 1);
}

TEST_CASE("a reset queue ignores notifications until it is re-enabled", "[virtio][queue][reset]")
{
    EchoRig rig;
    const auto in = rig.guest.alloc(4);
    rig.start();
    rig.device.reset_queue(0);
    rig.drivers[0].add({ writable(in, 4) });

    rig.device.on_queue_notify(0);

    CHECK(rig.drivers[0].used_idx() == 0);
}

TEST_CASE("a re-enabled queue works with its new rings from index 0", "[virtio][queue][reset]")
{
    EchoRig rig;
    const auto out = rig.guest.alloc(4);
    const auto in = rig.guest.alloc(4);
    rig.guest.write(out, bytes_of("pong"));
    rig.start();
    rig.drivers[0].add({ writable(in, 4) });
    rig.device.on_queue_notify(0);
    REQUIRE(rig.drivers[0].used_idx() == 1);

    rig.device.reset_queue(0);
    rig.restart_queue(0);
    rig.drivers[0].add({ readable(out, 4), writable(in, 4) });
    rig.device.on_queue_notify(0);

    CHECK(rig.drivers[0].used_idx() == 1);
    CHECK(rig.drivers[0].used_at(0).len == 4);
    CHECK(rig.guest.read(in, 4) == bytes_of("pong"));
}

TEST_CASE("a device reset drops held chains: nothing is written to guest memory afterwards",
    "[virtio][queue][reset]")
{
    EchoRig rig;
    const auto out = rig.guest.alloc(4);
    const auto in = rig.guest.alloc(4);
    rig.guest.write(out, bytes_of("late"));
    rig.start();
    rig.device.set_hold(true);
    rig.drivers[0].add({ readable(out, 4), writable(in, 4) });
    rig.device.on_queue_notify(0);

    rig.device.reset();
    rig.device.complete_held();

    CHECK(rig.device.held() == 0);
    CHECK(rig.guest.read(in, 4) == std::vector<std::byte>(4));
    CHECK(rig.drivers[0].used_idx() == 0);
    CHECK_FALSE(rig.device.active());
}

TEST_CASE("a device works again after reset and re-activation", "[virtio][queue][reset]")
{
    EchoRig rig;
    const auto out = rig.guest.alloc(4);
    const auto in = rig.guest.alloc(4);
    rig.guest.write(out, bytes_of("back"));
    rig.start();
    rig.device.reset();
    for (std::uint16_t i = 0; i < 2; ++i) {
        rig.configs[i].reset();
        rig.drivers[i] = DriverSplitQueue(rig.guest, 8);
        rig.drivers[i].configure(rig.configs[i]);
    }

    rig.start();
    rig.drivers[0].add({ readable(out, 4), writable(in, 4) });
    rig.device.on_queue_notify(0);

    CHECK(rig.drivers[0].used_idx() == 1);
    CHECK(rig.guest.read(in, 4) == bytes_of("back"));
}
