// SPDX-License-Identifier: Apache-2.0
// Reader and Writer over chains whose buffers span several slices.
#include <array>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/queue_fixture.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

struct Header {
    le32 type;
    le32 reserved;
    le64 sector;
};
static_assert(sizeof(Header) == 16 && WireType<Header>);

} // namespace

TEST_CASE("read_obj assembles a struct split over several descriptors", "[virtio][queue]")
{
    SplitFixture f;
    Header h;
    h.type.set(1);
    h.sector.set(0x1122334455667788);
    const auto raw = std::as_bytes(std::span(&h, 1));
    const auto a = f.buffer_with({ raw.begin(), raw.begin() + 5 });
    const auto b = f.buffer_with({ raw.begin() + 5, raw.begin() + 11 });
    const auto c = f.buffer_with({ raw.begin() + 11, raw.end() });
    f.activate();
    f.driver.add({ readable(a, 5), readable(b, 6), readable(c, 5) });
    auto chain = f.pop();

    auto got = chain.reader().read_obj<Header>();

    REQUIRE(got);
    CHECK(got->type.get() == 1);
    CHECK(got->sector.get() == 0x1122334455667788);
    CHECK(chain.reader().available() == 0);
}

TEST_CASE("a read longer than what is left fails and consumes nothing", "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer_with(bytes_of("short"));
    f.activate();
    f.driver.add({ readable(a, 5) });
    auto chain = f.pop();

    auto got = chain.reader().read_obj<Header>();

    CHECK_FALSE(got);
    CHECK(chain.reader().available() == 5);
    CHECK(chain.reader().bytes_read() == 0);
}

TEST_CASE("skip moves the reader over bytes across descriptor boundaries", "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer_with(bytes_of("abc"));
    const auto b = f.buffer_with(bytes_of("defg"));
    f.activate();
    f.driver.add({ readable(a, 3), readable(b, 4) });
    auto chain = f.pop();

    REQUIRE(chain.reader().skip(4));

    CHECK(read_all(chain) == bytes_of("efg"));
    CHECK_FALSE(chain.reader().skip(1));
}

TEST_CASE("a write spanning two writable descriptors lands in both", "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer(3);
    const auto b = f.buffer(8);
    f.activate();
    f.driver.add({ writable(a, 3), writable(b, 8) });
    auto chain = f.pop();

    REQUIRE(chain.writer().write(bytes_of("hello")));

    CHECK(f.guest.read(a, 3) == bytes_of("hel"));
    CHECK(f.guest.read(b, 2) == bytes_of("lo"));
    CHECK(chain.writer().bytes_written() == 5);
    CHECK(chain.writer().available() == 6);
}

TEST_CASE("a write longer than the writable part fails and writes nothing", "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer(4);
    f.activate();
    f.driver.add({ writable(a, 4) });
    auto chain = f.pop();

    auto r = chain.writer().write(bytes_of("toolong"));

    CHECK_FALSE(r);
    CHECK(f.guest.read(a, 4) == std::vector<std::byte>(4));
    CHECK(chain.writer().bytes_written() == 0);
}

TEST_CASE("reader iovecs point straight into guest RAM, cover the request and consume nothing",
    "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer_with(bytes_of("abc"));
    const auto b = f.buffer_with(bytes_of("defg"));
    f.activate();
    f.driver.add({ readable(a, 3), readable(b, 4) });
    auto chain = f.pop();
    REQUIRE(chain.reader().skip(1));

    const auto iov = chain.reader().iovecs(5);

    REQUIRE(iov.size() == 2);
    CHECK(iov[0].iov_base == f.guest.memory().host_ptr(GuestAddress { a + 1 }, 2));
    CHECK(iov[0].iov_len == 2);
    CHECK(iov[1].iov_base == f.guest.memory().host_ptr(GuestAddress { b }, 3));
    CHECK(iov[1].iov_len == 3);
    CHECK(chain.reader().available() == 6);
}

TEST_CASE("writer iovecs plus commit count as written without copying", "[virtio][queue]")
{
    SplitFixture f;
    const auto a = f.buffer(4);
    const auto b = f.buffer(4);
    f.activate();
    const auto head = f.driver.add({ writable(a, 4), writable(b, 4) });
    auto chain = f.pop();

    const auto iov = chain.writer().iovecs(6);
    std::memcpy(iov[0].iov_base, "wxyz", 4); // what readv() would do
    std::memcpy(iov[1].iov_base, "12", 2);
    REQUIRE(chain.writer().commit(6));
    f.queue->add_used(std::move(chain));

    const auto used = f.driver.pop_used();
    CHECK(used->id == head);
    CHECK(used->len == 6);
    CHECK(f.guest.read(b, 2) == bytes_of("12"));
}

TEST_CASE("a buffer across two adjacent RAM regions resolves to two slices and reads as one", "[virtio][queue]")
{
    const std::array<MemoryRegionSpec, 2> adjacent { {
        { GuestAddress { 0 }, 0x10000 },
        { GuestAddress { 0x10000 }, 0x10000 },
    } };
    FakeGuest guest(adjacent);
    FakeInterrupt irq;
    DriverSplitQueue driver(guest, 8);
    QueueConfig config(8);
    driver.configure(config);
    auto q = config.activate(0, guest.dma(), BASE_FEATURES, irq);
    REQUIRE(q);
    guest.write(0xfffe, bytes_of("abcd"));
    driver.add({ readable(0xfffe, 4) });
    auto chain = q->pop();
    REQUIRE(chain);

    const auto iov = chain->reader().iovecs(4);
    const auto bytes = read_all(*chain);

    CHECK(iov.size() == 2);
    CHECK(bytes == bytes_of("abcd"));
}
