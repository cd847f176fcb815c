// SPDX-License-Identifier: Apache-2.0
// virtio-scsi's controller through its Device interface, over split and packed rings: LUN
// addressing, requests handed to the units, REPORT LUNS, absent units, task management with
// commands in flight, hot-plug and capacity events, and hostile chains.
#include <cstring>
#include <map>
#include <memory>

#include <catch2/catch.hpp>

#include "tests/support/fake_block_backend.hpp"
#include "tests/unit/virtio/devices/device_rig.hpp"
#include "virtio/devices/scsi/scsi_controller.hpp"
#include "virtio/spec/virtio_scsi.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::scsi;
using namespace vmm::virtio::test;

namespace {

constexpr std::uint32_t HEADER = 19 + VIRTIO_SCSI_CDB_DEFAULT_SIZE;
constexpr std::uint32_t RESPONSE = 12 + VIRTIO_SCSI_SENSE_DEFAULT_SIZE;
constexpr std::uint32_t DISK_BYTES = 1 << 20;

struct Sent {
    std::uint64_t response = 0; // guest address of the response
    std::uint64_t data_in = 0;
};

template <class Driver>
struct ScsiRig {
    // With a loop: EVENT_IDX negotiated and the request queues' interrupts coalesced.
    explicit ScsiRig(EventLoop* loop = nullptr)
    {
        std::map<LunAddress, std::unique_ptr<ScsiDisk>> luns;
        for (const std::uint16_t lun : { std::uint16_t { 0 }, std::uint16_t { 2 } }) {
            auto backend = std::make_unique<FakeBlockBackend>(DISK_BYTES);
            backends[lun] = backend.get();
            ScsiDiskOptions o;
            o.power_on_attention = false;
            o.serial = "unit" + std::to_string(lun);
            luns.emplace(LunAddress { 0, lun }, std::move(ScsiDisk::create(std::move(backend), o).value()));
        }
        ControllerOptions o;
        o.num_queues = 2;
        device = std::make_unique<ScsiController>(std::move(luns), o);
        rig = std::make_unique<DeviceRig<Driver>>(*device);
        rig->start(feature_bit(VIRTIO_SCSI_F_HOTPLUG) | feature_bit(VIRTIO_SCSI_F_CHANGE)
                | (loop != nullptr ? feature_bit(VIRTIO_F_EVENT_IDX) : 0),
            {}, loop);
    }

    // A command to `lun_field` on request queue `q`, with `in_len` bytes of data-in.
    Sent command(std::array<std::uint8_t, 8> lun_field, std::vector<std::uint8_t> cdb, std::uint32_t in_len = 0,
        std::uint64_t id = 7, std::uint16_t q = VIRTIO_SCSI_FIRST_REQUESTQ, bool kick = true)
    {
        const std::uint64_t req = rig->buffer(HEADER);
        VirtioScsiReqHeader h {};
        h.lun = lun_field;
        h.set_id(id);
        rig->guest.write_obj(req, h);
        cdb.resize(VIRTIO_SCSI_CDB_DEFAULT_SIZE);
        rig->guest.write(req + 19, std::as_bytes(std::span(cdb)));
        Sent s;
        s.response = rig->buffer(RESPONSE);
        rig->guest.fill(s.response, std::byte { 0xee }, RESPONSE);
        if (in_len > 0) {
            s.data_in = rig->buffer(in_len);
            rig->queue(q).add({ readable(req, HEADER), writable(s.response, RESPONSE), writable(s.data_in, in_len) });
        } else {
            rig->queue(q).add({ readable(req, HEADER), writable(s.response, RESPONSE) });
        }
        if (kick) {
            rig->kick(q);
        }
        return s;
    }
    VirtioScsiRespHeader response(const Sent& s) { return rig->guest.template read_obj<VirtioScsiRespHeader>(s.response); }
    std::uint8_t byte_at(std::uint64_t gpa) { return rig->guest.template read_obj<std::uint8_t>(gpa); }

    // A task management function; returns the address of its one-byte response.
    std::uint64_t tmf(std::uint32_t subtype, std::array<std::uint8_t, 8> lun_field, std::uint64_t id = 7)
    {
        const std::uint64_t req = rig->buffer(sizeof(VirtioScsiCtrlTmfReq));
        VirtioScsiCtrlTmfReq r {};
        r.type = le32(VIRTIO_SCSI_T_TMF);
        r.subtype = le32(subtype);
        r.lun = lun_field;
        r.id = le64(id);
        rig->guest.write_obj(req, r);
        const std::uint64_t resp = rig->buffer(1);
        rig->guest.fill(resp, std::byte { 0xee }, 1);
        rig->queue(VIRTIO_SCSI_CONTROLQ).add({ readable(req, sizeof(r)), writable(resp, 1) });
        rig->kick(VIRTIO_SCSI_CONTROLQ);
        return resp;
    }
    std::uint64_t post_event_buffer()
    {
        const std::uint64_t at = rig->buffer(sizeof(VirtioScsiEvent));
        rig->queue(VIRTIO_SCSI_EVENTQ).add({ writable(at, sizeof(VirtioScsiEvent)) });
        rig->kick(VIRTIO_SCSI_EVENTQ);
        return at;
    }

    std::map<std::uint16_t, FakeBlockBackend*> backends;
    std::unique_ptr<ScsiController> device;
    std::unique_ptr<DeviceRig<Driver>> rig;
};

std::array<std::uint8_t, 8> lun_field(std::uint16_t target, std::uint16_t lun)
{
    return encode_lun_field(LunAddress { target, lun });
}
// Linux's encoding in requests: flat space addressing whatever the LUN.
std::array<std::uint8_t, 8> linux_lun(std::uint16_t target, std::uint16_t lun)
{
    return { 1, static_cast<std::uint8_t>(target), static_cast<std::uint8_t>(0x40 | lun >> 8),
        static_cast<std::uint8_t>(lun & 0xff), 0, 0, 0, 0 };
}

const std::vector<std::uint8_t> INQUIRY { SCSI_OP_INQUIRY, 0, 0, 0, 96, 0 };
const std::vector<std::uint8_t> TEST_UNIT_READY { SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0 };
const std::vector<std::uint8_t> READ_10_8 { SCSI_OP_READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0 };

} // namespace

TEST_CASE("virtio-scsi LUN fields: Linux's flat addressing, peripheral addressing, and the rest refused", "[scsi]")
{
    CHECK(decode_lun(linux_lun(3, 2)) == LunAddress { 3, 2 });
    CHECK(decode_lun(linux_lun(0, 300)) == LunAddress { 0, 300 });
    CHECK(decode_lun({ 1, 5, 0, 9, 0, 0, 0, 0 }) == LunAddress { 5, 9 });
    CHECK_FALSE(decode_lun({ 0, 5, 0, 9, 0, 0, 0, 0 }));        // byte 0 must be 1
    CHECK_FALSE(decode_lun({ 1, 5, 0x80, 9, 0, 0, 0, 0 }));     // logical unit addressing
    CHECK_FALSE(decode_lun({ 1, 5, 0x01, 9, 0, 0, 0, 0 }));     // peripheral, bus 1
    CHECK_FALSE(decode_lun({ 1, 5, 0x40, 9, 1, 0, 0, 0 }));     // a second level
    CHECK(encode_lun_field({ 2, 7 }) == std::array<std::uint8_t, 8> { 1, 2, 0, 7, 0, 0, 0, 0 });
    CHECK(encode_lun_field({ 2, 300 }) == std::array<std::uint8_t, 8> { 1, 2, 0x41, 0x2c, 0, 0, 0, 0 });
}

TEST_CASE("virtio-scsi's configuration, and the two fields its driver may write", "[scsi]")
{
    ScsiRig<DriverSplitQueue> t;
    auto u32 = [&](std::uint32_t off) {
        std::uint32_t v = 0;
        t.device->read_config(off, std::as_writable_bytes(std::span(&v, 1)));
        return v;
    };
    CHECK(t.device->type() == DeviceType::scsi);
    CHECK(t.device->queue_max_sizes().size() == 4);
    CHECK(u32(offsetof(VirtioScsiConfig, num_queues)) == 2);
    CHECK(u32(offsetof(VirtioScsiConfig, cdb_size)) == 32);
    CHECK(u32(offsetof(VirtioScsiConfig, sense_size)) == 96);
    CHECK(u32(offsetof(VirtioScsiConfig, event_info_size)) == 16);
    CHECK(has_feature(t.device->features(), VIRTIO_SCSI_F_HOTPLUG));
    CHECK(has_feature(t.device->features(), VIRTIO_SCSI_F_CHANGE));
    CHECK_FALSE(has_feature(t.device->features(), VIRTIO_SCSI_F_INOUT));
    const std::uint32_t small = 64;
    CHECK(t.device->write_config(offsetof(VirtioScsiConfig, sense_size), std::as_bytes(std::span(&small, 1))));
    CHECK(u32(offsetof(VirtioScsiConfig, sense_size)) == 64);
    const std::uint32_t huge = 4096;
    CHECK_FALSE(t.device->write_config(offsetof(VirtioScsiConfig, sense_size), std::as_bytes(std::span(&huge, 1))));
    CHECK_FALSE(t.device->write_config(offsetof(VirtioScsiConfig, cdb_size), std::as_bytes(std::span(&huge, 1))));
    CHECK_FALSE(t.device->write_config(offsetof(VirtioScsiConfig, num_queues), std::as_bytes(std::span(&small, 1))));
    CHECK(u32(offsetof(VirtioScsiConfig, num_queues)) == 2);
    t.device->reset();
    CHECK(u32(offsetof(VirtioScsiConfig, sense_size)) == 96);
}

TEMPLATE_TEST_CASE("virtio-scsi hands a command to its unit and writes the response after the data", "[scsi]",
    DriverSplitQueue, DriverPackedQueue)
{
    ScsiRig<TestType> t;
    const Sent s = t.command(linux_lun(0, 0), INQUIRY, 96);
    const auto used = t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ).pop_used();
    REQUIRE(used);
    const auto r = t.response(s);
    CHECK(r.response == VIRTIO_SCSI_S_OK);
    CHECK(r.status == SCSI_STATUS_GOOD);
    CHECK(r.sense_len.get() == 0);
    const std::uint32_t data = 96 - r.residual.get();
    CHECK(data >= 36);
    CHECK(used->len == RESPONSE + data);
    CHECK(t.rig->read_text(s.data_in + 8, 5) == "VIREO");
}

TEMPLATE_TEST_CASE("virtio-scsi reads from the unit only once the host has completed the read", "[scsi]",
    DriverSplitQueue, DriverPackedQueue)
{
    ScsiRig<TestType> t;
    std::memcpy(t.backends[2]->image().data(), "second unit", 11);
    const Sent s = t.command(linux_lun(0, 2), READ_10_8, 4096, 9, VIRTIO_SCSI_FIRST_REQUESTQ + 1);
    CHECK_FALSE(t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ + 1).pop_used());
    CHECK(t.device->requests_in_flight() == 1);
    t.backends[2]->complete_all();
    const auto used = t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ + 1).pop_used();
    REQUIRE(used);
    CHECK(used->len == RESPONSE + 4096);
    CHECK(t.response(s).response == VIRTIO_SCSI_S_OK);
    CHECK(t.response(s).residual.get() == 0);
    CHECK(t.rig->read_text(s.data_in, 11) == "second unit");
    CHECK(t.device->requests_in_flight() == 0);
}

TEMPLATE_TEST_CASE("virtio-scsi answers for targets and units that are not there", "[scsi]", DriverSplitQueue,
    DriverPackedQueue)
{
    ScsiRig<TestType> t;
    auto& q = t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ);
    SECTION("a target without units: BAD_TARGET")
    {
        const Sent s = t.command(linux_lun(3, 0), INQUIRY, 96);
        REQUIRE(q.pop_used());
        CHECK(t.response(s).response == VIRTIO_SCSI_S_BAD_TARGET);
    }
    SECTION("a malformed LUN field: BAD_TARGET")
    {
        const Sent s = t.command({ 2, 0, 0, 0, 0, 0, 0, 0 }, INQUIRY, 96);
        REQUIRE(q.pop_used());
        CHECK(t.response(s).response == VIRTIO_SCSI_S_BAD_TARGET);
    }
    SECTION("a unit the target lacks: INQUIRY says not present, other commands LOGICAL UNIT NOT SUPPORTED")
    {
        const Sent inq = t.command(linux_lun(0, 1), INQUIRY, 96);
        REQUIRE(q.pop_used());
        CHECK(t.response(inq).response == VIRTIO_SCSI_S_OK);
        CHECK(t.byte_at(inq.data_in) == 0x7f);
        const Sent tur = t.command(linux_lun(0, 1), TEST_UNIT_READY);
        REQUIRE(q.pop_used());
        const auto r = t.response(tur);
        CHECK(r.status == SCSI_STATUS_CHECK_CONDITION);
        REQUIRE(r.sense_len.get() >= 14);
        CHECK((t.byte_at(tur.response + 12 + 2) & 0x0f) == SCSI_SENSE_ILLEGAL_REQUEST);
        CHECK(t.byte_at(tur.response + 12 + 12) == 0x25);
    }
    SECTION("REPORT LUNS lists the target's units")
    {
        const Sent s = t.command(linux_lun(0, 0), { SCSI_OP_REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0 }, 64);
        REQUIRE(q.pop_used());
        CHECK(t.response(s).response == VIRTIO_SCSI_S_OK);
        CHECK(t.byte_at(s.data_in + 3) == 16); // two 8-byte entries
        CHECK(t.byte_at(s.data_in + 8 + 1) == 0);
        CHECK(t.byte_at(s.data_in + 16 + 1) == 2);
    }
}

TEMPLATE_TEST_CASE("virtio-scsi answers ABORT TASK once the aborted command has completed", "[scsi]",
    DriverSplitQueue, DriverPackedQueue)
{
    ScsiRig<TestType> t;
    const Sent s = t.command(linux_lun(0, 0), READ_10_8, 4096, 42);
    const std::uint64_t tmf = t.tmf(VIRTIO_SCSI_T_TMF_ABORT_TASK, linux_lun(0, 0), 42);
    // The host still has the read's buffers: neither is answered yet.
    CHECK_FALSE(t.rig->queue(VIRTIO_SCSI_CONTROLQ).pop_used());
    CHECK(t.byte_at(tmf) == 0xee);
    t.backends[0]->complete_all();
    REQUIRE(t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ).pop_used());
    CHECK(t.response(s).response == VIRTIO_SCSI_S_ABORTED);
    REQUIRE(t.rig->queue(VIRTIO_SCSI_CONTROLQ).pop_used());
    CHECK(t.byte_at(tmf) == VIRTIO_SCSI_S_FUNCTION_COMPLETE);
    // A tag that is not in flight: complete at once.
    const std::uint64_t none = t.tmf(VIRTIO_SCSI_T_TMF_ABORT_TASK, linux_lun(0, 0), 43);
    REQUIRE(t.rig->queue(VIRTIO_SCSI_CONTROLQ).pop_used());
    CHECK(t.byte_at(none) == VIRTIO_SCSI_S_FUNCTION_COMPLETE);
}

TEMPLATE_TEST_CASE("virtio-scsi's LOGICAL UNIT RESET ends the unit's commands before it is answered", "[scsi]",
    DriverSplitQueue, DriverPackedQueue)
{
    ScsiRig<TestType> t;
    const Sent s = t.command(linux_lun(0, 0), READ_10_8, 4096, 5);
    const std::uint64_t query = t.tmf(VIRTIO_SCSI_T_TMF_QUERY_TASK, linux_lun(0, 0), 5);
    REQUIRE(t.rig->queue(VIRTIO_SCSI_CONTROLQ).pop_used());
    CHECK(t.byte_at(query) == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED);
    const std::uint64_t reset = t.tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, linux_lun(0, 0));
    REQUIRE(t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ).pop_used());
    CHECK(t.response(s).response == VIRTIO_SCSI_S_RESET);
    REQUIRE(t.rig->queue(VIRTIO_SCSI_CONTROLQ).pop_used());
    CHECK(t.byte_at(reset) == VIRTIO_SCSI_S_FUNCTION_COMPLETE);
    CHECK(t.device->requests_in_flight() == 0);
    const std::uint64_t after = t.tmf(VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, linux_lun(0, 0));
    REQUIRE(t.rig->queue(VIRTIO_SCSI_CONTROLQ).pop_used());
    CHECK(t.byte_at(after) == VIRTIO_SCSI_S_FUNCTION_COMPLETE);
    // Task management for absent targets and units, and functions not supported.
    CHECK(t.byte_at(t.tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, linux_lun(4, 0))) == VIRTIO_SCSI_S_BAD_TARGET);
    CHECK(t.byte_at(t.tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, linux_lun(0, 1))) == VIRTIO_SCSI_S_INCORRECT_LUN);
    CHECK(t.byte_at(t.tmf(VIRTIO_SCSI_T_TMF_CLEAR_ACA, linux_lun(0, 0))) == VIRTIO_SCSI_S_FUNCTION_REJECTED);
    CHECK(t.byte_at(t.tmf(99, linux_lun(0, 0))) == VIRTIO_SCSI_S_FUNCTION_REJECTED);
}

TEMPLATE_TEST_CASE("virtio-scsi reports units added, removed and resized through its event queue", "[scsi]",
    DriverSplitQueue, DriverPackedQueue)
{
    ScsiRig<TestType> t;
    auto event_at = [&](std::uint64_t gpa) { return t.rig->guest.template read_obj<VirtioScsiEvent>(gpa); };
    SECTION("with buffers posted")
    {
        const std::uint64_t e1 = t.post_event_buffer();
        const std::uint64_t e2 = t.post_event_buffer();
        const std::uint64_t e3 = t.post_event_buffer();
        REQUIRE(t.device->add_lun({ 1, 0 }, std::move(ScsiDisk::create(std::make_unique<FakeBlockBackend>(DISK_BYTES), {}).value())));
        REQUIRE(t.rig->queue(VIRTIO_SCSI_EVENTQ).pop_used());
        CHECK(event_at(e1).event.get() == VIRTIO_SCSI_T_TRANSPORT_RESET);
        CHECK(event_at(e1).reason.get() == VIRTIO_SCSI_EVT_RESET_RESCAN);
        CHECK(event_at(e1).lun == lun_field(1, 0));
        const Sent s = t.command(linux_lun(1, 0), INQUIRY, 96);
        REQUIRE(t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ).pop_used());
        CHECK(t.response(s).response == VIRTIO_SCSI_S_OK);

        REQUIRE(t.device->resize_lun({ 0, 2 }, 2 * DISK_BYTES));
        REQUIRE(t.rig->queue(VIRTIO_SCSI_EVENTQ).pop_used());
        CHECK(event_at(e2).event.get() == VIRTIO_SCSI_T_PARAM_CHANGE);
        CHECK(event_at(e2).reason.get() == (0x2a | 0x09 << 8));

        REQUIRE(t.device->remove_lun({ 1, 0 }));
        REQUIRE(t.rig->queue(VIRTIO_SCSI_EVENTQ).pop_used());
        CHECK(event_at(e3).reason.get() == VIRTIO_SCSI_EVT_RESET_REMOVED);
        const Sent gone = t.command(linux_lun(1, 0), INQUIRY, 96);
        REQUIRE(t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ).pop_used());
        CHECK(t.response(gone).response == VIRTIO_SCSI_S_BAD_TARGET);
    }
    SECTION("without a buffer, EVENTS_MISSED with the next one")
    {
        REQUIRE(t.device->remove_lun({ 0, 2 }));
        CHECK_FALSE(t.rig->queue(VIRTIO_SCSI_EVENTQ).pop_used());
        const std::uint64_t e = t.post_event_buffer();
        REQUIRE(t.rig->queue(VIRTIO_SCSI_EVENTQ).pop_used());
        CHECK(event_at(e).event.get() == (VIRTIO_SCSI_T_NO_EVENT | VIRTIO_SCSI_T_EVENTS_MISSED));
    }
    SECTION("without HOTPLUG negotiated, no event")
    {
        t.device->reset();
        t.rig->start();
        (void)t.post_event_buffer();
        REQUIRE(t.device->remove_lun({ 0, 2 }));
        CHECK_FALSE(t.rig->queue(VIRTIO_SCSI_EVENTQ).pop_used());
    }
    SECTION("mistakes the host makes")
    {
        CHECK_FALSE(t.device->remove_lun({ 5, 5 }));
        CHECK_FALSE(t.device->add_lun({ 0, 0 }, std::move(ScsiDisk::create(std::make_unique<FakeBlockBackend>(DISK_BYTES), {}).value())));
        CHECK_FALSE(t.device->add_lun({ 200, 0 }, std::move(ScsiDisk::create(std::make_unique<FakeBlockBackend>(DISK_BYTES), {}).value())));
        CHECK_FALSE(t.device->resize_lun({ 0, 0 }, 1000));
    }
}

TEMPLATE_TEST_CASE("virtio-scsi's hostile chains: no room to answer, a short header, a reset mid-command", "[scsi]",
    DriverSplitQueue, DriverPackedQueue)
{
    ScsiRig<TestType> t;
    auto& q = t.rig->queue(VIRTIO_SCSI_FIRST_REQUESTQ);
    SECTION("a response buffer too small")
    {
        const std::uint64_t req = t.rig->buffer(HEADER);
        const std::uint64_t resp = t.rig->buffer(16);
        q.add({ readable(req, HEADER), writable(resp, 16) });
        t.rig->kick(VIRTIO_SCSI_FIRST_REQUESTQ);
        const auto used = q.pop_used();
        REQUIRE(used);
        CHECK(used->len == 0);
        CHECK(t.rig->irq.needs_reset_count() == 1);
    }
    SECTION("a header shorter than the CDB size")
    {
        const std::uint64_t req = t.rig->buffer(HEADER);
        const std::uint64_t resp = t.rig->buffer(RESPONSE);
        q.add({ readable(req, 24), writable(resp, RESPONSE) });
        t.rig->kick(VIRTIO_SCSI_FIRST_REQUESTQ);
        REQUIRE(q.pop_used());
        CHECK(t.rig->guest.template read_obj<VirtioScsiRespHeader>(resp).response == VIRTIO_SCSI_S_FAILURE);
        CHECK(t.device->status()["bad_requests"] == 1);
    }
    SECTION("a device reset while a read is in flight writes nothing")
    {
        const Sent s = t.command(linux_lun(0, 0), READ_10_8, 4096);
        t.device->reset();
        CHECK(t.device->requests_in_flight() == 0);
        CHECK(t.byte_at(s.response) == 0xee);
        CHECK_FALSE(q.pop_used());
    }
    SECTION("a control request with no room for its answer")
    {
        const std::uint64_t req = t.rig->buffer(4);
        t.rig->queue(VIRTIO_SCSI_CONTROLQ).add({ readable(req, 2) });
        t.rig->kick(VIRTIO_SCSI_CONTROLQ);
        const auto used = t.rig->queue(VIRTIO_SCSI_CONTROLQ).pop_used();
        REQUIRE(used);
        CHECK(used->len == 0);
    }
}

TEST_CASE("virtio-scsi: with a loop, a request queue's interrupt waits while the driver is below its depth",
    "[scsi][coalesce]")
{
    using namespace std::chrono_literals;
    EventLoop loop;
    ScsiRig<DriverSplitQueue> t(&loop);
    constexpr std::uint16_t Q = VIRTIO_SCSI_FIRST_REQUESTQ;
    auto& driver = t.rig->queue(Q);
    driver.set_used_event(0);
    std::uint16_t consumed = 0;
    // The driver's interrupt handler: takes every used entry and asks for the next one.
    const auto consume = [&] {
        std::uint16_t n = 0;
        while (driver.pop_used()) {
            ++n;
        }
        consumed = static_cast<std::uint16_t>(consumed + n);
        driver.set_used_event(consumed);
        return n;
    };
    // n reads in one notification, all completed by the host.
    const auto submit = [&](int n) {
        for (int i = 0; i < n; ++i) {
            (void)t.command(linux_lun(0, 0), READ_10_8, 4096, 100 + static_cast<std::uint64_t>(i), Q, i + 1 == n);
        }
        t.backends[0]->complete_all();
    };
    submit(4); // the deepest the driver has been: at once
    REQUIRE(t.rig->irq.queue_count(Q) == 1);
    REQUIRE(consume() == 4);
    submit(2); // below that depth: published, the interrupt held
    CHECK(driver.used_idx() == 6);
    CHECK(t.rig->irq.queue_count(Q) == 1);
    loop.io().restart();
    loop.io().run_for(1s); // the hold's timer
    CHECK(t.rig->irq.queue_count(Q) == 2);
    CHECK(consume() == 2);
    CHECK(t.device->status()["interrupts_held"].get<std::uint64_t>() >= 1);
    // Control queue answers are never held.
    const std::uint64_t resp = t.tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, linux_lun(0, 0));
    CHECK(t.byte_at(resp) == VIRTIO_SCSI_S_FUNCTION_COMPLETE);
    CHECK(t.rig->irq.queue_count(VIRTIO_SCSI_CONTROLQ) == 1);
}
