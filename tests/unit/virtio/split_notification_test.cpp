// SPDX-License-Identifier: Apache-2.0
// Split virtqueue notification suppression: NO_INTERRUPT / NO_NOTIFY and EVENT_IDX.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

// Pops and completes one chain with a 1-byte writable buffer.
void complete_one(SplitFixture& f, std::uint64_t buf)
{
    f.driver.add({ writable(buf, 1) });
    f.queue->add_used(f.pop(), 1);
}

} // namespace

TEST_CASE("without EVENT_IDX, avail flags 0 make the device notify after using a buffer", "[virtio][queue]")
{
    SplitFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    complete_one(f, b);

    f.queue->notify_if_needed();

    CHECK(f.irq.queue_count(0) == 1);
}

TEST_CASE("without EVENT_IDX, VIRTQ_AVAIL_F_NO_INTERRUPT suppresses the notification", "[virtio][queue]")
{
    SplitFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_avail_flags(VIRTQ_AVAIL_F_NO_INTERRUPT);
    complete_one(f, b);

    CHECK_FALSE(f.queue->needs_notification());
}

TEST_CASE("nothing used since the last check means no notification", "[virtio][queue]")
{
    SplitFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    complete_one(f, b);
    REQUIRE(f.queue->needs_notification());

    CHECK_FALSE(f.queue->needs_notification());
}

TEST_CASE("with EVENT_IDX, the device notifies when used idx moves past used_event", "[virtio][queue]")
{
    SplitFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_used_event(1); // wake me when entry 1 (the second) is used

    complete_one(f, b);
    const bool after_first = f.queue->needs_notification();
    complete_one(f, b);
    const bool after_second = f.queue->needs_notification();

    CHECK_FALSE(after_first);
    CHECK(after_second);
}

TEST_CASE("with EVENT_IDX, a batch that passes used_event notifies once", "[virtio][queue]")
{
    SplitFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_used_event(0);
    complete_one(f, b);
    complete_one(f, b);
    complete_one(f, b);

    CHECK(f.queue->needs_notification());
    CHECK_FALSE(f.queue->needs_notification());
}

TEST_CASE("with EVENT_IDX, a used_event far ahead suppresses notifications", "[virtio][queue]")
{
    SplitFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_used_event(0x7000);
    complete_one(f, b);

    CHECK_FALSE(f.queue->needs_notification());
}

TEST_CASE("with EVENT_IDX, used_event 0xffff fires when the used index wraps past it", "[virtio][queue]")
{
    SplitFixture f(4, EVENT_IDX);
    const auto b = f.buffer(8);
    f.driver.start_at(0xfffe, f.config);
    f.activate();
    f.driver.set_used_event(0xffff);

    complete_one(f, b); // used idx 0xffff: entry 0xfffe written
    const bool first = f.queue->needs_notification();
    complete_one(f, b); // used idx 0x0000: entry 0xffff written
    const bool second = f.queue->needs_notification();

    CHECK_FALSE(first);
    CHECK(second);
}

TEST_CASE("with EVENT_IDX, NO_INTERRUPT in avail flags is ignored", "[virtio][queue]")
{
    SplitFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_avail_flags(VIRTQ_AVAIL_F_NO_INTERRUPT);
    f.driver.set_used_event(0);
    complete_one(f, b);

    CHECK(f.queue->needs_notification());
}

TEST_CASE("more than 2^16 buffers used between checks always notify", "[virtio][queue]")
{
    SplitFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.set_used_event(0x1234);
    for (int i = 0; i < 0x10000; ++i) {
        complete_one(f, b);
    }

    CHECK(f.queue->needs_notification());
}

TEST_CASE("disable_notification sets VIRTQ_USED_F_NO_NOTIFY and enable clears it", "[virtio][queue]")
{
    SplitFixture f(8, 0);
    f.activate();

    f.queue->disable_notification();
    const auto disabled = f.driver.used_flags();
    const bool more = f.queue->enable_notification();

    CHECK(disabled == VIRTQ_USED_F_NO_NOTIFY);
    CHECK(f.driver.used_flags() == 0);
    CHECK_FALSE(more);
}

TEST_CASE("enable_notification reports buffers that arrived while notifications were off", "[virtio][queue]")
{
    SplitFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.queue->disable_notification();
    f.driver.add({ writable(b, 1) });

    CHECK(f.queue->enable_notification());
}

TEST_CASE("with EVENT_IDX, enable_notification publishes avail_event at the next avail index", "[virtio][queue]")
{
    SplitFixture f(8, EVENT_IDX);
    const auto b = f.buffer(8);
    f.activate();
    complete_one(f, b);
    complete_one(f, b);

    const bool more = f.queue->enable_notification();

    CHECK_FALSE(more);
    CHECK(f.driver.avail_event() == 2);
    CHECK(f.driver.used_flags() == 0);
}

TEST_CASE("notification data with an avail index within the queue size ahead is accepted", "[virtio][queue]")
{
    SplitFixture f(8, 0);
    f.activate();

    const auto ok = f.queue->check_notification_data(decode_notification_data(0x0003'0000));
    const auto far = f.queue->check_notification_data(decode_notification_data(0x0009'0000));
    const auto wrapped = f.queue->check_notification_data(decode_notification_data(0x8000'0000));

    CHECK(ok);
    CHECK_FALSE(far);
    CHECK_FALSE(wrapped);
}
