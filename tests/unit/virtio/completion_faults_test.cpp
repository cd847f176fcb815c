// SPDX-License-Identifier: Apache-2.0
// Injected completion faults in Queue: used buffers held back for a time or until a later one
// overtakes them, on split and packed rings, never against VIRTIO_F_IN_ORDER, never splitting
// staged entries, and safe across moves and resets of the queue.
#include <chrono>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "queue_fixture.hpp"
#include "virtio/queue/completion_faults.hpp"

using namespace vmm::virtio;
using namespace vmm::virtio::test;
using namespace std::chrono_literals;

namespace {

// Answers completions from a script and keeps release requests for the test to run.
class ScriptedFaults final : public CompletionFaults {
public:
    std::vector<Hold> script;
    std::size_t asked = 0;
    std::vector<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> releases;

    Hold on_complete(std::uint16_t) noexcept override { return asked < script.size() ? script[asked++] : Hold {}; }
    void release_at(std::chrono::steady_clock::time_point when, std::function<void()> release) override
    {
        releases.emplace_back(when, std::move(release));
    }
    // Runs every release at its time, as the loop would.
    void run_releases()
    {
        auto all = std::exchange(releases, {});
        for (auto& [when, fn] : all) {
            std::this_thread::sleep_until(when);
            fn();
        }
    }
};

constexpr CompletionFaults::Hold NOW {};
constexpr CompletionFaults::Hold NEXT { 0ms, true };
constexpr CompletionFaults::Hold LATE { 5ms, false };

template <class Fixture>
struct HoldRig {
    explicit HoldRig(std::uint64_t extra = INDIRECT) : fx(8, extra) {}

    Queue& activate()
    {
        auto q = fx.config.activate(0, fx.guest.dma(), fx.features, fx.irq, &faults);
        REQUIRE(q);
        fx.queue.emplace(std::move(q).value());
        return *fx.queue;
    }
    // Three chains made available and popped, in order.
    std::vector<DescriptorChain> pop_three()
    {
        std::vector<DescriptorChain> out;
        for (int i = 0; i < 3; ++i) {
            ids.push_back(fx.driver.add({ writable(fx.buffer(64), 64) }));
        }
        for (int i = 0; i < 3; ++i) {
            out.push_back(fx.pop());
        }
        return out;
    }
    std::vector<std::uint32_t> used_ids()
    {
        std::vector<std::uint32_t> out;
        while (auto u = fx.driver.pop_used()) {
            out.push_back(u->id);
        }
        return out;
    }

    Fixture fx;
    ScriptedFaults faults;
    std::vector<std::uint32_t> ids;
};

} // namespace

TEMPLATE_TEST_CASE("a reordered completion is overtaken by the next one", "[virtio][queue][faults]", SplitFixture,
    PackedFixture)
{
    HoldRig<TestType> rig;
    Queue& q = rig.activate();
    rig.faults.script = { NOW, NEXT, NOW };
    auto chains = rig.pop_three();
    for (auto& c : chains) {
        q.add_used(std::move(c));
    }
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[0], rig.ids[2], rig.ids[1] });
    CHECK(q.in_flight() == 0);
    CHECK(rig.faults.releases.size() == 1); // its fallback, now with nothing to do
    rig.faults.run_releases();
    CHECK(rig.used_ids().empty());
}

TEMPLATE_TEST_CASE("a reordered completion with none after it is released after a wait, with an interrupt",
    "[virtio][queue][faults]", SplitFixture, PackedFixture)
{
    HoldRig<TestType> rig;
    Queue& q = rig.activate();
    rig.faults.script = { NEXT };
    auto chains = rig.pop_three();
    q.add_used(std::move(chains[0]));
    q.notify_if_needed();
    CHECK(rig.used_ids().empty());
    CHECK(q.in_flight() == 3); // still the device's: the driver may not reuse it
    const auto irqs = rig.fx.irq.queue_count(0);
    rig.faults.run_releases();
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[0] });
    CHECK(rig.fx.irq.queue_count(0) == irqs + 1);
}

TEMPLATE_TEST_CASE("delayed completions reach the driver in order once due", "[virtio][queue][faults]", SplitFixture,
    PackedFixture)
{
    HoldRig<TestType> rig;
    Queue& q = rig.activate();
    rig.faults.script = { LATE, LATE };
    auto chains = rig.pop_three();
    const auto start = std::chrono::steady_clock::now();
    q.add_used(std::move(chains[0]));
    q.add_used(std::move(chains[1]));
    q.notify_if_needed();
    CHECK(rig.used_ids().empty());
    rig.faults.run_releases();
    CHECK(std::chrono::steady_clock::now() - start >= 5ms);
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[0], rig.ids[1] });
    CHECK(rig.fx.irq.queue_count(0) >= 1);
}

TEMPLATE_TEST_CASE("with IN_ORDER nothing overtakes: no reordering, and a delay holds what follows",
    "[virtio][queue][faults]", SplitFixture, PackedFixture)
{
    HoldRig<TestType> rig(IN_ORDER);
    Queue& q = rig.activate();
    rig.faults.script = { NEXT, NOW, LATE, NOW };
    auto chains = rig.pop_three();
    q.add_used(std::move(chains[0])); // NEXT is ignored under IN_ORDER
    q.add_used(std::move(chains[1]));
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[0], rig.ids[1] });
    q.add_used(std::move(chains[2])); // LATE
    auto more = rig.pop_three();
    q.add_used(std::move(more[0])); // NOW, but must wait behind the held one
    CHECK(rig.used_ids().empty());
    rig.faults.run_releases();
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[2], rig.ids[3] });
}

TEMPLATE_TEST_CASE("staged completions are never held", "[virtio][queue][faults]", SplitFixture, PackedFixture)
{
    HoldRig<TestType> rig;
    Queue& q = rig.activate();
    rig.faults.script = { NEXT, NEXT };
    auto chains = rig.pop_three();
    q.stage_used(std::move(chains[0]), 10);
    q.stage_used(std::move(chains[1]), 10);
    q.publish_used();
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[0], rig.ids[1] });
    CHECK(rig.faults.asked == 0);
}

TEMPLATE_TEST_CASE("a held completion never lands inside a staged run", "[virtio][queue][faults]", SplitFixture,
    PackedFixture)
{
    HoldRig<TestType> rig;
    Queue& q = rig.activate();
    rig.faults.script = { NEXT, NOW };
    auto chains = rig.pop_three();
    auto more = rig.pop_three();
    q.add_used(std::move(chains[0])); // held until the next published one
    q.stage_used(std::move(chains[1]), 4);
    q.stage_used(std::move(chains[2]), 4);
    q.publish_used();
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[1], rig.ids[2] });
    q.add_used(std::move(more[0]));
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[3], rig.ids[0] });
}

TEMPLATE_TEST_CASE("held completions follow the queue when it moves and vanish with it", "[virtio][queue][faults]",
    SplitFixture, PackedFixture)
{
    HoldRig<TestType> rig;
    rig.activate();
    rig.faults.script = { LATE, LATE };
    auto chains = rig.pop_three();
    rig.fx.queue->add_used(std::move(chains[0]));
    // Moved twice, as devices do when they take their queues.
    std::optional<Queue> moved(std::move(*rig.fx.queue));
    rig.fx.queue.reset();
    Queue again = std::move(*moved);
    moved.reset();
    rig.faults.run_releases();
    CHECK(rig.used_ids() == std::vector<std::uint32_t> { rig.ids[0] });

    again.add_used(std::move(chains[1]));
    {
        Queue gone = std::move(again); // a reset drops the queue with a completion held
    }
    rig.faults.run_releases(); // nothing to write into, and no crash
    CHECK(rig.used_ids().empty());
}
