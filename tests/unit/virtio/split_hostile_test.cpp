// SPDX-License-Identifier: Apache-2.0
// Split virtqueue against a hostile driver: every bad input faults the queue, never the host.
#include <array>
#include <limits>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

// ---- Descriptor chains -------------------------------------------------------------------------

TEST_CASE("a loop of two descriptors faults the queue as chain_too_long", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.write_desc(0, b, 1, VIRTQ_DESC_F_NEXT, 1);
    f.driver.write_desc(1, b, 1, VIRTQ_DESC_F_NEXT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::chain_too_long);
    CHECK(f.irq.needs_reset_count() == 1);
}

TEST_CASE("a descriptor chained to itself faults the queue as chain_too_long", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.write_desc(3, b, 1, VIRTQ_DESC_F_NEXT, 3);
    f.driver.push_avail(3);

    CHECK(f.pop_fault() == QueueFault::chain_too_long);
}

TEST_CASE("a self-loop of zero-length descriptors still ends: they count against the bound",
    "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.write_desc(0, 0, 0, VIRTQ_DESC_F_NEXT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::chain_too_long);
}

TEST_CASE("a chain of queue size plus one descriptors faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f(4);
    const auto b = f.buffer(8);
    f.activate();
    // Only four descriptors exist, so a fifth step revisits one.
    f.driver.write_desc(0, b, 1, VIRTQ_DESC_F_NEXT, 1);
    f.driver.write_desc(1, b, 1, VIRTQ_DESC_F_NEXT, 2);
    f.driver.write_desc(2, b, 1, VIRTQ_DESC_F_NEXT, 3);
    f.driver.write_desc(3, b, 1, VIRTQ_DESC_F_NEXT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::chain_too_long);
}

TEST_CASE("a next index at or beyond the queue size faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f(8);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.write_desc(0, b, 1, VIRTQ_DESC_F_NEXT, 8);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::next_out_of_range);
}

TEST_CASE("a head index at or beyond the queue size faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f(8);
    f.activate();
    f.driver.push_avail(8);

    CHECK(f.pop_fault() == QueueFault::head_out_of_range);
}

TEST_CASE("avail entries that all name the same head fault on the second one", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.write_desc(0, b, 8, VIRTQ_DESC_F_WRITE, 0);
    f.driver.push_avail(0);
    f.driver.push_avail(0);
    f.driver.push_avail(0);

    auto first = f.queue->pop();
    const auto fault = f.pop_fault();

    CHECK(first);
    CHECK(fault == QueueFault::head_in_flight);
}

TEST_CASE("a head made available again after its completion is accepted", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.write_desc(0, b, 8, VIRTQ_DESC_F_WRITE, 0);
    f.driver.push_avail(0);
    f.queue->add_used(f.pop(), 0);
    f.driver.push_avail(0);

    auto again = f.queue->pop();

    CHECK(again);
    CHECK_FALSE(f.queue->fault());
}

// ---- Lengths and addresses -----------------------------------------------------------------

TEST_CASE("a buffer of length 0xffffffff beyond RAM faults as buffer_unmapped", "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.add({ readable(0x1000, 0xffffffff) });

    CHECK(f.pop_fault() == QueueFault::buffer_unmapped);
}

TEST_CASE("buffer lengths summing to 2^32 or more fault as chain_length_overflow", "[virtio][queue][hostile]")
{
    // 4 GiB + 1 MiB of address space, reserved but never touched (MAP_NORESERVE), so that both
    // buffers are real RAM and only the sum is wrong.
    const std::array<MemoryRegionSpec, 1> big { { { GuestAddress { 0 }, (std::uint64_t { 4 } << 30) + (1 << 20) } } };
    FakeGuest guest(big);
    FakeInterrupt irq;
    DriverSplitQueue driver(guest, 8);
    QueueConfig config(8);
    driver.configure(config);
    auto q = config.activate(0, guest.dma(), BASE_FEATURES, irq);
    REQUIRE(q);
    driver.add({ readable(1 << 20, 0xffffffff), readable(0x2000, 1) });

    CHECK_FALSE(q->pop());
    CHECK(q->fault() == QueueFault::chain_length_overflow);
}

TEST_CASE("an address plus length that wraps 2^64 faults without overflowing", "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.add({ readable(std::numeric_limits<std::uint64_t>::max() - 8, 64) });

    CHECK(f.pop_fault() == QueueFault::buffer_unmapped);
}

TEST_CASE("a buffer beyond RAM faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.add({ writable(FakeGuest::RAM_END + 0x1000, 16) });

    CHECK(f.pop_fault() == QueueFault::buffer_unmapped);
}

TEST_CASE("a buffer spanning the RAM hole faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.add({ writable(FakeGuest::HOLE_BASE - 8, 16) });

    CHECK(f.pop_fault() == QueueFault::buffer_unmapped);
}

TEST_CASE("a buffer one byte past the end of RAM faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.add({ writable(FakeGuest::RAM_END - 16, 17) });

    CHECK(f.pop_fault() == QueueFault::buffer_unmapped);
}

TEST_CASE("a buffer inside device MMIO (the hole) is not DMA-able and faults the queue",
    "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.add({ writable(FakeGuest::HOLE_BASE + 0x50, 4) });

    CHECK(f.pop_fault() == QueueFault::buffer_unmapped);
}

// ---- Direction flags -----------------------------------------------------------------------

TEST_CASE("a readable descriptor after a writable one faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(16);
    f.activate();
    f.driver.add({ writable(b, 8), readable(b + 8, 8) });

    CHECK(f.pop_fault() == QueueFault::readable_after_writable);
}

// ---- Indirect ------------------------------------------------------------------------------

TEST_CASE("an indirect descriptor without VIRTIO_F_INDIRECT_DESC faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add_indirect({ readable(b, 8) });

    CHECK(f.pop_fault() == QueueFault::indirect_not_negotiated);
}

TEST_CASE("INDIRECT together with NEXT faults the queue (two tables chained)", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto table = f.guest.alloc(32, 16);
    f.activate();
    f.driver.write_desc(0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    f.driver.write_desc(1, table + 16, 16, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::indirect_with_next);
}

TEST_CASE("an indirect descriptor inside an indirect table faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto inner = f.guest.alloc(16, 16);
    f.activate();
    f.driver.add_indirect({ Buf { inner, 16, false } });
    const auto outer = f.guest.read_obj<VirtqDesc>(f.driver.desc_addr()).addr.get();
    VirtqDesc nested;
    nested.addr.set(inner);
    nested.len.set(16);
    nested.flags.set(VIRTQ_DESC_F_INDIRECT);
    f.guest.write_obj(outer, nested);

    CHECK(f.pop_fault() == QueueFault::nested_indirect);
}

TEST_CASE("an indirect table of length 0 faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto table = f.guest.alloc(16, 16);
    f.activate();
    f.driver.write_desc(0, table, 0, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::indirect_bad_length);
}

TEST_CASE("an indirect table length that is not a multiple of 16 faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto table = f.guest.alloc(32, 16);
    f.activate();
    f.driver.write_desc(0, table, 24, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::indirect_bad_length);
}

TEST_CASE("an indirect table with more entries than the queue size faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f(4);
    const auto table = f.guest.alloc(16 * 5, 16);
    f.activate();
    f.driver.write_desc(0, table, 16 * 5, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::indirect_too_large);
}

TEST_CASE("an indirect table crossing from RAM into the hole faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.write_desc(0, FakeGuest::HOLE_BASE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::indirect_unmapped);
}

TEST_CASE("an indirect table outside RAM faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    f.activate();
    f.driver.write_desc(0, 0xffff'ffff'ffff'fff0, 32, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::indirect_unmapped);
}

TEST_CASE("a loop inside an indirect table faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    const auto table = f.guest.alloc(32, 16);
    f.activate();
    VirtqDesc e0;
    e0.addr.set(b);
    e0.len.set(1);
    e0.flags.set(VIRTQ_DESC_F_NEXT);
    e0.next.set(1);
    VirtqDesc e1 = e0;
    e1.next.set(0);
    f.guest.write_obj(table, e0);
    f.guest.write_obj(table + 16, e1);
    f.driver.write_desc(0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::chain_too_long);
}

TEST_CASE("a next index beyond the indirect table faults the queue", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    const auto table = f.guest.alloc(32, 16);
    f.activate();
    VirtqDesc e0;
    e0.addr.set(b);
    e0.len.set(1);
    e0.flags.set(VIRTQ_DESC_F_NEXT);
    e0.next.set(2);
    f.guest.write_obj(table, e0);
    f.driver.write_desc(0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    CHECK(f.pop_fault() == QueueFault::next_out_of_range);
}

TEST_CASE("a readable entry after a writable one inside an indirect table faults the queue",
    "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(16);
    f.activate();
    f.driver.add_indirect({ writable(b, 8), readable(b + 8, 8) });

    CHECK(f.pop_fault() == QueueFault::readable_after_writable);
}

// ---- Avail and used rings ------------------------------------------------------------------

TEST_CASE("an avail index that jumps by more than the queue size faults as queue_overrun",
    "[virtio][queue][hostile]")
{
    SplitFixture f(8);
    f.activate();
    f.driver.set_avail_idx(9);

    CHECK(f.pop_fault() == QueueFault::queue_overrun);
}

TEST_CASE("an avail index that jumps by exactly the queue size is accepted", "[virtio][queue][hostile]")
{
    SplitFixture f(4);
    const auto b = f.buffer(8);
    f.activate();
    for (std::uint16_t i = 0; i < 4; ++i) {
        f.driver.write_desc(i, b, 1, 0, 0);
        f.driver.write_avail_entry(i, i);
    }
    f.driver.set_avail_idx(4);

    CHECK(f.queue->pop());
    CHECK_FALSE(f.queue->fault());
}

TEST_CASE("an avail index that goes backwards by one faults as queue_overrun", "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 8) });
    f.queue->add_used(f.pop(), 0);

    f.driver.set_avail_idx(0);

    CHECK(f.pop_fault() == QueueFault::queue_overrun);
}

TEST_CASE("after a fault the queue stays stopped: valid chains are not popped and completions are dropped",
    "[virtio][queue][hostile]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 8) });
    auto in_flight = f.pop();
    f.driver.push_avail(7); // a head nobody wrote: desc 7 is zero, a 0-length buffer at 0
    f.driver.set_avail_idx(100);
    REQUIRE(f.pop_fault() == QueueFault::queue_overrun);

    f.driver.set_avail_idx(2);
    auto after = f.queue->pop();
    f.queue->add_used(std::move(in_flight), 8);

    CHECK_FALSE(after);
    CHECK(f.driver.used_idx() == 0);
    CHECK(f.irq.needs_reset_count() == 1);
}
