// SPDX-License-Identifier: Apache-2.0
// ABORT TASK and resets with commands in flight: what completes when, with what status, and
// that no buffer is touched once the command's completion (or the reset) is over, on the
// in-memory backend and on io_uring.
#include <set>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/scsi/scsi_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::scsi;
using namespace vmm::virtio::scsi::test;

namespace {

constexpr std::size_t BS = 512;

// Commands the test starts itself, each with its own buffers.
struct Pending {
    std::uint64_t tag = 0;
    Bytes in;
    Bytes out;
    IovecList in_iov;
    IovecList out_iov;
};

Pending& start(ScsiRig& rig, std::vector<std::unique_ptr<Pending>>& all, const Cdb& cdb, std::size_t in_len,
    Bytes out = {})
{
    auto p = std::make_unique<Pending>();
    p->tag = rig.next_tag++;
    p->in.assign(in_len, 0xee);
    p->out = std::move(out);
    p->in_iov = iov_of(p->in, 2);
    p->out_iov = iov_of(p->out, 2);
    rig.disk->execute(p->tag, cdb.span(), p->out_iov, p->in_iov);
    all.push_back(std::move(p));
    return *all.back();
}

} // namespace

TEST_CASE("ABORT TASK: an aborted read completes as TASK ABORTED when the host is done with it", "[scsi][abort]")
{
    ScsiRig rig;
    std::vector<std::unique_ptr<Pending>> cmds;
    Pending& a = start(rig, cmds, rw10(SCSI_OP_READ_10, 0, 4), 4 * BS);
    Pending& b = start(rig, cmds, rw10(SCSI_OP_READ_10, 8, 4), 4 * BS);
    rig.disk->flush_submissions();

    CHECK(rig.disk->abort(a.tag));
    CHECK(rig.disk->abort(a.tag)); // still in flight: still true
    CHECK(rig.sink.done.empty());  // not before the host has finished
    rig.settle();

    const ScsiResult ra = rig.sink.of(a.tag);
    CHECK(ra.status == SCSI_STATUS_TASK_ABORTED);
    CHECK(ra.sense_len == 0);
    CHECK(ra.data_in_len == 0);
    CHECK(rig.sink.of(b.tag).status == SCSI_STATUS_GOOD);
    CHECK(rig.sink.batches >= 1);
    CHECK_FALSE(rig.disk->abort(a.tag)); // completed: nothing to abort
    CHECK_FALSE(rig.disk->abort(12345));
    CHECK(rig.disk->counters().aborted == 1);

    // Once the aborted completion is delivered nothing writes into its buffer any more.
    std::fill(a.in.begin(), a.in.end(), std::uint8_t { 0x5a });
    rig.disk->flush_submissions();
    rig.settle();
    CHECK(a.in == Bytes(4 * BS, 0x5a));
    CHECK(rig.sink.done.size() == 2);
}

TEST_CASE("ABORT TASK stops a command between its steps: no commit after an aborted write same", "[scsi][abort]")
{
    ScsiDiskOptions o = quiet_options();
    o.write_cache = false; // WRITE SAME of zeroes, then a commit
    ScsiRig rig(o);
    std::vector<std::unique_ptr<Pending>> cmds;
    Pending& ws = start(rig, cmds, rw16(SCSI_OP_WRITE_SAME_16, 0, 64), 0, Bytes(BS));
    rig.disk->flush_submissions();

    REQUIRE(rig.disk->abort(ws.tag));
    rig.settle();

    CHECK(rig.sink.of(ws.tag).status == SCSI_STATUS_TASK_ABORTED);
    REQUIRE(rig.fake->records().size() == 1);
    CHECK(rig.fake->records()[0].op == block::IoOp::write_zeroes);
    CHECK(rig.disk->commands_in_flight() == 0);
}

TEST_CASE("an aborted VERIFY does not compare; its bounce memory is released", "[scsi][abort]")
{
    ScsiRig rig;
    std::vector<std::unique_ptr<Pending>> cmds;
    Pending& v = start(rig, cmds, rw10(SCSI_OP_VERIFY_10, 0, 8, 0x02), 0, Bytes(8 * BS, 0x77)); // would miscompare
    REQUIRE(rig.disk->abort(v.tag));
    rig.disk->flush_submissions();
    rig.settle();

    CHECK(rig.sink.of(v.tag).status == SCSI_STATUS_TASK_ABORTED);
    CHECK(rig.disk->counters().check_conditions == 0);
}

TEST_CASE("a logical unit reset completes everything in flight as TASK ABORTED before it returns", "[scsi][reset]")
{
    ScsiRig rig;
    std::vector<std::unique_ptr<Pending>> cmds;
    for (std::uint64_t i = 0; i < 3; ++i) {
        (void)start(rig, cmds, rw10(SCSI_OP_READ_10, i * 8, 8), 8 * BS);
    }
    (void)start(rig, cmds, rw10(SCSI_OP_WRITE_10, 100, 1), 0, Bytes(BS, 1));
    (void)start(rig, cmds, Cdb(SCSI_OP_SYNCHRONIZE_CACHE_10, 10), 0);
    rig.disk->flush_submissions();
    REQUIRE(rig.sink.done.empty());
    const int batches = rig.sink.batches;

    rig.disk->reset();

    CHECK(rig.fake->drains() == 1);
    CHECK(rig.fake->in_flight() == 0);
    CHECK(rig.disk->commands_in_flight() == 0);
    REQUIRE(rig.sink.done.size() == 5);
    for (const auto& c : rig.sink.done) {
        CHECK(c.result.status == SCSI_STATUS_TASK_ABORTED);
        CHECK(c.result.data_in_len == 0);
    }
    CHECK(rig.sink.batches > batches);

    // After reset() nothing touches the buffers, and nothing more completes.
    for (auto& c : cmds) {
        std::fill(c->in.begin(), c->in.end(), std::uint8_t { 0x33 });
    }
    rig.disk->flush_submissions();
    rig.settle();
    for (const auto& c : cmds) {
        CHECK(std::all_of(c->in.begin(), c->in.end(), [](std::uint8_t b) { return b == 0x33; }));
    }
    CHECK(rig.sink.done.size() == 5);
    CHECK(rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)).code() == SENSE_RESET_OCCURRED);
    CHECK(rig.run(rw10(SCSI_OP_READ_10, 0, 1), BS).status() == SCSI_STATUS_GOOD);
}

TEST_CASE("power-on reset: POWER ON OCCURRED, and a new command may reuse an aborted tag", "[scsi][reset]")
{
    ScsiRig rig(ScsiDiskOptions {});
    (void)rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)); // the first power-on attention
    std::vector<std::unique_ptr<Pending>> cmds;
    Pending& p = start(rig, cmds, rw10(SCSI_OP_READ_10, 0, 1), BS);

    rig.disk->reset(ResetKind::power_on);

    CHECK(rig.sink.of(p.tag).status == SCSI_STATUS_TASK_ABORTED);
    Bytes in(BS);
    const IovecList iov = iov_of(in);
    rig.disk->execute(p.tag, Cdb(SCSI_OP_TEST_UNIT_READY, 6).span(), {}, iov);
    CHECK(decode_sense(rig.sink.done.back().result.sense_data()).code == SENSE_POWER_ON_OCCURRED);
}

TEST_CASE("a command sent from a completion during reset() gets BUSY", "[scsi][reset]")
{
    ScsiRig rig;
    std::vector<std::unique_ptr<Pending>> cmds;
    (void)start(rig, cmds, rw10(SCSI_OP_READ_10, 0, 1), BS);
    rig.disk->flush_submissions();
    Bytes in(BS);
    const IovecList iov = iov_of(in);
    rig.sink.on_complete = [&](std::uint64_t tag) {
        if (tag == 1) {
            rig.disk->execute(99, rw10(SCSI_OP_READ_10, 0, 1).span(), {}, iov);
        }
    };

    rig.disk->reset();

    CHECK(rig.sink.of(1).status == SCSI_STATUS_TASK_ABORTED);
    CHECK(rig.sink.of(99).status == SCSI_STATUS_BUSY);
    CHECK(rig.fake->records().size() == 1);
    rig.sink.on_complete = nullptr;
}

TEST_CASE("destroying the disk with commands in flight waits for the host and reports nothing", "[scsi][reset]")
{
    auto rig = std::make_unique<ScsiRig>();
    std::vector<std::unique_ptr<Pending>> cmds;
    (void)start(*rig, cmds, rw10(SCSI_OP_READ_10, 0, 8), 8 * BS);
    rig->disk->flush_submissions();
    REQUIRE(rig->fake->in_flight() == 1);

    rig->disk.reset(); // the backend (and its drain) goes with it

    CHECK(rig->sink.done.empty());
    CHECK(cmds[0]->in != Bytes(8 * BS, 0xee)); // the host finished the read before the disk went
}

TEST_CASE("io_uring: reset with reads and a flush in flight; nothing is written after it returns", "[scsi][reset][io]")
{
    TempImage image(1 << 20);
    UringScsi u(image);
    auto& rig = *u.rig;
    std::vector<std::unique_ptr<Pending>> cmds;
    for (std::uint64_t i = 0; i < 12; ++i) {
        (void)start(rig, cmds, rw10(SCSI_OP_READ_10, i * 16, 16), 16 * BS);
    }
    (void)start(rig, cmds, Cdb(SCSI_OP_SYNCHRONIZE_CACHE_10, 10), 0);
    rig.disk->flush_submissions();
    // Page-cache reads may complete inside the submission; the flush (an fsync) does not.
    std::set<std::uint64_t> before;
    for (const auto& c : rig.sink.done) {
        before.insert(c.tag);
        CHECK(c.result.status == SCSI_STATUS_GOOD);
    }
    REQUIRE(rig.disk->commands_in_flight() > 0);
    const std::uint64_t aborted_one = cmds[11]->tag;
    const bool abort_took = rig.disk->abort(aborted_one);

    rig.disk->reset();

    CHECK(u.uring->in_flight() == 0);
    CHECK(rig.disk->commands_in_flight() == 0);
    REQUIRE(rig.sink.done.size() == cmds.size());
    for (const auto& c : rig.sink.done) {
        if (before.count(c.tag) == 0) {
            CHECK(c.result.status == SCSI_STATUS_TASK_ABORTED);
        }
    }
    CHECK(abort_took == (before.count(aborted_one) == 0));
    for (auto& c : cmds) {
        std::fill(c->in.begin(), c->in.end(), std::uint8_t { 0x42 });
    }
    for (int i = 0; i < 3; ++i) {
        u.uring->poll(false);
        rig.disk->flush_submissions();
    }
    for (const auto& c : cmds) {
        CHECK(std::all_of(c->in.begin(), c->in.end(), [](std::uint8_t b) { return b == 0x42; }));
    }
    CHECK(rig.sink.done.size() == cmds.size());
    CHECK(rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)).code() == SENSE_RESET_OCCURRED);
    const Outcome r = rig.run(rw10(SCSI_OP_READ_10, 3, 2), 2 * BS);
    CHECK(r.data() == image.read(3 * BS, 2 * BS));
}

TEST_CASE("io_uring: an aborted write may still reach the medium; its status is TASK ABORTED", "[scsi][abort][io]")
{
    TempImage image(1 << 20);
    UringScsi u(image);
    auto& rig = *u.rig;
    std::vector<std::unique_ptr<Pending>> cmds;
    const Bytes data = byte_pattern(4 * BS, 99);
    Pending& w = start(rig, cmds, rw10(SCSI_OP_WRITE_10, 40, 4), 0, data);

    const bool in_flight = rig.disk->abort(w.tag); // before the batch reaches the host
    rig.disk->flush_submissions();
    rig.settle();

    CHECK(in_flight);
    CHECK(rig.sink.of(w.tag).status == SCSI_STATUS_TASK_ABORTED);
    // SAM-5: the initiator cannot know whether an aborted write happened; here it did.
    CHECK(image.read(40 * BS, 4 * BS) == data);
}
