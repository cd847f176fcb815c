// SPDX-License-Identifier: Apache-2.0
// Used-buffer notification coalescing: the hold policy on a hand-moved clock, and what
// Queue::driver_outstanding() reads from the driver's event fields.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/queue_fixture.hpp"
#include "virtio/queue/notify_coalescer.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using namespace std::chrono_literals;

namespace {

using Policy = NotifyHoldPolicy;
using Expiry = NotifyHoldPolicy::Expiry;

const Policy::TimePoint T0 = Policy::TimePoint {} + 1h;

// A policy that has seen the driver at depth `peak`, with arrivals every `every`.
Policy learned(std::uint16_t peak, std::chrono::nanoseconds every)
{
    Policy p;
    REQUIRE_FALSE(p.hold(T0, peak));
    REQUIRE(p.peak() == peak);
    auto t = T0;
    for (int i = 0; i < 64; ++i) {
        p.arrival(t, 2);
        t += every;
    }
    return p;
}

} // namespace

TEST_CASE("queue depth 1 and an unknown depth are never held", "[virtio][coalesce]")
{
    Policy p;
    CHECK_FALSE(p.hold(T0, 1));
    CHECK_FALSE(p.hold(T0, 1));
    CHECK_FALSE(p.hold(T0, std::nullopt));
    CHECK_FALSE(p.hold(T0, 0));
    CHECK_FALSE(p.holding());
    CHECK(p.expired(T0 + 1s, 1) == Expiry::idle);
    // Nor timed: the rate is only for deeper drivers.
    p.arrival(T0 + 2s, 1);
    p.arrival(T0 + 2s + 5us, 1);
    CHECK(p.interval() == Policy::INITIAL_INTERVAL);
}

TEST_CASE("after the interrupt for a batch, the first new request is held too", "[virtio][coalesce]")
{
    Policy p = learned(32, 10us);
    CHECK(p.hold(T0 + 1s, 1));
}

TEST_CASE("a driver that goes down to depth 1 is soon notified at once again", "[virtio][coalesce]")
{
    Policy p = learned(32, 10us);
    auto t = T0 + 1s;
    int holds = 0;
    while (p.hold(t, 1)) {
        REQUIRE(++holds < 20);
        REQUIRE(p.expired(p.due(), 1) == Expiry::notify);
        t = p.due() + 1ms;
    }
    CHECK(p.peak() == 1);
    CHECK(holds <= 12);
}

TEST_CASE("a driver at its deepest is notified at once, and a new depth becomes the peak", "[virtio][coalesce]")
{
    Policy p;
    CHECK_FALSE(p.hold(T0, 8)); // nothing learned yet: 8 is the deepest so far
    CHECK(p.peak() == 8);
    CHECK_FALSE(p.hold(T0, 12));
    CHECK(p.peak() == 12);
}

TEST_CASE("below its peak the notification is held until the driver reaches the peak again", "[virtio][coalesce]")
{
    Policy p = learned(32, 10us);
    const auto t = T0 + 1s;
    p.arrival(t, 5);
    REQUIRE(p.hold(t, 5));
    CHECK(p.holding());
    p.arrival(t + 10us, 20);
    CHECK(p.hold(t + 10us, 20));
    p.arrival(t + 20us, 32);
    CHECK_FALSE(p.hold(t + 20us, 32));
    CHECK_FALSE(p.holding());
    CHECK(p.peak() == 32);
    CHECK(p.stats().holds == 1);
    CHECK(p.stats().at_depth == 1);
}

TEST_CASE("the submission interval is a moving average of arrivals, pauses left out", "[virtio][coalesce]")
{
    Policy p;
    CHECK(p.interval() == Policy::INITIAL_INTERVAL);
    REQUIRE_FALSE(p.hold(T0, 4)); // a driver of depth 4
    auto t = T0;
    for (int i = 0; i < 200; ++i) {
        p.arrival(t, 4);
        t += 10us;
    }
    CHECK(p.interval() > 9us);
    CHECK(p.interval() < 11us);
    // A pause longer than MAX_SAMPLE says nothing about the rate.
    p.arrival(t + Policy::MAX_SAMPLE + 1ms, 4);
    CHECK(p.interval() < 11us);
    // Clamped at both ends.
    for (int i = 0; i < 400; ++i) {
        t += 9ms;
        p.arrival(t, 4);
    }
    CHECK(p.interval() == Policy::MAX_INTERVAL);
}

TEST_CASE("a driver that stops adding below its peak is notified after WINDOW intervals, and its peak drops",
    "[virtio][coalesce]")
{
    Policy p = learned(32, 10us);
    auto t = T0 + 1s;
    p.arrival(t, 8);
    REQUIRE(p.hold(t, 8));
    const auto window = 10us * Policy::WINDOW;
    CHECK(p.due() <= t + window + 1us);
    CHECK(p.due() >= t + window - 1us);
    CHECK(p.expired(t + window / 2, 8) == Expiry::rearm);
    CHECK(p.expired(p.due(), 8) == Expiry::notify);
    CHECK_FALSE(p.holding());
    CHECK(p.stats().by_time == 1);
    CHECK(p.peak() == 24); // a quarter lower
    // A driver that stays at 8 is soon not held any more: 24, 18, 14, 11, 9, 8.
    int holds = 1;
    for (;;) {
        t += 1ms;
        p.arrival(t, 8);
        if (!p.hold(t, 8)) {
            break;
        }
        REQUIRE(++holds < 10);
        REQUIRE(p.expired(p.due(), 8) == Expiry::notify);
    }
    CHECK(holds == 6);
    CHECK(p.peak() == 8);
}

TEST_CASE("an expiry that finds the driver at its peak notifies", "[virtio][coalesce]")
{
    Policy p = learned(16, 10us);
    const auto t = T0 + 1s;
    p.arrival(t, 4);
    REQUIRE(p.hold(t, 4));
    CHECK(p.expired(t + 1us, 16) == Expiry::notify);
    CHECK(p.peak() == 16);
}

TEST_CASE("arrivals that keep coming below the peak cannot hold the notification for ever", "[virtio][coalesce]")
{
    Policy p = learned(8, 10us);
    auto t = T0 + 1s;
    p.arrival(t, 2);
    REQUIRE(p.hold(t, 2));
    const auto start = t;
    // (peak + 2) * 2 intervals at most: 200 us here.
    int rearms = 0;
    for (;;) {
        t += 10us;
        p.arrival(t, 3);
        const auto e = p.expired(t, 3);
        if (e == Expiry::notify) {
            break;
        }
        REQUIRE(e == Expiry::rearm);
        REQUIRE(++rearms < 1000);
    }
    CHECK(t - start <= 205us);
    CHECK(t - start >= 195us);
}

TEST_CASE("no hold outlasts MAX_HOLD, however slow the driver", "[virtio][coalesce]")
{
    Policy p = learned(200, Policy::MAX_INTERVAL);
    const auto t = T0 + 1h;
    p.arrival(t, 3);
    REQUIRE(p.hold(t, 3));
    for (auto when = t; when < t + 10s; when += 1ms) {
        p.arrival(when, 3);
        CHECK(p.due() <= t + Policy::MAX_HOLD);
        if (p.expired(when, 3) == Expiry::notify) {
            break;
        }
    }
    CHECK_FALSE(p.holding());
}

TEST_CASE("clear() drops a hold", "[virtio][coalesce]")
{
    Policy p = learned(8, 10us);
    REQUIRE(p.hold(T0 + 1s, 2));
    p.clear();
    CHECK(p.expired(T0 + 2s, 2) == Expiry::idle);
}

// ---- Queue::driver_outstanding ----

TEST_CASE("split: without EVENT_IDX the driver's depth is unknown", "[virtio][coalesce]")
{
    SplitFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 1) });
    (void)f.pop();
    CHECK_FALSE(f.queue->driver_outstanding());
}

TEST_CASE("split: outstanding counts the heads taken since used_event", "[virtio][coalesce]")
{
    SplitFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_used_event(0);
    CHECK(f.queue->driver_outstanding() == 0);
    std::vector<DescriptorChain> chains;
    for (int i = 0; i < 3; ++i) {
        f.driver.add({ writable(b, 1) });
        chains.push_back(f.pop());
    }
    CHECK(f.queue->driver_outstanding() == 3);
    f.driver.set_used_event(2);
    CHECK(f.queue->driver_outstanding() == 1);
}

TEST_CASE("split: a used_event ahead of what was taken, or a ring behind, is no depth", "[virtio][coalesce]")
{
    SplitFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 1) });
    auto chain = f.pop();
    f.driver.set_used_event(5); // ahead of next_avail 1
    CHECK_FALSE(f.queue->driver_outstanding());
    f.driver.set_used_event(0xfff0); // 17 behind, more than the 8-entry ring
    CHECK_FALSE(f.queue->driver_outstanding());
}

TEST_CASE("packed: outstanding counts slots since the driver's event descriptor", "[virtio][coalesce]")
{
    PackedFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_driver_event(RING_EVENT_FLAGS_DESC, 0, true);
    std::vector<DescriptorChain> chains;
    for (int i = 0; i < 3; ++i) {
        f.driver.add({ writable(b, 1) });
        chains.push_back(f.pop());
    }
    CHECK(f.queue->driver_outstanding() == 3);
    f.driver.set_driver_event(RING_EVENT_FLAGS_ENABLE);
    CHECK_FALSE(f.queue->driver_outstanding());
    f.driver.set_driver_event(RING_EVENT_FLAGS_DESC, 9, true); // offset outside the ring
    CHECK_FALSE(f.queue->driver_outstanding());
    f.driver.set_driver_event(RING_EVENT_FLAGS_DESC, 5, true); // ahead of what was taken
    CHECK_FALSE(f.queue->driver_outstanding());
}
