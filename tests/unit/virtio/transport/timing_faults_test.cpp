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
