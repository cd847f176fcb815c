// SPDX-License-Identifier: Apache-2.0
// virtio-pmem through its Device interface, over split and packed rings: the configuration, the
// guest window, FLUSH with good and bad requests, failures, resets with flushes in flight.
#include <cerrno>
#include <memory>

#include <catch2/catch.hpp>

#include "tests/support/fake_block_backend.hpp"
#include "tests/unit/virtio/devices/device_rig.hpp"
#include "virtio/devices/pmem/pmem_device.hpp"
#include "virtio/spec/pmem.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

constexpr std::uint64_t SIZE = 4 << 20;
constexpr std::uint32_t UNTOUCHED = 0xaaaa'aaaa;

template <class Driver>
struct PmemRig {
    explicit PmemRig(bool read_only = false)
        : device(std::move(owned), std::move(pmem::PmemMapping::anonymous(SIZE).value()), read_only)
    {
    }

    // A request of `req_len` readable bytes holding `type`, and a response of `resp_len`
    // writable bytes pre-filled with UNTOUCHED; returns the response's address.
    std::uint64_t submit(std::uint32_t type = VIRTIO_PMEM_REQ_TYPE_FLUSH, std::uint32_t req_len = 4,
        std::uint32_t resp_len = 4)
    {
        const std::uint64_t req = rig.buffer(8);
        rig.guest.write_obj(req, VirtioPmemReq { le32(type) });
        const std::uint64_t resp = rig.buffer(8);
        rig.guest.write_obj(resp, UNTOUCHED);
        if (resp_len == 0) {
            rig.queue(0).add({ readable(req, req_len) });
        } else {
            rig.queue(0).add({ readable(req, req_len), writable(resp, resp_len) });
        }
        rig.kick(0);
        return resp;
    }
    [[nodiscard]] std::uint32_t response(std::uint64_t at) { return rig.guest.template read_obj<std::uint32_t>(at); }

    std::unique_ptr<FakeBlockBackend> owned = std::make_unique<FakeBlockBackend>(SIZE);
    FakeBlockBackend* backend = owned.get();
    pmem::PmemDevice device;
    DeviceRig<Driver> rig { device };
};

std::uint64_t config_u64(const Device& d, std::uint32_t offset)
{
    std::uint64_t v = 0;
    d.read_config(offset, std::as_writable_bytes(std::span(&v, 1)));
    return v;
}

} // namespace

TEST_CASE("virtio-pmem names its window in the configuration once the VMM has placed it", "[pmem]")
{
    PmemRig<DriverSplitQueue> t;
    CHECK(t.device.type() == DeviceType::pmem);
    CHECK(t.device.config_size() == sizeof(VirtioPmemConfig));
    CHECK(t.device.queue_max_sizes().size() == 1);
    // SHMEM_REGION is not offered: the range is in the configuration (§5.19.4).
    CHECK_FALSE(has_feature(t.device.features(), VIRTIO_PMEM_F_SHMEM_REGION));
    CHECK(has_feature(t.device.features(), VIRTIO_F_RING_RESET));
    const auto w = t.device.guest_window();
    REQUIRE(w);
    CHECK(w->size == SIZE);
    CHECK(w->host != nullptr);
    CHECK(w->align == pmem::PmemDevice::ALIGN);
    CHECK_FALSE(w->read_only);
    CHECK(config_u64(t.device, 0) == 0);
    CHECK(config_u64(t.device, 8) == SIZE);
    t.device.place_guest_window(0x20'0000'0000);
    CHECK(config_u64(t.device, 0) == 0x20'0000'0000);
    CHECK(t.device.guest_base() == 0x20'0000'0000);
    // The configuration is read-only for the driver.
    const std::uint64_t zero = 0;
    CHECK_FALSE(t.device.write_config(0, std::as_bytes(std::span(&zero, 1))));
    CHECK(config_u64(t.device, 0) == 0x20'0000'0000);
    CHECK(PmemRig<DriverSplitQueue>(true).device.guest_window()->read_only);
}

TEMPLATE_TEST_CASE("virtio-pmem answers FLUSH only once the host flush has completed", "[pmem]", DriverSplitQueue,
    DriverPackedQueue)
{
    PmemRig<TestType> t;
    t.rig.start();
    const std::uint64_t resp = t.submit();
    REQUIRE(t.backend->records().size() == 1);
    CHECK(t.backend->records()[0].op == block::IoOp::flush);
    CHECK(t.backend->flushes() >= 1); // submitted in one go
    CHECK_FALSE(t.rig.queue(0).pop_used());
    CHECK(t.response(resp) == UNTOUCHED);
    CHECK(t.device.flushes_in_flight() == 1);
    t.backend->complete_all();
    const auto used = t.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 4);
    CHECK(t.response(resp) == VIRTIO_PMEM_RESP_OK);
    CHECK(t.device.flushes_in_flight() == 0);
    CHECK(t.rig.irq.queue_count(0) >= 1);
    CHECK(t.device.status()["flushes"] == 1);
    CHECK(t.rig.irq.needs_reset_count() == 0);
}

TEMPLATE_TEST_CASE("virtio-pmem flushes several requests at once, each answered", "[pmem]", DriverSplitQueue,
    DriverPackedQueue)
{
    PmemRig<TestType> t;
    t.rig.start();
    const std::uint64_t a = t.submit();
    const std::uint64_t b = t.submit();
    const std::uint64_t c = t.submit();
    CHECK(t.device.flushes_in_flight() == 3);
    t.backend->complete_all();
    for (int i = 0; i < 3; ++i) {
        CHECK(t.rig.queue(0).pop_used());
    }
    CHECK(t.response(a) == VIRTIO_PMEM_RESP_OK);
    CHECK(t.response(b) == VIRTIO_PMEM_RESP_OK);
    CHECK(t.response(c) == VIRTIO_PMEM_RESP_OK);
}

TEMPLATE_TEST_CASE("virtio-pmem reports a failed host flush, and keeps failing until a reset", "[pmem]",
    DriverSplitQueue, DriverPackedQueue)
{
    PmemRig<TestType> t;
    t.rig.start();
    t.backend->inject = [](const block::IoRequest&) { return -EIO; };
    const std::uint64_t first = t.submit();
    t.backend->complete_all();
    REQUIRE(t.rig.queue(0).pop_used());
    CHECK(t.response(first) == VIRTIO_PMEM_RESP_EIO);
    // The host would report the lost write-back only once: the next flush must not succeed.
    t.backend->inject = nullptr;
    const std::uint64_t second = t.submit();
    CHECK(t.backend->records().size() == 1); // answered without asking the host again
    REQUIRE(t.rig.queue(0).pop_used());
    CHECK(t.response(second) == VIRTIO_PMEM_RESP_EIO);
    CHECK(t.device.status()["failed_flushes"] == 2);
    CHECK(t.device.status()["flush_failed"] == true);
    t.device.reset();
    t.rig.start();
    const std::uint64_t third = t.submit();
    t.backend->complete_all();
    REQUIRE(t.rig.queue(0).pop_used());
    CHECK(t.response(third) == VIRTIO_PMEM_RESP_OK);
}

TEMPLATE_TEST_CASE("virtio-pmem answers malformed requests with failure, or asks for a reset when it cannot answer",
    "[pmem]", DriverSplitQueue, DriverPackedQueue)
{
    PmemRig<TestType> t;
    t.rig.start();
    SECTION("an unknown request type")
    {
        const std::uint64_t resp = t.submit(1);
        const auto used = t.rig.queue(0).pop_used();
        REQUIRE(used);
        CHECK(used->len == 4);
        CHECK(t.response(resp) == VIRTIO_PMEM_RESP_EIO);
        CHECK(t.backend->records().empty());
    }
    SECTION("a request shorter than its type field")
    {
        const std::uint64_t resp = t.submit(VIRTIO_PMEM_REQ_TYPE_FLUSH, 2);
        REQUIRE(t.rig.queue(0).pop_used());
        CHECK(t.response(resp) == VIRTIO_PMEM_RESP_EIO);
        CHECK(t.backend->records().empty());
    }
    SECTION("no response buffer")
    {
        t.submit(VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 0);
        const auto used = t.rig.queue(0).pop_used();
        REQUIRE(used);
        CHECK(used->len == 0);
        CHECK(t.rig.irq.needs_reset_count() == 1);
        CHECK(t.backend->records().empty());
    }
    SECTION("a response buffer too small for the answer")
    {
        const std::uint64_t resp = t.submit(VIRTIO_PMEM_REQ_TYPE_FLUSH, 4, 2);
        const auto used = t.rig.queue(0).pop_used();
        REQUIRE(used);
        CHECK(used->len == 0);
        CHECK(t.response(resp) == UNTOUCHED);
        CHECK(t.rig.irq.needs_reset_count() == 1);
    }
    CHECK(t.device.status()["bad_requests"] == 1);
}

TEMPLATE_TEST_CASE("virtio-pmem writes nothing for a flush that was in flight across a reset", "[pmem]",
    DriverSplitQueue, DriverPackedQueue)
{
    PmemRig<TestType> t;
    t.rig.start();
    const std::uint64_t resp = t.submit();
    SECTION("device reset")
    {
        t.device.reset(); // drains the backend: the flush completes inside
        CHECK(t.backend->drains() == 1);
    }
    SECTION("queue reset")
    {
        t.device.reset_queue(0);
        CHECK(t.backend->drains() == 1);
    }
    CHECK(t.device.flushes_in_flight() == 0);
    CHECK(t.response(resp) == UNTOUCHED);
    CHECK_FALSE(t.rig.queue(0).pop_used());
    t.device.on_queue_notify(0); // a stale notify after the reset: ignored
    CHECK(t.backend->records().size() == 1);
}

TEMPLATE_TEST_CASE("a read-only virtio-pmem answers FLUSH at once without asking the host", "[pmem]",
    DriverSplitQueue, DriverPackedQueue)
{
    PmemRig<TestType> t(true);
    t.rig.start();
    const std::uint64_t resp = t.submit();
    REQUIRE(t.rig.queue(0).pop_used());
    CHECK(t.response(resp) == VIRTIO_PMEM_RESP_OK);
    CHECK(t.backend->records().empty());
}

TEST_CASE("virtio-pmem refuses activation without its queue, and notifies for queues it lacks do nothing",
    "[pmem]")
{
    PmemRig<DriverSplitQueue> t;
    t.device.on_queue_notify(0); // before activation
    t.device.on_queue_notify(7);
    CHECK(t.backend->records().empty());
    t.rig.start();
    t.device.on_queue_notify(3);
    CHECK(t.backend->records().empty());
}
