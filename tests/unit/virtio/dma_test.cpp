// SPDX-License-Identifier: Apache-2.0
// DirectDma, DMA generations and pins, and queues following DMA mapping changes.
#include <array>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/remappable_dma.hpp"
#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

// Two regions that touch, a hole, a third region.
const std::array<MemoryRegionSpec, 3> TWO_ADJACENT_THEN_HOLE { {
    { GuestAddress { 0 }, 0x10000 },
    { GuestAddress { 0x10000 }, 0x10000 },
    { GuestAddress { 0x30000 }, 0x10000 },
} };

} // namespace

TEST_CASE("DirectDma resolves a range inside one region to one slice at the right host address", "[virtio][dma]")
{
    FakeGuest guest;

    auto slices = guest.dma().resolve(0x2000, 0x100, Access::read);

    REQUIRE(slices);
    REQUIRE(slices->size() == 1);
    CHECK((*slices)[0].size() == 0x100);
    CHECK((*slices)[0].gpa().raw == 0x2000);
    CHECK((*slices)[0].host() == guest.memory().host_ptr(GuestAddress { 0x2000 }, 0x100));
}

TEST_CASE("DirectDma resolves length 0 to an empty list", "[virtio][dma]")
{
    FakeGuest guest;

    auto slices = guest.dma().resolve(0xdead'0000'0000, 0, Access::write);

    REQUIRE(slices);
    CHECK(slices->empty());
}

TEST_CASE("DirectDma splits a range over adjacent regions and refuses one over a hole", "[virtio][dma]")
{
    FakeGuest guest(TWO_ADJACENT_THEN_HOLE);

    auto across = guest.dma().resolve(0xff00, 0x200, Access::read);
    auto over_hole = guest.dma().resolve(0x1ff00, 0x200, Access::read);

    REQUIRE(across);
    CHECK(across->size() == 2);
    CHECK((*across)[1].gpa().raw == 0x10000);
    CHECK((*across)[1].size() == 0x100);
    CHECK_FALSE(over_hole);
}

TEST_CASE("DirectDma refuses ranges that wrap, start in a hole or run past the end", "[virtio][dma]")
{
    FakeGuest guest;
    const auto max = std::numeric_limits<std::uint64_t>::max();

    CHECK_FALSE(guest.dma().resolve(max - 4, 16, Access::read));
    CHECK_FALSE(guest.dma().resolve(FakeGuest::HOLE_BASE, 1, Access::read));
    CHECK_FALSE(guest.dma().resolve(FakeGuest::RAM_END - 1, 2, Access::read));
    CHECK(guest.dma().resolve(FakeGuest::RAM_END - 1, 1, Access::read));
}

TEST_CASE("DirectDma append adds to a list, and leaves it as it was when the range is not RAM", "[virtio][dma]")
{
    FakeGuest guest(TWO_ADJACENT_THEN_HOLE);
    ChainSlices list;
    const auto max = std::numeric_limits<std::uint64_t>::max();

    const bool one = guest.dma().append(0x2000, 0x100, Access::read, list);
    const bool across = guest.dma().append(0xff00, 0x200, Access::write, list);
    // Starts in RAM, continues into the next region, then reaches the hole: nothing of it stays.
    const bool over_hole = guest.dma().append(0xff00, 0x20200, Access::read, list);
    const bool wraps = guest.dma().append(max - 4, 16, Access::read, list);
    const bool empty = guest.dma().append(0xdead'0000'0000, 0, Access::read, list);

    CHECK(one);
    CHECK(across);
    CHECK_FALSE(over_hole);
    CHECK_FALSE(wraps);
    CHECK(empty);
    REQUIRE(list.size() == 3);
    CHECK(list[0].gpa().raw == 0x2000);
    CHECK(list[1].gpa().raw == 0xff00);
    CHECK(list[1].size() == 0x100);
    CHECK(list[2].gpa().raw == 0x10000);
    CHECK(list[2].host() == guest.memory().host_ptr(GuestAddress { 0x10000 }, 0x100));
}

TEST_CASE("DirectDma pins are empty: its identity map never changes", "[virtio][dma]")
{
    FakeGuest guest;

    const DmaPin pin = guest.dma().pin();

    CHECK_FALSE(pin.active());
}

TEST_CASE("pins on the same and on several generations are counted until each is released", "[virtio][dma]")
{
    DmaGenerations gens;
    std::vector<DmaPin> first;
    for (int i = 0; i < 3; ++i) {
        first.push_back(gens.pin());
    }
    const auto second = gens.advance();
    auto later = gens.pin();
    const auto third = gens.advance();
    int runs = 0;
    gens.when_released(third, [&] { ++runs; });

    first[1].reset();
    const std::size_t after_one = gens.pins_before(third);
    first.clear();
    const int after_first = runs;
    const std::size_t older_than_second = gens.pins_before(second);
    later.reset();

    CHECK(after_one == 3);
    CHECK(after_first == 0);
    CHECK(older_than_second == 0);
    CHECK(runs == 1);
    CHECK(gens.pins_before(third + 1) == 0);
}

TEST_CASE("when_released runs at once when no older pin is held", "[virtio][dma]")
{
    DmaGenerations gens;
    auto pin = gens.pin();
    const auto next = gens.advance();
    bool done = false;

    gens.when_released(1, [&] { done = true; }); // pins older than generation 1: none

    CHECK(done);
    CHECK(next == 2);
}

TEST_CASE("when_released waits for pins on older generations, not newer ones", "[virtio][dma]")
{
    DmaGenerations gens;
    auto old_pin = gens.pin();
    const auto gen = gens.advance();
    auto new_pin = gens.pin();
    bool done = false;

    gens.when_released(gen, [&] { done = true; });
    const bool before = done;
    old_pin.reset();

    CHECK_FALSE(before);
    CHECK(done);
    CHECK(gens.pins_before(gen + 1) == 1);
}

TEST_CASE("a moved pin is released once, by its last owner", "[virtio][dma]")
{
    DmaGenerations gens;
    auto pin = gens.pin();
    const auto gen = gens.advance();
    int runs = 0;
    gens.when_released(gen, [&] { ++runs; });

    DmaPin moved = std::move(pin);
    const int after_move = runs;
    moved = DmaPin {};

    CHECK(after_move == 0);
    CHECK(runs == 1);
    CHECK(gens.pins_before(gen) == 0);
}

TEST_CASE("a queue resolves its rings again after the DMA generation changes and faults if they are gone",
    "[virtio][dma][queue]")
{
    FakeGuest guest;
    RemappableDma dma(guest.dma());
    FakeInterrupt irq;
    DriverSplitQueue driver(guest, 8);
    QueueConfig config(8);
    driver.configure(config);
    auto q = config.activate(0, dma, BASE_FEATURES, irq);
    REQUIRE(q);

    dma.unmap(driver.avail_addr(), 4);

    CHECK_FALSE(q->pop());
    CHECK(q->fault() == QueueFault::ring_unmapped);
    CHECK(irq.needs_reset_count() == 1);
}

TEST_CASE("a queue keeps working across a generation change that leaves its rings mapped", "[virtio][dma][queue]")
{
    FakeGuest guest;
    RemappableDma dma(guest.dma());
    FakeInterrupt irq;
    DriverSplitQueue driver(guest, 8);
    QueueConfig config(8);
    driver.configure(config);
    auto q = config.activate(0, dma, BASE_FEATURES, irq);
    REQUIRE(q);
    const auto b = guest.alloc(8);
    driver.add({ writable(b, 8) });

    dma.unmap(FakeGuest::RAM1_BASE, 0x1000);
    auto chain = q->pop();

    CHECK(chain);
    CHECK_FALSE(q->fault());
}

TEST_CASE("a buffer the DMA space does not map faults the queue", "[virtio][dma][queue]")
{
    FakeGuest guest;
    RemappableDma dma(guest.dma());
    FakeInterrupt irq;
    DriverSplitQueue driver(guest, 8);
    QueueConfig config(8);
    driver.configure(config);
    auto q = config.activate(0, dma, BASE_FEATURES, irq);
    REQUIRE(q);
    const auto b = guest.alloc(0x2000, 0x1000);
    dma.unmap(b, 0x1000);
    driver.add({ writable(b + 0x800, 0x1000) });

    CHECK_FALSE(q->pop());
    CHECK(q->fault() == QueueFault::buffer_unmapped);
}
