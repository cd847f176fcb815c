// SPDX-License-Identifier: Apache-2.0
// Packed virtqueue against a hostile driver.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

std::uint16_t avail(bool wrap, std::uint16_t extra = 0)
{
    return static_cast<std::uint16_t>(DriverPackedQueue::avail_flags(wrap) | extra);
}

} // namespace

TEST_CASE("a packed list longer than the ring faults as chain_too_long", "[virtio][queue][packed][hostile]")
{
    PackedFixture f(4);
    const auto b = f.buffer(8);
    f.activate();
    // Every slot says NEXT, and slot 0 of the next lap is marked available for it too.
    for (std::uint16_t pos = 0; pos < 4; ++pos) {
        f.driver.write_desc(pos, b, 1, 0, avail(true, VIRTQ_DESC_F_NEXT));
    }

    CHECK(f.pop_fault() == QueueFault::chain_too_long);
}

TEST_CASE("a packed list whose next descriptor is not available faults as chain_incomplete",
    "[virtio][queue][packed][hostile]")
{
    PackedFixture f(8);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.write_desc(0, b, 1, 0, avail(true, VIRTQ_DESC_F_NEXT));
    f.driver.write_desc(1, b, 1, 0, avail(false)); // wrong wrap: not available on this lap

    CHECK(f.pop_fault() == QueueFault::chain_incomplete);
}

TEST_CASE("a packed buffer ID made available again while in flight faults the queue",
    "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 8) }, 3);
    f.driver.add({ writable(b, 8) }, 3);

    auto first = f.queue->pop();
    const auto fault = f.pop_fault();

    CHECK(first);
    CHECK(fault == QueueFault::head_in_flight);
}

TEST_CASE("packed buffer IDs above the queue size are accepted (the spec does not bound them)",
    "[virtio][queue][packed][hostile]")
{
    PackedFixture f(4);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 8) }, 0xfffe);

    auto chain = f.pop();
    f.queue->add_used(std::move(chain), 1);

    CHECK(f.driver.pop_used()->id == 0xfffe);
}

TEST_CASE("a packed driver that re-marks slots still in flight as available faults as queue_overrun",
    "[virtio][queue][packed][hostile]")
{
    PackedFixture f(2);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 1) });
    f.driver.add({ writable(b, 1) });
    auto c0 = f.pop();
    auto c1 = f.pop();
    // Both slots are in flight; slot 0 is marked available for the second lap anyway.
    f.driver.write_desc(0, b, 1, 9, avail(false));

    CHECK(f.pop_fault() == QueueFault::queue_overrun);
}

TEST_CASE("a packed indirect descriptor without VIRTIO_F_INDIRECT_DESC faults the queue",
    "[virtio][queue][packed][hostile]")
{
    PackedFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add_indirect({ readable(b, 8) });

    CHECK(f.pop_fault() == QueueFault::indirect_not_negotiated);
}

TEST_CASE("a packed INDIRECT|NEXT descriptor faults the queue", "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    const auto table = f.guest.alloc(16, 16);
    f.activate();
    f.driver.write_desc(1, table, 16, 0, avail(true));
    f.driver.write_desc(0, table, 16, 0, avail(true, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT));

    CHECK(f.pop_fault() == QueueFault::indirect_with_next);
}

TEST_CASE("a packed indirect descriptor inside a NEXT list faults the queue", "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    const auto b = f.buffer(8);
    const auto table = f.guest.alloc(16, 16);
    f.activate();
    f.driver.write_desc(1, table, 16, 0, avail(true, VIRTQ_DESC_F_INDIRECT));
    f.driver.write_desc(0, b, 8, 0, avail(true, VIRTQ_DESC_F_NEXT));

    CHECK(f.pop_fault() == QueueFault::indirect_with_next);
}

TEST_CASE("a packed nested indirect table faults the queue", "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    const auto inner = f.guest.alloc(16, 16);
    const auto table = f.guest.alloc(16, 16);
    f.activate();
    PvirtqDesc nested;
    nested.addr.set(inner);
    nested.len.set(16);
    nested.flags.set(VIRTQ_DESC_F_INDIRECT);
    f.guest.write_obj(table, nested);
    f.driver.write_desc(0, table, 16, 0, avail(true, VIRTQ_DESC_F_INDIRECT));

    CHECK(f.pop_fault() == QueueFault::nested_indirect);
}

TEST_CASE("a packed indirect table of bad length faults the queue", "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    const auto table = f.guest.alloc(32, 16);
    f.activate();
    f.driver.write_desc(0, table, 20, 0, avail(true, VIRTQ_DESC_F_INDIRECT));

    CHECK(f.pop_fault() == QueueFault::indirect_bad_length);
}

TEST_CASE("a packed indirect table larger than the queue faults the queue", "[virtio][queue][packed][hostile]")
{
    PackedFixture f(2);
    const auto table = f.guest.alloc(48, 16);
    f.activate();
    f.driver.write_desc(0, table, 48, 0, avail(true, VIRTQ_DESC_F_INDIRECT));

    CHECK(f.pop_fault() == QueueFault::indirect_too_large);
}

TEST_CASE("NEXT inside a packed indirect table is ignored: entries are taken in order",
    "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    const auto a = f.buffer_with(bytes_of("ab"));
    const auto c = f.buffer_with(bytes_of("cd"));
    const auto table = f.guest.alloc(32, 16);
    f.activate();
    PvirtqDesc e0;
    e0.addr.set(a);
    e0.len.set(2);
    e0.flags.set(VIRTQ_DESC_F_NEXT); // reserved in tables; a loop if it were followed
    PvirtqDesc e1;
    e1.addr.set(c);
    e1.len.set(2);
    f.guest.write_obj(table, e0);
    f.guest.write_obj(table + 16, e1);
    f.driver.write_desc(0, table, 32, 0, avail(true, VIRTQ_DESC_F_INDIRECT));

    auto chain = f.pop();

    CHECK(read_all(chain) == bytes_of("abcd"));
}

TEST_CASE("a packed readable descriptor after a writable one faults the queue", "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    const auto b = f.buffer(16);
    f.activate();
    f.driver.add({ writable(b, 8), readable(b + 8, 8) });

    CHECK(f.pop_fault() == QueueFault::readable_after_writable);
}

TEST_CASE("a packed buffer outside RAM faults the queue", "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    f.activate();
    f.driver.add({ writable(FakeGuest::HOLE_BASE, 8) });

    CHECK(f.pop_fault() == QueueFault::buffer_unmapped);
}

TEST_CASE("a packed descriptor rewritten after pop does not change the chain", "[virtio][queue][packed][hostile]")
{
    PackedFixture f;
    const auto good = f.buffer_with(bytes_of("good"));
    const auto evil = f.buffer_with(bytes_of("evil"));
    f.activate();
    f.driver.add({ readable(good, 4) });
    auto chain = f.pop();

    f.driver.write_desc(0, evil, 4, 0, avail(true));

    CHECK(read_all(chain) == bytes_of("good"));
}
