// SPDX-License-Identifier: Apache-2.0
// virtio-rng through its Device interface, over split and packed rings, with a fake source.
#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/device_rig.hpp"
#include "tests/unit/vmm/console/console_test_support.hpp"
#include "virtio/devices/rng/rng.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using namespace std::chrono_literals;

namespace {

// Byte i of its output is i % 251 + 1: never zero, so a written byte shows in zeroed RAM.
class FakeSource final : public EntropySource {
public:
    [[nodiscard]] Result<std::size_t> read(std::span<const iovec> into) noexcept override
    {
        ++calls;
        max_iovecs = std::max(max_iovecs, into.size());
        if (busy) {
            return fail(Errc::busy, "fake source has nothing yet");
        }
        std::size_t total = 0;
        for (const iovec& v : into) {
            auto* p = static_cast<std::byte*>(v.iov_base);
            for (std::size_t i = 0; i < v.iov_len && remaining > 0; ++i, --remaining) {
                p[i] = std::byte { static_cast<std::uint8_t>(produced++ % 251 + 1) };
                ++total;
            }
        }
        return total;
    }
    [[nodiscard]] std::string describe() const override { return "fake"; }

    std::size_t calls = 0;
    std::size_t max_iovecs = 0;
    std::size_t produced = 0;
    std::size_t remaining = SIZE_MAX;
    bool busy = false;
};

std::vector<std::byte> expected_bytes(std::size_t from, std::size_t len)
{
    std::vector<std::byte> out;
    for (std::size_t i = from; i < from + len; ++i) {
        out.push_back(std::byte { static_cast<std::uint8_t>(i % 251 + 1) });
    }
    return out;
}

template <class Driver>
struct RngRig {
    explicit RngRig(std::optional<RngDevice::RateLimit> limit = std::nullopt)
        : device(std::move(owned), limit, [this] { return now; })
    {
    }

    std::unique_ptr<FakeSource> owned = std::make_unique<FakeSource>();
    FakeSource* source = owned.get();
    std::chrono::steady_clock::time_point now {};
    RngDevice device;
    DeviceRig<Driver> rig { device };
};

} // namespace

TEMPLATE_TEST_CASE("virtio-rng fills a writable buffer from its source and reports the bytes written",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    const auto buf = r.rig.buffer(32);
    r.rig.queue(0).add({ writable(buf, 32) });

    r.rig.kick(0);

    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 32);
    CHECK(r.rig.guest.read(buf, 32) == expected_bytes(0, 32));
    CHECK(r.rig.irq.queue_count(0) == 1);
}

TEMPLATE_TEST_CASE("virtio-rng ignores a notification before activation and for a queue it does not have",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.device.on_queue_notify(0);
    r.rig.start();
    const auto buf = r.rig.buffer(16);
    r.rig.queue(0).add({ writable(buf, 16) });

    r.rig.kick(1);
    r.rig.kick(0xffff);
    const bool used_by_stray_kicks = r.rig.queue(0).pop_used().has_value();
    r.rig.kick(0);

    CHECK_FALSE(used_by_stray_kicks);
    CHECK(r.source->calls == 1);
    CHECK(r.rig.queue(0).pop_used());
}

TEMPLATE_TEST_CASE("after a reset virtio-rng leaves the old ring alone, and works again once re-activated",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    auto& old_queue = r.rig.queue(0);
    const auto stale = r.rig.buffer(16);
    old_queue.add({ writable(stale, 16) });

    r.device.reset();
    r.device.on_queue_notify(0);
    const bool stale_used = old_queue.pop_used().has_value();
    const auto stale_bytes = r.rig.guest.read(stale, 16);
    r.rig.start();
    const auto buf = r.rig.buffer(16);
    r.rig.queue(0).add({ writable(buf, 16) });
    r.rig.kick(0);

    CHECK_FALSE(stale_used);
    CHECK(stale_bytes == std::vector<std::byte>(16));
    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 16);
}

TEMPLATE_TEST_CASE("a read-only buffer completes with length 0 and is neither read into nor written",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    const auto buf = r.rig.buffer_with("keep me");
    r.rig.queue(0).add({ readable(buf, 7) });

    r.rig.kick(0);

    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    CHECK(r.rig.read_text(buf, 7) == "keep me");
    CHECK(r.source->calls == 0);
}

TEMPLATE_TEST_CASE(
    "readable descriptors ahead of the writable ones are skipped and only the writable part is filled",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    const auto head = r.rig.buffer_with("header");
    const auto data = r.rig.buffer(8);
    r.rig.queue(0).add({ readable(head, 6), writable(data, 8) });

    r.rig.kick(0);

    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 8);
    CHECK(r.rig.read_text(head, 6) == "header");
    CHECK(r.rig.guest.read(data, 8) == expected_bytes(0, 8));
}

TEMPLATE_TEST_CASE("a buffer crossing the end of RAM faults the queue and no host memory is touched",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    r.rig.queue(0).add({ writable(FakeGuest::RAM_END - 8, 64) });

    r.rig.kick(0);

    CHECK_FALSE(r.rig.queue(0).pop_used());
    CHECK(r.rig.irq.needs_reset_count() == 1);
    CHECK(r.source->calls == 0);
    CHECK(r.rig.guest.read(FakeGuest::RAM_END - 8, 8) == std::vector<std::byte>(8));
}

TEMPLATE_TEST_CASE("a buffer in the hole between RAM regions faults the queue without a read from the source",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    r.rig.queue(0).add({ writable(FakeGuest::HOLE_BASE + 0x100, 64) });

    r.rig.kick(0);

    CHECK_FALSE(r.rig.queue(0).pop_used());
    CHECK(r.rig.irq.needs_reset_count() == 1);
    CHECK(r.source->calls == 0);
}

TEMPLATE_TEST_CASE("zero-length descriptors carry nothing and the rest of the chain is filled",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    const auto empty = r.rig.buffer(8);
    const auto data = r.rig.buffer(16);
    r.rig.queue(0).add({ writable(empty, 0), writable(data, 16), writable(empty, 0) });

    r.rig.kick(0);

    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 16);
    CHECK(r.rig.guest.read(empty, 8) == std::vector<std::byte>(8));
    CHECK(r.rig.guest.read(data, 16) == expected_bytes(0, 16));
}

TEMPLATE_TEST_CASE("a chain of only zero-length descriptors completes with length 0 without a read",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    const auto empty = r.rig.buffer(8);
    r.rig.queue(0).add({ writable(empty, 0) });

    r.rig.kick(0);

    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    CHECK(r.source->calls == 0);
}

TEMPLATE_TEST_CASE("a 1 MiB buffer gets MAX_REQUEST_BYTES and the rest of it stays untouched",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    r.rig.queue(0).add({ writable(FakeGuest::RAM1_BASE, static_cast<std::uint32_t>(FakeGuest::RAM1_SIZE)) });

    r.rig.kick(0);

    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == RngDevice::MAX_REQUEST_BYTES);
    CHECK(r.source->produced == RngDevice::MAX_REQUEST_BYTES);
    CHECK(r.rig.guest.read(FakeGuest::RAM1_BASE + RngDevice::MAX_REQUEST_BYTES, 64)
        == std::vector<std::byte>(64));
}

TEMPLATE_TEST_CASE("a chain of many small buffers is filled in its first MAX_IOVECS pieces with one read",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.ring_size = 128;
    r.rig.start();
    const auto base = r.rig.buffer(100 * 4);
    std::vector<Buf> bufs;
    for (std::uint64_t i = 0; i < 100; ++i) {
        bufs.push_back(writable(base + i * 4, 4));
    }
    r.rig.queue(0).add(bufs);

    r.rig.kick(0);

    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == RngDevice::MAX_IOVECS * 4);
    CHECK(r.source->calls == 1);
    CHECK(r.source->max_iovecs == RngDevice::MAX_IOVECS);
}

TEMPLATE_TEST_CASE("a source with nothing yet leaves the request pending until a later notification",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    const auto buf = r.rig.buffer(16);
    r.rig.queue(0).add({ writable(buf, 16) });
    r.source->busy = true;

    r.rig.kick(0);
    const bool used_while_busy = r.rig.queue(0).pop_used().has_value();
    const bool waiting = r.device.waiting();
    r.source->busy = false;
    r.rig.kick(0);

    CHECK_FALSE(used_while_busy);
    CHECK(waiting);
    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 16);
}

TEMPLATE_TEST_CASE("a source that ended completes what it had and then leaves requests pending, never empty",
    "[virtio][rng]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r;
    r.rig.start();
    r.source->remaining = 10;
    const auto first = r.rig.buffer(64);
    const auto second = r.rig.buffer(64);
    r.rig.queue(0).add({ writable(first, 64) });
    r.rig.queue(0).add({ writable(second, 64) });

    r.rig.kick(0);
    r.rig.kick(0);

    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 10);
    CHECK_FALSE(r.rig.queue(0).pop_used());
    CHECK(r.device.waiting());
    CHECK(r.rig.guest.read(second, 64) == std::vector<std::byte>(64));
}

// ---- Rate limit -------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("with the bucket empty nothing is served until refill() runs after the clock moved",
    "[virtio][rng][rate]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r(RngDevice::RateLimit { .bytes_per_second = 16, .burst = 32 });
    r.rig.start();
    const auto a = r.rig.buffer(64);
    const auto b = r.rig.buffer(64);
    r.rig.queue(0).add({ writable(a, 64) });
    r.rig.kick(0);
    const auto burst = r.rig.queue(0).pop_used();
    r.rig.queue(0).add({ writable(b, 64) });

    r.rig.kick(0);
    r.device.refill();
    const bool served_before_time_passed = r.rig.queue(0).pop_used().has_value();
    r.now += 1s;
    r.device.refill();

    REQUIRE(burst);
    CHECK(burst->len == 32);
    CHECK_FALSE(served_before_time_passed);
    const auto later = r.rig.queue(0).pop_used();
    REQUIRE(later);
    CHECK(later->len == 16);
    CHECK(r.rig.guest.read(b, 16) == expected_bytes(32, 16));
}

TEMPLATE_TEST_CASE("a reset does not refill the bucket, so resetting gives a guest no extra burst",
    "[virtio][rng][rate]", DriverSplitQueue, DriverPackedQueue)
{
    RngRig<TestType> r(RngDevice::RateLimit { .bytes_per_second = 16, .burst = 32 });
    r.rig.start();
    r.rig.queue(0).add({ writable(r.rig.buffer(64), 64) });
    r.rig.kick(0);

    r.device.reset();
    r.rig.start();
    r.rig.queue(0).add({ writable(r.rig.buffer(64), 64) });
    r.rig.kick(0);
    const bool served_after_reset = r.rig.queue(0).pop_used().has_value();
    r.now += 500ms;
    r.rig.kick(0);

    CHECK_FALSE(served_after_reset);
    const auto used = r.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 8);
}

TEST_CASE(
    "with a loop, the rate-limit timer serves a waiting request once tokens came in", "[virtio][rng][rate]")
{
    EventLoop loop;
    RngDevice device(
        std::make_unique<FakeSource>(), RngDevice::RateLimit { .bytes_per_second = 1000, .burst = 8 });
    DeviceRig<DriverSplitQueue> rig(device);
    rig.start(0, {}, &loop);
    rig.queue(0).add({ writable(rig.buffer(8), 8) });
    rig.kick(0);
    const auto burst = rig.queue(0).pop_used();
    rig.queue(0).add({ writable(rig.buffer(8), 8) });
    rig.kick(0);
    const bool armed = device.timer_armed();

    std::optional<UsedEntry> later;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!later && std::chrono::steady_clock::now() < deadline) {
        loop.io().restart();
        loop.io().run_for(5ms);
        later = rig.queue(0).pop_used();
    }

    REQUIRE(burst);
    CHECK(burst->len == 8);
    CHECK(armed);
    REQUIRE(later);
    CHECK(later->len >= 1);
}

TEST_CASE(
    "a reset cancels the rate-limit timer and the waiting request is never completed", "[virtio][rng][rate]")
{
    EventLoop loop;
    RngDevice device(
        std::make_unique<FakeSource>(), RngDevice::RateLimit { .bytes_per_second = 1000, .burst = 8 });
    DeviceRig<DriverSplitQueue> rig(device);
    rig.start(0, {}, &loop);
    auto& ring = rig.queue(0);
    ring.add({ writable(rig.buffer(8), 8) });
    rig.kick(0);
    (void)ring.pop_used();
    const auto waiting = rig.buffer(8);
    ring.add({ writable(waiting, 8) });
    rig.kick(0);

    device.reset();
    loop.io().restart();
    loop.io().run_for(50ms);

    CHECK_FALSE(device.timer_armed());
    CHECK_FALSE(device.waiting());
    CHECK_FALSE(ring.pop_used());
    CHECK(rig.guest.read(waiting, 8) == std::vector<std::byte>(8));
}

TEST_CASE(
    "destroying virtio-rng with its timer armed leaves a handler that does nothing", "[virtio][rng][rate]")
{
    EventLoop loop;
    auto device = std::make_unique<RngDevice>(
        std::make_unique<FakeSource>(), RngDevice::RateLimit { .bytes_per_second = 1, .burst = 1 });
    DeviceRig<DriverSplitQueue> rig(*device);
    rig.start(0, {}, &loop);
    rig.queue(0).add({ writable(rig.buffer(8), 8) });
    rig.kick(0);
    (void)rig.queue(0).pop_used();
    rig.queue(0).add({ writable(rig.buffer(8), 8) });
    rig.kick(0);
    const bool armed = device->timer_armed();

    device = nullptr;
    loop.io().restart();
    const std::size_t handlers_run = loop.io().run_for(20ms);

    CHECK(armed);
    CHECK(handlers_run == 1); // the cancelled wait, which found the device gone
}

// ---- Real sources -------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("a regular file source is read once: its bytes, a short completion, then pending requests",
    "[virtio][rng][file]", DriverSplitQueue, DriverPackedQueue)
{
    const vmm::test::TempDir dir;
    std::ofstream(dir.path / "seed", std::ios::binary) << "0123456789";
    auto source = open_file_source(dir.path / "seed");
    REQUIRE(source);
    RngDevice device(std::move(source).value());
    DeviceRig<TestType> rig(device);
    rig.start();
    const auto first = rig.buffer(64);
    rig.queue(0).add({ writable(first, 64) });
    rig.kick(0);
    const auto used = rig.queue(0).pop_used();
    rig.queue(0).add({ writable(rig.buffer(64), 64) });

    rig.kick(0);
    rig.kick(0);

    REQUIRE(used);
    CHECK(used->len == 10);
    CHECK(rig.read_text(first, 10) == "0123456789");
    CHECK_FALSE(rig.queue(0).pop_used());
    CHECK(device.waiting());
}

TEST_CASE("a character device source such as /dev/urandom fills the whole buffer", "[virtio][rng][file]")
{
    auto source = open_file_source("/dev/urandom");
    REQUIRE(source);
    RngDevice device(std::move(source).value());
    DeviceRig<DriverSplitQueue> rig(device);
    rig.start();
    rig.queue(0).add({ writable(rig.buffer(4096), 4096) });

    rig.kick(0);

    const auto used = rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 4096);
}

TEST_CASE("the getrandom source fills a 4 KiB buffer with bytes that are not all zero", "[virtio][rng]")
{
    RngDevice device(make_getrandom_source());
    DeviceRig<DriverPackedQueue> rig(device);
    rig.start();
    const auto buf = rig.buffer(4096);
    rig.queue(0).add({ writable(buf, 4096) });

    rig.kick(0);

    const auto used = rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 4096);
    CHECK(rig.guest.read(buf, 4096) != std::vector<std::byte>(4096));
}

TEST_CASE("opening a missing entropy file or a directory is an error naming the path", "[virtio][rng][file]")
{
    const auto missing = open_file_source("/nonexistent/vireo-entropy");
    const auto directory = open_file_source("/tmp");

    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().describe(), Catch::Contains("/nonexistent/vireo-entropy"));
    REQUIRE_FALSE(directory);
    CHECK_THAT(
        directory.error().describe(), Catch::Contains("/tmp") && Catch::Contains("not a regular file"));
}

TEST_CASE("virtio-rng offers no device features and has no configuration space", "[virtio][rng]")
{
    RngDevice device(std::make_unique<FakeSource>());
    std::array<std::byte, 4> out {};
    out.fill(std::byte { 0xff });

    device.read_config(0, out);

    CHECK(device.type() == DeviceType::rng);
    CHECK(device.queue_max_sizes().size() == 1);
    CHECK((device.features() & 0xffffffU) == 0);
    CHECK(device.config_size() == 0);
    CHECK(out == std::array<std::byte, 4> {});
}
