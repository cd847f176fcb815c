// SPDX-License-Identifier: Apache-2.0
// virtio-blk with a loop: used-buffer notifications held while the driver is below its
// depth, sent at once at depth 1, and dropped with a reset.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/block_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::block;
using namespace vmm::virtio::test;
using namespace std::chrono_literals;

namespace {

struct CoalesceRig {
    EventLoop loop;
    BlkRig rig { options(&loop) };
    std::uint16_t consumed = 0;

    static BlkRigOptions options(EventLoop* loop)
    {
        BlkRigOptions o;
        o.add_features = feature_bit(VIRTIO_F_EVENT_IDX);
        o.loop = loop;
        return o;
    }
    CoalesceRig()
    {
        rig.start();
        rig.queues[0].split().set_used_event(0);
    }
    // The driver takes `n` reads to the device (one notification) and the backend completes them.
    void submit(int n)
    {
        for (int i = 0; i < n; ++i) {
            (void)rig.read(0, static_cast<std::uint64_t>(i), 512);
        }
        rig.notify(0);
        rig.backend->complete_all();
    }
    // The driver's interrupt handler: takes every used entry and asks for the next one.
    std::uint16_t consume()
    {
        std::uint16_t n = 0;
        while (rig.queues[0].pop_used()) {
            ++n;
        }
        consumed = static_cast<std::uint16_t>(consumed + n);
        rig.queues[0].split().set_used_event(consumed);
        return n;
    }
    [[nodiscard]] std::uint64_t interrupts() const { return rig.irq.queue_count(0); }
    // Runs the loop until the notification timer has fired (or a second has passed).
    void run_timers()
    {
        loop.io().restart();
        loop.io().run_for(1s);
    }
};

} // namespace

TEST_CASE("blk: at queue depth 1 every completion notifies at once", "[virtio][blk][coalesce]")
{
    CoalesceRig c;
    for (int i = 1; i <= 3; ++i) {
        c.submit(1);
        CHECK(c.interrupts() == static_cast<std::uint64_t>(i));
        CHECK(c.consume() == 1);
    }
    CHECK_FALSE(c.rig.device->coalescer(0)->policy().holding());
}

TEST_CASE("blk: below the driver's depth the interrupt waits until the driver is back at it", "[virtio][blk][coalesce]")
{
    CoalesceRig c;
    c.submit(4); // depth 4, the deepest so far: at once
    REQUIRE(c.interrupts() == 1);
    REQUIRE(c.consume() == 4);

    c.submit(2);
    CHECK(c.interrupts() == 1);
    CHECK(c.rig.device->coalescer(0)->policy().holding());
    c.submit(2); // 4 outstanding again
    CHECK(c.interrupts() == 2);
    CHECK(c.consume() == 4);
}

TEST_CASE("blk: a held interrupt is sent when the driver adds nothing more, and the depth it waits for drops",
    "[virtio][blk][coalesce]")
{
    CoalesceRig c;
    c.submit(4);
    REQUIRE(c.consume() == 4);
    c.submit(2);
    REQUIRE(c.interrupts() == 1);

    c.run_timers();

    CHECK(c.interrupts() == 2);
    CHECK(c.consume() == 2);
    CHECK(c.rig.device->coalescer(0)->policy().peak() == 3); // a quarter lower
    c.submit(3); // the new depth: at once
    CHECK(c.interrupts() == 3);
}

TEST_CASE("blk: a device or queue reset drops a held interrupt", "[virtio][blk][coalesce]")
{
    CoalesceRig c;
    c.submit(4);
    REQUIRE(c.consume() == 4);
    c.submit(2);
    REQUIRE(c.rig.device->coalescer(0)->policy().holding());

    std::uint16_t peak_after = 0;
    SECTION("device reset: the next driver's depth is learned afresh")
    {
        c.rig.device->reset();
        peak_after = 0;
    }
    SECTION("queue reset: same driver, same depth")
    {
        c.rig.device->reset_queue(0);
        peak_after = 4;
    }
    c.run_timers();

    CHECK(c.interrupts() == 1);
    CHECK_FALSE(c.rig.device->coalescer(0)->policy().holding());
    CHECK(c.rig.device->coalescer(0)->policy().peak() == peak_after);
}

TEST_CASE("blk: \"coalesce\": false sends an interrupt for every completion round", "[virtio][blk][coalesce]")
{
    EventLoop loop;
    BlkRigOptions o = CoalesceRig::options(&loop);
    o.device.coalesce = false;
    BlkRig rig(o);
    rig.start();
    rig.queues[0].split().set_used_event(0);
    for (int i = 0; i < 4; ++i) {
        (void)rig.read(0, 0, 512);
    }
    (void)rig.run(0);
    while (rig.queues[0].pop_used()) {
    }
    rig.queues[0].split().set_used_event(4);
    (void)rig.read(0, 0, 512);
    (void)rig.run(0);

    CHECK(rig.irq.queue_count(0) == 2);
    CHECK(rig.device->coalescer(0) == nullptr);
}
