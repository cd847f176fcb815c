// SPDX-License-Identifier: Apache-2.0
// TimingFaults: held notifies, late interrupts, steady configuration interrupts, and their bounds.
#include <chrono>
#include <vector>

#include <catch2/catch.hpp>

#include "virtio/transport/timing_faults.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm::virtio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Rig {
    vmm::EventLoop loop;
    std::vector<std::uint16_t> notifies, irqs;
    int configs = 0;
    TimingFaults faults { &loop, 2, [this](std::uint16_t q) { notifies.push_back(q); },
        [this](std::uint16_t q) { irqs.push_back(q); }, [this] { ++configs; } };

    template <class Pred>
    void run_until(Pred done)
    {
        const auto start = Clock::now();
        while (!done()) {
            loop.io().run_one_for(50ms);
            REQUIRE(Clock::now() - start < 5s);
        }
    }
};

} // namespace

TEST_CASE("a stalled queue holds its notifies and delivers one when the stall ends", "[virtio][faults][timing]")
{
    Rig rig;
    CHECK_FALSE(rig.faults.hold_notify(0)); // nothing stalled yet
    const auto start = Clock::now();
    REQUIRE(rig.faults.stall_queue(0, 40ms));
    CHECK(rig.faults.hold_notify(0));
    CHECK(rig.faults.hold_notify(0));
    CHECK_FALSE(rig.faults.hold_notify(1)); // the other queue runs
    rig.run_until([&] { return !rig.notifies.empty(); });
    CHECK(Clock::now() - start >= 40ms);
    CHECK(rig.notifies == std::vector<std::uint16_t> { 0 });
    CHECK(rig.faults.held_notifies() == 2);
    CHECK_FALSE(rig.faults.hold_notify(0)); // over
}

TEST_CASE("delayed interrupts arrive after the delay; 0 turns the delay off", "[virtio][faults][timing]")
{
    Rig rig;
    REQUIRE(rig.faults.delay_interrupts(30ms));
    const auto start = Clock::now();
    CHECK(rig.faults.hold_queue_irq(1));
    rig.run_until([&] { return !rig.irqs.empty(); });
    CHECK(Clock::now() - start >= 30ms);
    CHECK(rig.irqs == std::vector<std::uint16_t> { 1 });
    REQUIRE(rig.faults.delay_interrupts(0ms));
    CHECK_FALSE(rig.faults.hold_queue_irq(1));
}

TEST_CASE("configuration interrupts come at the period until turned off", "[virtio][faults][timing]")
{
    Rig rig;
    REQUIRE(rig.faults.config_interrupts_every(10ms));
    rig.run_until([&] { return rig.configs >= 3; });
    REQUIRE(rig.faults.config_interrupts_every(0ms));
    const int seen = rig.configs;
    rig.loop.io().run_for(50ms);
    CHECK(rig.configs == seen);
    CHECK(rig.faults.config_interrupts() == static_cast<std::uint64_t>(seen));
}

TEST_CASE("timing faults refuse bad values and a missing loop", "[virtio][faults][timing]")
{
    Rig rig;
    CHECK_FALSE(rig.faults.stall_queue(2, 10ms)); // no such queue
    CHECK_FALSE(rig.faults.stall_queue(0, 0ms));
    CHECK_FALSE(rig.faults.stall_queue(0, 60001ms));
    CHECK_FALSE(rig.faults.delay_interrupts(60001ms));
    CHECK_FALSE(rig.faults.config_interrupts_every(5ms));
    TimingFaults no_loop(nullptr, 1, [](std::uint16_t) {}, [](std::uint16_t) {}, [] {});
    CHECK_FALSE(no_loop.stall_queue(0, 10ms));
    CHECK_FALSE(no_loop.hold_queue_irq(0));
}

TEST_CASE("a dropped interrupt is sent late; the others pass", "[virtio][faults][timing]")
{
    Rig rig;
    REQUIRE(rig.faults.drop_interrupts_every(2));
    CHECK_FALSE(rig.faults.hold_queue_irq(0)); // 1st: sent by the caller
    const auto start = Clock::now();
    CHECK(rig.faults.hold_queue_irq(0)); // 2nd: dropped
    CHECK_FALSE(rig.faults.hold_queue_irq(0));
    rig.run_until([&] { return !rig.irqs.empty(); });
    CHECK(Clock::now() - start >= TimingFaults::LOST_INTERRUPT_WAIT);
    CHECK(rig.faults.dropped_interrupts() == 1);
    REQUIRE(rig.faults.drop_interrupts_every(0));
    CHECK_FALSE(rig.faults.hold_queue_irq(0));
}

TEST_CASE("a duplicated interrupt is sent twice", "[virtio][faults][timing]")
{
    Rig rig;
    REQUIRE(rig.faults.duplicate_interrupts_every(1));
    CHECK(rig.faults.hold_queue_irq(1));
    CHECK(rig.irqs == std::vector<std::uint16_t> { 1 }); // the first at once
    rig.run_until([&] { return rig.irqs.size() == 2; });
    CHECK(rig.irqs == std::vector<std::uint16_t> { 1, 1 });
    CHECK(rig.faults.duplicated_interrupts() == 1);
}

TEST_CASE("completions are delayed, or every Nth reordered, as set", "[virtio][faults][timing]")
{
    Rig rig;
    CHECK(rig.faults.on_complete(0).delay == 0ms);
    REQUIRE(rig.faults.reorder_used_every(3));
    std::vector<bool> held;
    for (int i = 0; i < 6; ++i) {
        held.push_back(rig.faults.on_complete(0).until_next);
    }
    CHECK(held == std::vector<bool> { false, false, true, false, false, true });
    CHECK(rig.faults.reordered_used() == 2);
    REQUIRE(rig.faults.delay_used(25ms));
    const auto h = rig.faults.on_complete(1);
    CHECK(h.delay == 25ms);
    CHECK_FALSE(h.until_next); // a delay takes precedence
    bool released = false;
    rig.faults.release_at(Clock::now() + 10ms, [&] { released = true; });
    rig.run_until([&] { return released; });
}

TEST_CASE("counts that make no sense are refused", "[virtio][faults][timing]")
{
    Rig rig;
    CHECK_FALSE(rig.faults.reorder_used_every(1));
    CHECK_FALSE(rig.faults.drop_interrupts_every(1));
    CHECK_FALSE(rig.faults.drop_interrupts_every(TimingFaults::MAX_EVERY + 1));
    CHECK(rig.faults.duplicate_interrupts_every(1));
    CHECK_FALSE(rig.faults.delay_used(60001ms));
    TimingFaults no_loop(nullptr, 1, [](std::uint16_t) {}, [](std::uint16_t) {}, [] {});
    CHECK_FALSE(no_loop.delay_used(10ms));
    CHECK_FALSE(no_loop.reorder_used_every(2));
}
