// SPDX-License-Identifier: Apache-2.0
// Packed virtqueue: chains, used descriptors, wrap counters, in-order, event suppression.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

TEST_CASE("an empty packed queue pops nothing and does not fault", "[virtio][queue][packed]")
{
    PackedFixture f;
    auto& q = f.activate();

    CHECK(q.layout() == RingLayout::packed);
    CHECK_FALSE(q.pop());
    CHECK_FALSE(q.fault());
}

TEST_CASE("a packed size that is not a power of two is accepted", "[virtio][queue][packed]")
{
    PackedFixture f(6);

    auto& q = f.activate();

    CHECK(q.size() == 6);
}

TEST_CASE("a packed chain pops with its buffer ID, and its used descriptor carries ID, len and flags",
    "[virtio][queue][packed]")
{
    PackedFixture f;
    const auto hdr = f.buffer_with(bytes_of("hi"));
    const auto in = f.buffer(8);
    f.activate();
    const auto id = f.driver.add({ readable(hdr, 2), writable(in, 8) }, 5);
    auto chain = f.pop();
    CHECK(chain.head() == id);
    CHECK(read_all(chain) == bytes_of("hi"));
    REQUIRE(chain.writer().write(bytes_of("abc")));

    f.queue->add_used(std::move(chain));

    const auto used = f.driver.pop_used();
    REQUIRE(used);
    CHECK(used->id == 5);
    CHECK(used->len == 3);
    CHECK((used->flags & VIRTQ_DESC_F_WRITE) != 0);
    CHECK((used->flags & (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED)) == (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED));
}

TEST_CASE("a packed used descriptor with len 0 has WRITE clear", "[virtio][queue][packed]")
{
    PackedFixture f;
    const auto out = f.buffer(4);
    f.activate();
    f.driver.add({ readable(out, 4) });

    f.queue->add_used(f.pop());

    const auto used = f.driver.pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    CHECK((used->flags & VIRTQ_DESC_F_WRITE) == 0);
}

TEST_CASE("a multi-descriptor packed chain is used as one descriptor and the ring skips its slots",
    "[virtio][queue][packed]")
{
    PackedFixture f(8);
    const auto b = f.buffer(64);
    f.activate();
    const auto a = f.driver.add({ readable(b, 4), readable(b + 4, 4), writable(b + 8, 4) });
    const auto c = f.driver.add({ writable(b + 16, 4) });

    f.queue->add_used(f.pop(), 4);
    f.queue->add_used(f.pop(), 2);

    CHECK(f.driver.pop_used()->id == a);
    const auto second = f.driver.pop_used();
    REQUIRE(second);
    CHECK(second->id == c);
    CHECK(second->len == 2);
    CHECK(f.queue->ring_state().next_used == 4);
}

TEST_CASE("packed wrap counters flip at the end of the ring on both sides", "[virtio][queue][packed]")
{
    PackedFixture f(4);
    const auto b = f.buffer(64);
    f.activate();

    for (int lap = 0; lap < 10; ++lap) {
        const auto id = f.driver.add({ writable(b, 1) });
        auto chain = f.pop();
        CHECK(chain.head() == id);
        f.queue->add_used(std::move(chain), 1);
        const auto used = f.driver.pop_used();
        REQUIRE(used);
        CHECK(used->id == id);
    }

    // 10 slots used on a ring of 4: two full laps, now at slot 2 of the third (wrap back to 1).
    CHECK(f.queue->ring_state().next_avail == 2);
    CHECK(f.queue->ring_state().avail_wrap);
    CHECK(f.queue->ring_state().used_wrap);
}

TEST_CASE("on the second lap a used descriptor has AVAIL and USED both clear", "[virtio][queue][packed]")
{
    PackedFixture f(2);
    const auto b = f.buffer(64);
    f.activate();
    f.driver.add({ writable(b, 1) });
    f.driver.add({ writable(b, 1) });
    f.queue->add_used(f.pop(), 1);
    f.queue->add_used(f.pop(), 1);
    REQUIRE(f.driver.pop_used());
    REQUIRE(f.driver.pop_used());
    f.driver.add({ writable(b, 1) });

    f.queue->add_used(f.pop(), 1);

    const auto used = f.driver.pop_used();
    REQUIRE(used);
    CHECK((used->flags & (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED)) == 0);
}

TEST_CASE("a packed chain that crosses the end of the ring pops whole", "[virtio][queue][packed]")
{
    PackedFixture f(4);
    const auto b = f.buffer_with(bytes_of("abcdefgh"));
    f.activate();
    f.driver.add({ readable(b, 1) });
    f.driver.add({ readable(b, 1) });
    f.driver.add({ readable(b, 1) });
    f.queue->add_used(f.pop(), 0);
    f.queue->add_used(f.pop(), 0);
    f.queue->add_used(f.pop(), 0);
    // Positions 3, 0, 1: the chain wraps, its later descriptors carry the flipped wrap bit.
    f.driver.add({ readable(b, 2), readable(b + 2, 2), readable(b + 4, 4) });

    auto chain = f.pop();

    CHECK(read_all(chain) == bytes_of("abcdefgh"));
    CHECK(f.queue->ring_state().next_avail == 2);
    CHECK_FALSE(f.queue->ring_state().avail_wrap);
}

TEST_CASE("packed completions out of order are written in completion order", "[virtio][queue][packed]")
{
    PackedFixture f;
    const auto b = f.buffer(64);
    f.activate();
    const auto first = f.driver.add({ writable(b, 4) });
    const auto second = f.driver.add({ writable(b + 8, 4) });
    auto c0 = f.pop();
    auto c1 = f.pop();

    f.queue->add_used(std::move(c1), 1);
    f.queue->add_used(std::move(c0), 2);

    CHECK(f.driver.pop_used()->id == second);
    CHECK(f.driver.pop_used()->id == first);
}

TEST_CASE("packed with IN_ORDER holds an early completion until the older chain completes",
    "[virtio][queue][packed]")
{
    PackedFixture f(8, IN_ORDER);
    const auto b = f.buffer(64);
    f.activate();
    const auto first = f.driver.add({ writable(b, 4) });
    const auto second = f.driver.add({ writable(b + 8, 4) });
    auto c0 = f.pop();
    auto c1 = f.pop();

    f.queue->add_used(std::move(c1), 1);
    const auto early = f.driver.pop_used();
    f.queue->add_used(std::move(c0), 2);

    CHECK_FALSE(early);
    CHECK(f.driver.pop_used()->id == first);
    CHECK(f.driver.pop_used()->id == second);
}

TEST_CASE("a packed indirect table's buffers make up the chain", "[virtio][queue][packed]")
{
    PackedFixture f;
    const auto a = f.buffer_with(bytes_of("ab"));
    const auto w = f.buffer(4);
    f.activate();
    const auto id = f.driver.add_indirect({ readable(a, 2), writable(w, 4) });

    auto chain = f.pop();

    CHECK(chain.head() == id);
    CHECK(read_all(chain) == bytes_of("ab"));
    CHECK(chain.writer().available() == 4);
}

TEST_CASE("staged packed entries become visible together when published", "[virtio][queue][packed]")
{
    PackedFixture f;
    const auto b = f.buffer(64);
    f.activate();
    f.driver.add({ writable(b, 4) });
    f.driver.add({ writable(b + 8, 4) });
    auto c0 = f.pop();
    auto c1 = f.pop();

    f.queue->stage_used(std::move(c0), 1);
    f.queue->stage_used(std::move(c1), 1);
    const auto before = f.driver.pop_used();
    f.queue->publish_used();

    CHECK_FALSE(before);
    CHECK(f.driver.pop_used());
    CHECK(f.driver.pop_used());
}

// ---- Event suppression ---------------------------------------------------------------------

TEST_CASE("packed driver event flags DISABLE suppress and ENABLE request notifications", "[virtio][queue][packed]")
{
    PackedFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_driver_event(RING_EVENT_FLAGS_DISABLE);
    f.driver.add({ writable(b, 1) });
    f.queue->add_used(f.pop(), 1);
    const bool disabled = f.queue->needs_notification();
    f.driver.set_driver_event(RING_EVENT_FLAGS_ENABLE);
    f.driver.add({ writable(b, 1) });
    f.queue->add_used(f.pop(), 1);

    CHECK_FALSE(disabled);
    CHECK(f.queue->needs_notification());
}

TEST_CASE("packed RING_EVENT_FLAGS_DESC with EVENT_IDX notifies only once the named slot is used",
    "[virtio][queue][packed]")
{
    PackedFixture f(4, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_driver_event(RING_EVENT_FLAGS_DESC, 1, true); // slot 1 on the first lap

    f.driver.add({ writable(b, 1) });
    f.queue->add_used(f.pop(), 1);
    const bool slot0 = f.queue->needs_notification();
    f.driver.add({ writable(b, 1) });
    f.queue->add_used(f.pop(), 1);
    const bool slot1 = f.queue->needs_notification();

    CHECK_FALSE(slot0);
    CHECK(slot1);
}

TEST_CASE("packed RING_EVENT_FLAGS_DESC for the next lap does not fire on this lap", "[virtio][queue][packed]")
{
    PackedFixture f(4, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_driver_event(RING_EVENT_FLAGS_DESC, 0, false); // slot 0 on the second lap
    f.driver.add({ writable(b, 1) });

    f.queue->add_used(f.pop(), 1);

    CHECK_FALSE(f.queue->needs_notification());
}

TEST_CASE("packed RING_EVENT_FLAGS_DESC without EVENT_IDX notifies (treated as enable)", "[virtio][queue][packed]")
{
    PackedFixture f(4, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_driver_event(RING_EVENT_FLAGS_DESC, 3, true);
    f.driver.add({ writable(b, 1) });

    f.queue->add_used(f.pop(), 1);

    CHECK(f.queue->needs_notification());
}

TEST_CASE("packed enable/disable_notification write the device event suppression structure",
    "[virtio][queue][packed]")
{
    PackedFixture f(4, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 1) });
    f.queue->add_used(f.pop(), 1);

    f.queue->disable_notification();
    const auto disabled = f.driver.device_event();
    const bool more = f.queue->enable_notification();
    const auto enabled = f.driver.device_event();

    CHECK(disabled.flags.get() == RING_EVENT_FLAGS_DISABLE);
    CHECK_FALSE(more);
    CHECK(enabled.flags.get() == RING_EVENT_FLAGS_DESC);
    CHECK(enabled.desc.get() == (1 | 0x8000));
}

TEST_CASE("packed enable_notification reports a descriptor made available meanwhile", "[virtio][queue][packed]")
{
    PackedFixture f(4, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.queue->disable_notification();
    f.driver.add({ writable(b, 1) });

    CHECK(f.queue->enable_notification());
    CHECK(f.driver.device_event().flags.get() == RING_EVENT_FLAGS_ENABLE);
}

TEST_CASE("packed notification data is checked against the ring size and the device position",
    "[virtio][queue][packed]")
{
    PackedFixture f(4, 0);
    f.activate();

    CHECK(f.queue->check_notification_data(NotificationData { 0, 2, true }));
    CHECK(f.queue->check_notification_data(NotificationData { 0, 0, false })); // a full lap ahead
    CHECK_FALSE(f.queue->check_notification_data(NotificationData { 0, 4, true }));
    CHECK_FALSE(f.queue->check_notification_data(NotificationData { 0, 1, false }));
}

TEST_CASE("an unpopped packed chain across the ring's end goes back with the wrap counter", "[virtio][queue][packed]")
{
    PackedFixture f(4);
    const auto buf = f.buffer(256);
    f.activate();
    // Fill and use three single-slot chains so the next list starts at slot 3 and wraps.
    for (int i = 0; i < 3; ++i) {
        f.driver.add({ writable(buf, 16) });
        f.queue->add_used(f.pop(), 0);
        REQUIRE(f.driver.pop_used());
    }
    const auto id = f.driver.add({ writable(buf, 16), writable(buf + 16, 16) });
    const auto before = f.queue->ring_state();
    auto chain = f.pop();
    CHECK(f.queue->ring_state().avail_wrap != before.avail_wrap);

    CHECK(f.queue->unpop(std::move(chain)));
    CHECK(f.queue->ring_state().next_avail == before.next_avail);
    CHECK(f.queue->ring_state().avail_wrap == before.avail_wrap);
    CHECK(f.queue->in_flight() == 0);

    auto again = f.pop();
    CHECK(again.head() == id);
    CHECK(again.writer().available() == 32);
    f.queue->add_used(std::move(again), 0);
    CHECK(f.driver.pop_used()->id == id);
    CHECK_FALSE(f.queue->fault());
}
