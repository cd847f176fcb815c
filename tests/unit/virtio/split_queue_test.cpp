// SPDX-License-Identifier: Apache-2.0
// Split virtqueue: well-formed chains, used ring accounting, wrap-around, in-order completion.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

TEST_CASE("an empty split queue pops nothing and does not fault", "[virtio][queue]")
{
    SplitFixture f;
    auto& q = f.activate();

    CHECK_FALSE(q.pop());
    CHECK_FALSE(q.fault());
}

TEST_CASE("a readable-then-writable split chain pops with its bytes split between reader and writer",
    "[virtio][queue]")
{
    SplitFixture f;
    const auto header = f.buffer_with(bytes_of("header!!"));
    const auto status = f.buffer(4);
    f.activate();
    const auto head = f.driver.add({ readable(header, 8), writable(status, 4) });

    auto chain = f.pop();

    CHECK(chain.head() == head);
    CHECK(chain.descriptor_count() == 2);
    CHECK(chain.reader().available() == 8);
    CHECK(chain.writer().available() == 4);
    CHECK(read_all(chain) == bytes_of("header!!"));
}

TEST_CASE("add_used publishes the head with used.len equal to the bytes the writer wrote", "[virtio][queue]")
{
    SplitFixture f;
    const auto in = f.buffer(64);
    f.activate();
    const auto head = f.driver.add({ writable(in, 64) });
    auto chain = f.pop();
    REQUIRE(chain.writer().write(bytes_of("abc")));

    f.queue->add_used(std::move(chain));

    const auto used = f.driver.pop_used();
    REQUIRE(used);
    CHECK(used->id == head);
    CHECK(used->len == 3);
    CHECK(f.guest.read(in, 3) == bytes_of("abc"));
    CHECK(f.queue->in_flight() == 0);
}

TEST_CASE("skipped writable bytes at the end do not count towards used.len", "[virtio][queue]")
{
    SplitFixture f;
    const auto in = f.buffer(64);
    f.activate();
    f.driver.add({ writable(in, 64) });
    auto chain = f.pop();
    REQUIRE(chain.writer().write(bytes_of("ab")));
    REQUIRE(chain.writer().skip(10));

    f.queue->add_used(std::move(chain));

    CHECK(f.driver.pop_used()->len == 2);
}

TEST_CASE("an explicit used length larger than the writable capacity is clamped to it", "[virtio][queue]")
{
    SplitFixture f;
    const auto out = f.buffer(16);
    const auto in = f.buffer(8);
    f.activate();
    f.driver.add({ readable(out, 16), writable(in, 8) });
    auto chain = f.pop();

    f.queue->add_used(std::move(chain), 1000);

    CHECK(f.driver.pop_used()->len == 8);
}

TEST_CASE("an indirect table's buffers make up the chain", "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer_with(bytes_of("0123"));
    const auto b = f.buffer_with(bytes_of("4567"));
    const auto w = f.buffer(8);
    f.activate();
    f.driver.add_indirect({ readable(a, 4), readable(b, 4), writable(w, 8) });

    auto chain = f.pop();

    CHECK(chain.descriptor_count() == 4); // the table descriptor and its three entries
    CHECK(read_all(chain) == bytes_of("01234567"));
    CHECK(chain.writer().available() == 8);
}

TEST_CASE("direct descriptors followed by one indirect descriptor are accepted (virtio 1.2 §2.7.5.3.2)",
    "[virtio][queue]")
{
    SplitFixture f;
    const auto hdr = f.buffer_with(bytes_of("hd"));
    const auto data = f.buffer_with(bytes_of("data"));
    const auto table = f.guest.alloc(16, 16);
    f.activate();
    VirtqDesc entry;
    entry.addr.set(data);
    entry.len.set(4);
    f.guest.write_obj(table, entry);
    f.driver.write_desc(0, hdr, 2, VIRTQ_DESC_F_NEXT, 1);
    f.driver.write_desc(1, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    f.driver.push_avail(0);

    auto chain = f.pop();

    CHECK(read_all(chain) == bytes_of("hddata"));
}

TEST_CASE("WRITE on the descriptor pointing at an indirect table is ignored", "[virtio][queue]")
{
    SplitFixture f;
    const auto data = f.buffer_with(bytes_of("data"));
    const auto table = f.guest.alloc(16, 16);
    f.activate();
    VirtqDesc entry;
    entry.addr.set(data);
    entry.len.set(4);
    f.guest.write_obj(table, entry);
    f.driver.write_desc(0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    f.driver.push_avail(0);

    auto chain = f.pop();

    CHECK(chain.reader().available() == 4);
    CHECK(chain.writer().available() == 0);
}

TEST_CASE("a chain of exactly queue-size descriptors is accepted", "[virtio][queue]")
{
    SplitFixture f(4);
    const auto b = f.buffer(64);
    f.activate();
    f.driver.add({ readable(b, 1), readable(b + 1, 1), readable(b + 2, 1), writable(b + 3, 1) });

    auto chain = f.pop();

    CHECK(chain.descriptor_count() == 4);
}

TEST_CASE("zero-length descriptors are skipped, including one with address 0", "[virtio][queue]")
{
    SplitFixture f;
    const auto hdr = f.buffer_with(bytes_of("hdr"));
    const auto st = f.buffer(1);
    f.activate();
    f.driver.add({ readable(0, 0), readable(hdr, 3), readable(hdr, 0), writable(0xdead0000, 0), writable(st, 1) });

    auto chain = f.pop();

    CHECK(chain.descriptor_count() == 5);
    CHECK(read_all(chain) == bytes_of("hdr"));
    CHECK(chain.writer().available() == 1);
}

TEST_CASE("a chain of only zero-length descriptors pops and completes with used.len 0", "[virtio][queue]")
{
    SplitFixture f;
    f.activate();
    const auto head = f.driver.add({ readable(0, 0) });
    auto chain = f.pop();

    f.queue->add_used(std::move(chain));

    const auto used = f.driver.pop_used();
    REQUIRE(used);
    CHECK(used->id == head);
    CHECK(used->len == 0);
}

TEST_CASE("a buffer ending exactly at the end of RAM is accepted", "[virtio][queue]")
{
    SplitFixture f;
    f.activate();
    f.driver.add({ writable(FakeGuest::RAM_END - 16, 16) });

    auto chain = f.pop();

    CHECK(chain.writer().available() == 16);
}

TEST_CASE("a buffer pointing at the ring itself is just guest memory: it is read, nothing breaks",
    "[virtio][queue]")
{
    SplitFixture f;
    f.activate();
    f.driver.add({ readable(f.driver.desc_addr(), 16) });

    auto chain = f.pop();

    CHECK(chain.reader().available() == 16);
    CHECK_FALSE(f.queue->fault());
}

TEST_CASE("descriptors rewritten after pop do not change the popped chain (no double fetch)", "[virtio][queue]")
{
    SplitFixture f;
    const auto good = f.buffer_with(bytes_of("good"));
    const auto evil = f.buffer_with(bytes_of("evil"));
    f.activate();
    f.driver.add({ readable(good, 4) });
    auto chain = f.pop();

    f.driver.write_desc(0, evil, 4, 0, 0);
    f.guest.write_obj(f.driver.avail_addr() + split_avail_entry_offset(0), le16(7));

    CHECK(read_all(chain) == bytes_of("good"));
}

TEST_CASE("an indirect table rewritten after pop does not change the popped chain", "[virtio][queue]")
{
    SplitFixture f;
    const auto good = f.buffer_with(bytes_of("good"));
    f.activate();
    f.driver.add_indirect({ readable(good, 4) });
    auto chain = f.pop();
    const auto table = f.guest.read_obj<VirtqDesc>(f.driver.desc_addr()).addr.get();

    f.guest.fill(table, std::byte { 0xff }, 16);

    CHECK(read_all(chain) == bytes_of("good"));
}

TEST_CASE("the device keeps its own used index when the guest scribbles on used.idx", "[virtio][queue]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 8) });
    f.driver.add({ writable(b, 8) });
    auto first = f.pop();
    f.queue->add_used(std::move(first));

    f.guest.write_obj(f.driver.used_addr() + RING_IDX_OFFSET, le16(100));
    auto second = f.pop();
    f.queue->add_used(std::move(second));

    CHECK(f.driver.used_idx() == 2);
}

TEST_CASE("avail and used indices wrap from 0xffff to 0 without losing chains", "[virtio][queue]")
{
    SplitFixture f(4);
    const auto b = f.buffer(64);
    f.driver.start_at(0xfffe, f.config);
    f.activate();
    const auto h0 = f.driver.add({ writable(b, 1) });
    const auto h1 = f.driver.add({ writable(b + 8, 2) });
    const auto h2 = f.driver.add({ writable(b + 16, 3) });
    REQUIRE(f.driver.avail_idx() == 0x0001);

    for (int i = 0; i < 3; ++i) {
        auto chain = f.pop();
        REQUIRE(chain.writer().write(pattern(chain.writer().available())));
        f.queue->add_used(std::move(chain));
    }

    CHECK(f.driver.used_idx() == 0x0001);
    CHECK(f.driver.pop_used()->id == h0);
    CHECK(f.driver.pop_used()->id == h1);
    const auto last = f.driver.pop_used();
    CHECK(last->id == h2);
    CHECK(last->len == 3);
    CHECK(f.queue->ring_state().next_avail == 0x0001);
}

TEST_CASE("with IN_ORDER, completions made out of order are published in pop order", "[virtio][queue]")
{
    SplitFixture f(8, IN_ORDER);
    const auto b = f.buffer(64);
    f.activate();
    const auto h0 = f.driver.add({ writable(b, 4) });
    const auto h1 = f.driver.add({ writable(b + 8, 4) });
    auto c0 = f.pop();
    auto c1 = f.pop();

    f.queue->add_used(std::move(c1), 1);
    const auto after_second = f.driver.used_idx();
    f.queue->add_used(std::move(c0), 2);

    CHECK(after_second == 0);
    REQUIRE(f.driver.used_idx() == 2);
    CHECK(f.driver.used_at(0).id == h0);
    CHECK(f.driver.used_at(0).len == 2);
    CHECK(f.driver.used_at(1).id == h1);
    CHECK(f.driver.used_at(1).len == 1);
}

TEST_CASE("without IN_ORDER, completions are published in completion order", "[virtio][queue]")
{
    SplitFixture f;
    const auto b = f.buffer(64);
    f.activate();
    f.driver.add({ writable(b, 4) });
    const auto h1 = f.driver.add({ writable(b + 8, 4) });
    auto c0 = f.pop();
    auto c1 = f.pop();

    f.queue->add_used(std::move(c1), 1);

    CHECK(f.driver.used_idx() == 1);
    CHECK(f.driver.used_at(0).id == h1);
    f.queue->add_used(std::move(c0), 0);
}

TEST_CASE("staged used entries stay invisible until publish_used()", "[virtio][queue]")
{
    SplitFixture f;
    const auto b = f.buffer(64);
    f.activate();
    f.driver.add({ writable(b, 4) });
    f.driver.add({ writable(b + 8, 4) });
    auto c0 = f.pop();
    auto c1 = f.pop();

    f.queue->stage_used(std::move(c0), 4);
    f.queue->stage_used(std::move(c1), 4);
    const auto before = f.driver.used_idx();
    f.queue->publish_used();

    CHECK(before == 0);
    CHECK(f.driver.used_idx() == 2);
}

TEST_CASE("a chain handed back twice is completed once", "[virtio][queue]")
{
    SplitFixture f;
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 8) });
    auto chain = f.pop();

    f.queue->add_used(std::move(chain), 1);
    f.queue->add_used(std::move(chain), 1); // NOLINT(bugprone-use-after-move): the point of the test

    CHECK(f.driver.used_idx() == 1);
    CHECK_FALSE(chain.valid()); // NOLINT(bugprone-use-after-move)
}

TEST_CASE("a chain completed on a queue it was not popped from is ignored", "[virtio][queue]")
{
    SplitFixture f;
    SplitFixture other;
    const auto b = other.buffer(8);
    f.activate();
    other.activate();
    other.driver.add({ writable(b, 8) });
    auto chain = other.pop();

    f.queue->add_used(std::move(chain), 8);

    CHECK(f.driver.used_idx() == 0);
    CHECK(other.driver.used_idx() == 0);
}

TEST_CASE("asking whether to notify publishes staged entries first", "[virtio][queue]")
{
    SplitFixture f(8, 0);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(b, 4) });
    f.queue->stage_used(f.pop(), 4);

    const bool notify = f.queue->needs_notification();

    CHECK(notify);
    CHECK(f.driver.used_idx() == 1);
}

TEST_CASE("an unpopped split chain is popped again, whole, and nothing is in flight meanwhile", "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer(32);
    const auto b = f.buffer(64);
    f.activate();
    const auto head_a = f.driver.add({ writable(a, 32) });
    const auto head_b = f.driver.add({ writable(b, 64) });
    auto first = f.pop();
    auto second = f.pop();
    CHECK(f.queue->in_flight() == 2);

    // Last popped first; the older one cannot go back while the newer one is out.
    CHECK_FALSE(f.queue->unpop(std::move(first)));
    CHECK(f.queue->unpop(std::move(second)));
    CHECK(f.queue->unpop(std::move(first)));
    CHECK(f.queue->in_flight() == 0);

    auto again = f.pop();
    CHECK(again.head() == head_a);
    CHECK(again.writer().available() == 32);
    auto again_b = f.pop();
    CHECK(again_b.head() == head_b);
    f.queue->add_used(std::move(again), 0);
    f.queue->add_used(std::move(again_b), 0);
    CHECK(f.driver.pop_used()->id == head_a);
    CHECK(f.driver.pop_used()->id == head_b);
    CHECK_FALSE(f.queue->fault());
}

TEST_CASE("a chain that was used, or came from another queue, cannot be unpopped", "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer(32);
    f.activate();
    f.driver.add({ writable(a, 32) });
    auto chain = f.pop();
    auto copy_of_state = f.queue->ring_state();
    f.queue->add_used(std::move(chain), 0);
    CHECK_FALSE(f.queue->unpop(std::move(chain)));
    CHECK(f.queue->ring_state().next_avail == copy_of_state.next_avail);

    SplitFixture other;
    const auto o = other.buffer(16);
    other.activate();
    other.driver.add({ writable(o, 16) });
    auto foreign = other.pop();
    f.driver.add({ writable(a, 32) });
    (void)f.pop();
    CHECK_FALSE(f.queue->unpop(std::move(foreign)));
}
