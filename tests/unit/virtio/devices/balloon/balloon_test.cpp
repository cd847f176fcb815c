// SPDX-License-Identifier: Apache-2.0
// virtio-balloon through its Device interface, over split and packed rings: the configuration,
// inflate and deflate page lists (pages really leave the host), queue numbering by features,
// free page reporting and hinting, statistics, poison, and bad input of every kind.
#include <algorithm>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/device_rig.hpp"
#include "virtio/devices/balloon/balloon.hpp"
#include "virtio/spec/balloon.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using Role = balloon::BalloonDevice::Role;

namespace {

constexpr std::uint64_t PAGE = 4096;
// RAM1 of the fake guest: the bump allocator (rings, buffers) stays in RAM0.
constexpr std::uint64_t PAGES_BASE = FakeGuest::RAM1_BASE;

std::uint64_t all_features()
{
    return feature_bit(VIRTIO_BALLOON_F_MUST_TELL_HOST) | feature_bit(VIRTIO_BALLOON_F_STATS_VQ)
        | feature_bit(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | feature_bit(VIRTIO_BALLOON_F_FREE_PAGE_HINT)
        | feature_bit(VIRTIO_BALLOON_F_PAGE_POISON) | feature_bit(VIRTIO_BALLOON_F_PAGE_REPORTING);
}

balloon::BalloonOptions every_option()
{
    balloon::BalloonOptions o;
    o.deflate_on_oom = o.hinting = o.reporting = o.poison = o.stats = true;
    return o;
}

template <class Driver>
struct BalloonRig {
    explicit BalloonRig(
        balloon::BalloonOptions o = every_option(), std::uint64_t acked = all_features(), bool start = true)
        : device(rig.guest.memory(), o)
    {
        if (start) {
            rig.start(acked);
        }
    }

    std::uint16_t q(Role r) const
    {
        const auto i = device.queue_of(r);
        REQUIRE(i);
        return *i;
    }
    // A readable buffer of 32-bit page frame numbers on `role`'s queue, kicked.
    std::uint16_t send_pfns(Role role, const std::vector<std::uint32_t>& pfns, std::uint32_t extra_bytes = 0)
    {
        const auto len = static_cast<std::uint32_t>(pfns.size() * 4);
        const std::uint64_t at = rig.buffer(len + extra_bytes + 4);
        rig.guest.write(at, std::as_bytes(std::span(pfns)));
        const std::uint16_t head = rig.queue(q(role)).add({ readable(at, len + extra_bytes) });
        rig.kick(q(role));
        return head;
    }
    void fill_page(std::uint64_t gpa, std::uint8_t v) { rig.guest.fill(gpa, std::byte { v }, PAGE); }
    bool page_is(std::uint64_t gpa, std::uint8_t v)
    {
        const auto bytes = rig.guest.read(gpa, PAGE);
        return std::all_of(bytes.begin(), bytes.end(), [v](std::byte b) { return b == std::byte { v }; });
    }
    std::uint32_t config_u32(std::uint32_t offset) const
    {
        std::uint32_t v = 0;
        device.read_config(offset, std::as_writable_bytes(std::span(&v, 1)));
        return v;
    }
    bool write_u32(std::uint32_t offset, std::uint32_t v)
    {
        return device.write_config(offset, std::as_bytes(std::span(&v, 1)));
    }
    std::uint32_t used_count(Role r)
    {
        std::uint32_t n = 0;
        while (rig.queue(q(r)).pop_used()) {
            ++n;
        }
        return n;
    }

    DeviceRig<Driver> rig { device };
    balloon::BalloonDevice device;
};

constexpr std::uint32_t pfn_of(std::uint64_t gpa)
{
    return static_cast<std::uint32_t>(gpa >> 12);
}

} // namespace

TEMPLATE_TEST_CASE("virtio-balloon offers what its options ask for, with the 1.2 config layout", "[balloon]",
    DriverSplitQueue, DriverPackedQueue)
{
    FakeGuest guest;
    balloon::BalloonOptions o;
    o.stats = false;
    o.poison = false;
    balloon::BalloonDevice plain(guest.memory(), o);
    CHECK(plain.type() == DeviceType::balloon);
    CHECK(plain.config_size() == sizeof(VirtioBalloonConfig));
    CHECK(plain.queue_max_sizes().size() == 2);
    CHECK(has_feature(plain.features(), VIRTIO_BALLOON_F_MUST_TELL_HOST));
    CHECK_FALSE(has_feature(plain.features(), VIRTIO_BALLOON_F_STATS_VQ));
    CHECK_FALSE(has_feature(plain.features(), VIRTIO_BALLOON_F_PAGE_REPORTING));
    CHECK_FALSE(has_feature(plain.features(), VIRTIO_BALLOON_F_PAGE_POISON));

    o = every_option();
    o.target_bytes = 64 * PAGE + 100; // whole pages only
    balloon::BalloonDevice full(guest.memory(), o);
    CHECK(full.queue_max_sizes().size() == 5);
    CHECK((full.features() & all_features()) == all_features());
    std::uint32_t num_pages = 0;
    full.read_config(0, std::as_writable_bytes(std::span(&num_pages, 1)));
    CHECK(num_pages == 64);
}

TEMPLATE_TEST_CASE("inflated pages leave the host and read back as zeroes; deflated ones are only counted",
    "[balloon]", DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    for (std::uint64_t i = 0; i < 4; ++i) {
        t.fill_page(PAGES_BASE + i * PAGE, 0x5a);
    }
    // Two runs (pages 0-1 and 3) and a duplicate.
    t.send_pfns(Role::inflate,
        { pfn_of(PAGES_BASE), pfn_of(PAGES_BASE + PAGE), pfn_of(PAGES_BASE + 3 * PAGE), pfn_of(PAGES_BASE) });
    CHECK(t.used_count(Role::inflate) == 1);
    CHECK(t.page_is(PAGES_BASE, 0));
    CHECK(t.page_is(PAGES_BASE + PAGE, 0));
    CHECK(t.page_is(PAGES_BASE + 2 * PAGE, 0x5a)); // not in the list: untouched
    CHECK(t.page_is(PAGES_BASE + 3 * PAGE, 0));
    CHECK(t.device.counters().inflated_pages == 4);
    CHECK(t.device.released_bytes() == 4 * PAGE);
    CHECK(t.rig.irq.queue_count(t.q(Role::inflate)) >= 1);

    t.send_pfns(Role::deflate, { pfn_of(PAGES_BASE), pfn_of(PAGES_BASE + 3 * PAGE) });
    CHECK(t.used_count(Role::deflate) == 1);
    CHECK(t.device.counters().deflated_pages == 2);
    // Back on demand: the guest may write them again.
    t.fill_page(PAGES_BASE, 0x11);
    CHECK(t.page_is(PAGES_BASE, 0x11));
    CHECK(t.device.counters().bad_pfns == 0);
    CHECK(t.device.counters().bad_requests == 0);
}

TEMPLATE_TEST_CASE("page numbers outside RAM are refused and counted, and nothing else is touched", "[balloon]",
    DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    t.fill_page(PAGES_BASE, 0x77);
    // The hole between the regions, beyond RAM, the largest number, and one good page.
    t.send_pfns(Role::inflate,
        { pfn_of(FakeGuest::HOLE_BASE), pfn_of(FakeGuest::RAM_END), 0xffff'ffff, pfn_of(PAGES_BASE + PAGE) });
    CHECK(t.used_count(Role::inflate) == 1);
    CHECK(t.device.counters().bad_pfns == 3);
    CHECK(t.device.counters().inflated_pages == 1);
    CHECK(t.page_is(PAGES_BASE, 0x77));
    t.send_pfns(Role::deflate, { 0xffff'fff0 });
    CHECK(t.device.counters().bad_pfns == 4);
    CHECK(t.device.counters().deflated_pages == 0);
}

TEMPLATE_TEST_CASE("a page list that is not whole 32-bit numbers, or has a writable part, is a bad request",
    "[balloon]", DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    t.fill_page(PAGES_BASE, 0x33);
    t.send_pfns(Role::inflate, { pfn_of(PAGES_BASE) }, 3); // 7 bytes: the whole entry counts
    CHECK(t.used_count(Role::inflate) == 1);
    CHECK(t.device.counters().bad_requests == 1);
    CHECK(t.device.counters().inflated_pages == 1);
    CHECK(t.page_is(PAGES_BASE, 0));

    const std::uint64_t w = t.rig.buffer(8);
    t.rig.queue(t.q(Role::deflate)).add({ writable(w, 8) });
    t.rig.kick(t.q(Role::deflate));
    CHECK(t.used_count(Role::deflate) == 1);
    CHECK(t.device.counters().bad_requests == 2);
    CHECK(t.device.counters().deflated_pages == 0);
}

TEMPLATE_TEST_CASE("a long list of page numbers is taken in pieces", "[balloon]", DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    std::vector<std::uint32_t> pfns;
    for (std::uint64_t i = 0; i < 1000; ++i) {
        pfns.push_back(pfn_of(PAGES_BASE + (i % 200) * PAGE));
    }
    t.send_pfns(Role::inflate, pfns);
    CHECK(t.used_count(Role::inflate) == 1);
    CHECK(t.device.counters().inflated_pages == 1000);
    CHECK(t.device.counters().bad_pfns == 0);
}

TEMPLATE_TEST_CASE("queues are numbered densely by the features the driver acked, as Linux does", "[balloon]",
    DriverSplitQueue, DriverPackedQueue)
{
    SECTION("every feature: the indices of §5.5.2")
    {
        BalloonRig<TestType> t;
        CHECK(t.q(Role::stats) == 2);
        CHECK(t.q(Role::free_page) == 3);
        CHECK(t.q(Role::reporting) == 4);
    }
    SECTION("no hinting: reporting is queue 3")
    {
        BalloonRig<TestType> t(
            every_option(), all_features() & ~feature_bit(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
        CHECK(t.q(Role::stats) == 2);
        CHECK_FALSE(t.device.queue_of(Role::free_page));
        CHECK(t.q(Role::reporting) == 3);
    }
    SECTION("neither statistics nor hinting: reporting is queue 2")
    {
        BalloonRig<TestType> t(every_option(),
            feature_bit(VIRTIO_BALLOON_F_PAGE_REPORTING) | feature_bit(VIRTIO_BALLOON_F_MUST_TELL_HOST));
        CHECK_FALSE(t.device.queue_of(Role::stats));
        CHECK(t.q(Role::reporting) == 2);
        t.fill_page(PAGES_BASE, 0x44);
        const std::uint64_t gpa = PAGES_BASE;
        t.rig.queue(2).add({ writable(gpa, PAGE) });
        t.rig.kick(2);
        CHECK(t.page_is(PAGES_BASE, 0));
        CHECK(t.device.counters().reported_bytes == PAGE);
    }
    SECTION("a queue the acked features need, left disabled, fails activation")
    {
        BalloonRig<TestType> t(every_option(), all_features(), false);
        CHECK_FALSE(t.rig.try_start(all_features(), { 0, 1, 2 }));
        CHECK(t.rig.try_start(all_features()));
    }
}

TEMPLATE_TEST_CASE("reported free pages are discarded and the buffers returned; poisoned ones are kept",
    "[balloon]", DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    const std::uint16_t rq = t.q(Role::reporting);
    for (std::uint64_t i = 0; i < 4; ++i) {
        t.fill_page(PAGES_BASE + i * PAGE, 0x66);
    }
    // Two ranges in one chain, as Linux's scatterlist sends them.
    t.rig.queue(rq).add({ writable(PAGES_BASE, 2 * PAGE), writable(PAGES_BASE + 3 * PAGE, PAGE) });
    t.rig.kick(rq);
    CHECK(t.used_count(Role::reporting) == 1);
    CHECK(t.page_is(PAGES_BASE, 0));
    CHECK(t.page_is(PAGES_BASE + PAGE, 0));
    CHECK(t.page_is(PAGES_BASE + 2 * PAGE, 0x66));
    CHECK(t.page_is(PAGES_BASE + 3 * PAGE, 0));
    CHECK(t.device.counters().reported_bytes == 3 * PAGE);
    CHECK(t.device.released_bytes() == 3 * PAGE);

    // §5.5.6.6: once the driver poisons with a non-zero value, its free pages keep their pattern.
    CHECK(t.write_u32(offsetof(VirtioBalloonConfig, poison_val), 0xaaaa'aaaa));
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, poison_val)) == 0xaaaa'aaaa);
    t.fill_page(PAGES_BASE + 4 * PAGE, 0xaa);
    t.rig.queue(rq).add({ writable(PAGES_BASE + 4 * PAGE, PAGE) });
    t.rig.kick(rq);
    CHECK(t.used_count(Role::reporting) == 1);
    CHECK(t.page_is(PAGES_BASE + 4 * PAGE, 0xaa));
    CHECK(t.device.counters().kept_bytes == PAGE);
    CHECK(t.device.released_bytes() == 3 * PAGE);
}

TEMPLATE_TEST_CASE("free page reports that are not whole pages of RAM, or readable, give nothing back",
    "[balloon]", DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    const std::uint16_t rq = t.q(Role::reporting);
    t.fill_page(PAGES_BASE, 0x21);
    t.rig.queue(rq).add({ writable(PAGES_BASE + 16, PAGE - 16) }); // not page aligned
    t.rig.queue(rq).add({ readable(PAGES_BASE, PAGE) });            // the wrong direction
    t.rig.kick(rq);
    CHECK(t.used_count(Role::reporting) == 2);
    CHECK(t.page_is(PAGES_BASE, 0x21));
    CHECK(t.device.counters().bad_requests == 1);
    CHECK(t.device.counters().kept_bytes == PAGE - 16);
    CHECK(t.device.released_bytes() == 0);
}

TEMPLATE_TEST_CASE("a hinting round: the command id, hints given back, STOP answered with DONE", "[balloon]",
    DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    const std::uint16_t hq = t.q(Role::free_page);
    const auto send_id = [&](std::uint32_t id) {
        const std::uint64_t at = t.rig.buffer(4);
        t.rig.guest.write_obj(at, le32(id));
        t.rig.queue(hq).add({ readable(at, 4) });
        t.rig.kick(hq);
    };
    const auto hint = [&](std::uint64_t gpa) {
        t.rig.queue(hq).add({ writable(gpa, PAGE) });
        t.rig.kick(hq);
    };
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, free_page_hint_cmd_id)) == VIRTIO_BALLOON_CMD_ID_STOP);
    const std::uint32_t configs = t.rig.irq.config_count();
    auto id = t.device.start_hinting();
    REQUIRE(id);
    CHECK(*id >= VIRTIO_BALLOON_CMD_ID_MIN);
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, free_page_hint_cmd_id)) == *id);
    CHECK(t.rig.irq.config_count() == configs + 1);

    t.fill_page(PAGES_BASE, 0x99);
    t.fill_page(PAGES_BASE + PAGE, 0x99);
    hint(PAGES_BASE); // before the driver named the round: stale
    CHECK(t.page_is(PAGES_BASE, 0x99));
    CHECK(t.device.counters().stale_hints == 1);
    send_id(*id - 1 == 1 ? 12345 : *id - 1); // an id of another round
    CHECK(t.device.counters().stale_hints == 2);
    send_id(*id);
    hint(PAGES_BASE);
    hint(PAGES_BASE + PAGE);
    CHECK(t.page_is(PAGES_BASE, 0));
    CHECK(t.page_is(PAGES_BASE + PAGE, 0));
    CHECK(t.device.counters().hinted_bytes == 2 * PAGE);
    send_id(VIRTIO_BALLOON_CMD_ID_STOP);
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, free_page_hint_cmd_id)) == VIRTIO_BALLOON_CMD_ID_DONE);
    CHECK(t.used_count(Role::free_page) == 6);
    // After the round, hints are stale again; a new round gets a new id.
    t.fill_page(PAGES_BASE, 0x98);
    hint(PAGES_BASE);
    CHECK(t.page_is(PAGES_BASE, 0x98));
    auto next = t.device.start_hinting();
    REQUIRE(next);
    CHECK(*next != *id);
    REQUIRE(t.device.stop_hinting());
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, free_page_hint_cmd_id)) == VIRTIO_BALLOON_CMD_ID_STOP);

    // A command that is not a 4-byte id alone.
    const std::uint64_t at = t.rig.buffer(8);
    t.rig.queue(hq).add({ readable(at, 2) });
    t.rig.kick(hq);
    CHECK(t.device.counters().bad_requests == 1);
}

TEMPLATE_TEST_CASE("statistics: the buffer is held, read, named, and handed back on request", "[balloon]",
    DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    const std::uint16_t sq = t.q(Role::stats);
    const auto send_stats = [&](std::vector<std::pair<std::uint16_t, std::uint64_t>> entries, std::uint32_t extra) {
        std::vector<std::byte> raw;
        for (const auto& [tag, val] : entries) {
            std::array<std::byte, 10> e {};
            std::memcpy(e.data(), &tag, 2);
            std::memcpy(e.data() + 2, &val, 8);
            raw.insert(raw.end(), e.begin(), e.end());
        }
        raw.resize(raw.size() + extra);
        const std::uint64_t at = t.rig.buffer(raw.size());
        t.rig.guest.write(at, raw);
        t.rig.queue(sq).add({ readable(at, static_cast<std::uint32_t>(raw.size())) });
        t.rig.kick(sq);
    };
    CHECK(t.device.request_stats()); // nothing held yet: nothing to do
    send_stats({ { 4, 1000 }, { 5, 8000 }, { 99, 7 } }, 0);
    CHECK(t.used_count(Role::stats) == 0); // held
    const auto s = t.device.stats();
    CHECK(s["stats"]["free_memory"] == 1000);
    CHECK(s["stats"]["total_memory"] == 8000);
    CHECK(s["stats"]["tag_99"] == 7);
    CHECK(s["updates"] == 1);
    REQUIRE(t.device.request_stats());
    CHECK(t.used_count(Role::stats) == 1);
    CHECK(t.rig.irq.queue_count(sq) >= 1);

    send_stats({ { 6, 42 } }, 3); // a torn entry at the end
    CHECK(t.device.counters().bad_requests == 1);
    CHECK(t.device.stats()["stats"]["available_memory"] == 42);
    send_stats({ { 0, 1 } }, 0); // a second buffer: the first goes back
    CHECK(t.used_count(Role::stats) == 1);
}

TEMPLATE_TEST_CASE("the target goes to the driver with a config interrupt; actual is the driver's", "[balloon]",
    DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    const std::uint32_t configs = t.rig.irq.config_count();
    REQUIRE(t.device.set_target(256 * PAGE));
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, num_pages)) == 256);
    CHECK(t.rig.irq.config_count() == configs + 1);
    CHECK_FALSE(t.device.set_target(FakeGuest::RAM_END * 2)); // more than RAM
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, num_pages)) == 256);

    CHECK(t.write_u32(offsetof(VirtioBalloonConfig, actual), 200));
    CHECK(t.device.actual_pages() == 200);
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, actual)) == 200);
    // num_pages and the command id are the device's; a partial write of actual is refused.
    CHECK_FALSE(t.write_u32(offsetof(VirtioBalloonConfig, num_pages), 1));
    CHECK_FALSE(t.write_u32(offsetof(VirtioBalloonConfig, free_page_hint_cmd_id), 7));
    const std::uint16_t half = 5;
    CHECK_FALSE(t.device.write_config(offsetof(VirtioBalloonConfig, actual), std::as_bytes(std::span(&half, 1))));
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, num_pages)) == 256);
    CHECK(t.device.status()["actual_bytes"] == 200 * PAGE);
}

TEMPLATE_TEST_CASE("a reset drops the held statistics buffer and the round, and keeps the target", "[balloon]",
    DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    REQUIRE(t.device.set_target(8 * PAGE));
    CHECK(t.write_u32(offsetof(VirtioBalloonConfig, actual), 8));
    const std::uint64_t at = t.rig.buffer(10);
    t.rig.queue(t.q(Role::stats)).add({ readable(at, 10) });
    t.rig.kick(t.q(Role::stats));
    REQUIRE(t.device.start_hinting());
    t.device.reset();
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, num_pages)) == 8);
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, actual)) == 0);
    CHECK(t.config_u32(offsetof(VirtioBalloonConfig, free_page_hint_cmd_id)) == VIRTIO_BALLOON_CMD_ID_STOP);
    CHECK_FALSE(t.device.request_stats());
    CHECK_FALSE(t.device.start_hinting());
    t.device.on_queue_notify(0); // after the reset: nothing happens
    t.rig.start(all_features());
    CHECK(t.device.start_hinting());
}

TEMPLATE_TEST_CASE("inflating the pages that hold the rings and the list itself only hurts the guest", "[balloon]",
    DriverSplitQueue, DriverPackedQueue)
{
    BalloonRig<TestType> t;
    // All of RAM0: the descriptor tables, the rings, and this very list of page numbers.
    std::vector<std::uint32_t> pfns;
    for (std::uint64_t gpa = FakeGuest::RAM0_BASE; gpa < FakeGuest::RAM0_BASE + FakeGuest::RAM0_SIZE; gpa += PAGE) {
        pfns.push_back(pfn_of(gpa));
    }
    t.send_pfns(Role::inflate, pfns);
    CHECK(t.device.counters().inflated_pages == pfns.size());
    CHECK(t.device.released_bytes() == FakeGuest::RAM0_SIZE);
    // The rings now read as zeroes: whatever the queue makes of that, the device goes on, and a
    // reset brings it back.
    t.rig.kick(t.q(Role::inflate));
    t.rig.kick(t.q(Role::reporting));
    t.device.reset();
    t.rig.start(all_features());
    t.fill_page(PAGES_BASE, 0x12);
    t.send_pfns(Role::inflate, { pfn_of(PAGES_BASE) });
    CHECK(t.page_is(PAGES_BASE, 0));
}
