// SPDX-License-Identifier: Apache-2.0
// SCSI disk error paths: unknown and malformed CDBs, ranges, limits, short buffers, read-only
// disks, host I/O errors (FaultBackend), unit attentions and REQUEST SENSE, overlapped tags
// and the resource bounds.
#include <cerrno>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/scsi/scsi_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::scsi;
using namespace vmm::virtio::scsi::test;

namespace {

constexpr std::size_t IMAGE = 1 << 20; // 2048 blocks
constexpr std::size_t BS = 512;

Cdb request_sense(bool desc, std::uint8_t allocation = 252)
{
    return std::move(Cdb(SCSI_OP_REQUEST_SENSE, 6).set(1, desc ? 1 : 0).set(4, allocation));
}

block::BlockFault fault(block::BlockFault::Op op, int error, std::uint64_t first = 0, std::uint64_t last = UINT64_MAX)
{
    block::BlockFault f;
    f.op = op;
    f.error = error;
    f.first_sector = first;
    f.last_sector = last;
    return f;
}

} // namespace

// ---- The CDB itself ----

TEST_CASE("an unknown operation code, or none, is INVALID COMMAND OPERATION CODE", "[scsi][errors]")
{
    ScsiRig rig;

    for (const std::uint8_t op : { std::uint8_t { 0x04 }, std::uint8_t { 0x7f }, std::uint8_t { 0xc0 },
             std::uint8_t { 0xff }, std::uint8_t { 0x3c } }) {
        INFO("opcode " << int { op });
        const Outcome o = rig.run(Cdb(op, 16), 64);
        CHECK(o.status() == SCSI_STATUS_CHECK_CONDITION);
        CHECK(o.code() == SENSE_INVALID_COMMAND_OPERATION_CODE);
        CHECK(o.result.sense_len == 18);
        CHECK(o.result.data_in_len == 0);
    }
    CHECK(rig.run(std::span<const std::uint8_t> {}).code() == SENSE_INVALID_COMMAND_OPERATION_CODE);
    CHECK(rig.disk->counters().check_conditions == 6);
}

TEST_CASE("a CDB shorter than its operation code needs is refused; a longer one is fine", "[scsi][errors]")
{
    ScsiRig rig;

    const Outcome shortcdb = rig.run(Cdb(SCSI_OP_READ_10, 6).set(4, 1), BS);
    Cdb padded(SCSI_OP_READ_10, 32); // virtio-scsi's default cdb_size
    padded.be(2, 4, 5).be(7, 2, 1).set(20, 0xff);
    const Outcome longcdb = rig.run(padded, BS);

    CHECK(shortcdb.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK_FALSE(shortcdb.sense().field);
    CHECK(longcdb.status() == SCSI_STATUS_GOOD);
    CHECK(longcdb.result.data_in_len == BS);
}

TEST_CASE("NACA in the control byte is refused, pointing at it", "[scsi][errors]")
{
    ScsiRig rig;

    const Outcome o10 = rig.run(Cdb(SCSI_OP_READ_10, 10).set(9, 0x04), BS);
    const Outcome o6 = rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6).set(5, 0x04));
    const Outcome vendor = rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6).set(5, 0xc0)); // vendor bits: fine

    CHECK(o10.sense().field->byte == 9);
    CHECK(o10.sense().field->bit == 2);
    CHECK(o6.sense().field->byte == 5);
    CHECK(vendor.status() == SCSI_STATUS_GOOD);
}

TEST_CASE("LBA and length beyond the capacity are LOGICAL BLOCK ADDRESS OUT OF RANGE, without overflow",
    "[scsi][errors]")
{
    ScsiRig rig;

    CHECK(rig.run(rw10(SCSI_OP_READ_10, 2047, 2), 2 * BS).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(rig.run(rw10(SCSI_OP_READ_10, 2047, 1), BS).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(rw16(SCSI_OP_READ_16, 0xffff'ffff'ffff'ffffULL, 2), 2 * BS).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_16, 0xffff'ffff'ffff'ff00ULL, 0x100), 0, Bytes(0x100 * BS)).code()
        == SENSE_LBA_OUT_OF_RANGE);
    CHECK(rig.run(rw16(SCSI_OP_READ_16, 2049, 0)).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(rig.run(rw6(SCSI_OP_READ_6, 2000, 0), 256 * BS).code() == SENSE_LBA_OUT_OF_RANGE); // 0 is 256
    CHECK(rig.run(rw12(SCSI_OP_WRITE_12, 0, 0xffff'ffff)).code() == SENSE_INVALID_FIELD_IN_CDB); // over the limit
    CHECK(rig.fake->records().size() == 1);
}

TEST_CASE("a transfer above MAXIMUM TRANSFER LENGTH is refused at the length field", "[scsi][errors]")
{
    ScsiDiskOptions o = quiet_options();
    o.max_transfer_blocks = 16;
    ScsiRig rig(o);

    const Outcome r = rig.run(rw10(SCSI_OP_READ_10, 0, 17), 17 * BS);
    const Outcome w = rig.run(rw16(SCSI_OP_WRITE_16, 0, 17), 0, Bytes(17 * BS));

    CHECK(r.sense().field->byte == 7);
    CHECK(w.sense().field->byte == 10);
    CHECK(rig.run(rw10(SCSI_OP_READ_10, 0, 16), 16 * BS).status() == SCSI_STATUS_GOOD);
}

TEST_CASE("data buffers shorter than the transfer are refused and left alone", "[scsi][errors]")
{
    ScsiRig rig;

    const Outcome r = rig.run(rw10(SCSI_OP_READ_10, 0, 4), 3 * BS + 511, {}, 3);
    const Outcome w = rig.run(rw10(SCSI_OP_WRITE_10, 0, 4), 0, Bytes(4 * BS - 1), 2);

    CHECK(r.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(r.sense().field->byte == 7);
    CHECK(std::all_of(r.in.begin(), r.in.end(), [](std::uint8_t b) { return b == 0xee; }));
    CHECK(w.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(rig.fake->records().empty());
}

TEST_CASE("RDPROTECT and WRPROTECT are refused: there is no protection information", "[scsi][errors]")
{
    ScsiRig rig;

    const Outcome r = rig.run(rw10(SCSI_OP_READ_10, 0, 1, 0x20), BS);
    const Outcome w = rig.run(rw16(SCSI_OP_WRITE_16, 0, 1, 0x80), 0, Bytes(BS));

    CHECK(r.sense().field->byte == 1);
    CHECK(r.sense().field->bit == 7);
    CHECK(w.code() == SENSE_INVALID_FIELD_IN_CDB);
}

// ---- Read-only ----

TEST_CASE("a read-only disk refuses every write with DATA PROTECT, WRITE PROTECTED, and still reads", "[scsi][errors]")
{
    ScsiDiskOptions o = quiet_options();
    o.read_only = true;
    o.thin = true;
    ScsiRig rig(o);
    const Bytes block(BS, 3);
    Bytes unmap(24);
    store_be(unmap, 2, 2, 16);
    store_be(unmap, 16, 4, 1);

    for (const Cdb& cdb : { rw6(SCSI_OP_WRITE_6, 0, 1), rw10(SCSI_OP_WRITE_10, 0, 1), rw12(SCSI_OP_WRITE_12, 0, 1),
             rw16(SCSI_OP_WRITE_16, 0, 1), rw10(SCSI_OP_WRITE_AND_VERIFY_10, 0, 1),
             rw16(SCSI_OP_WRITE_SAME_16, 0, 1), rw10(SCSI_OP_WRITE_SAME_10, 0, 1, 0x08) }) {
        const Outcome out = rig.run(cdb, 0, block);
        CHECK(out.code() == SENSE_WRITE_PROTECTED);
        CHECK(out.sense().code.key == SCSI_SENSE_DATA_PROTECT);
    }
    CHECK(rig.run(Cdb(SCSI_OP_UNMAP, 10).be(7, 2, 24), 0, unmap).code() == SENSE_WRITE_PROTECTED);
    CHECK(rig.fake->records().empty());
    CHECK(rig.run(rw10(SCSI_OP_READ_10, 0, 1), BS).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(Cdb(SCSI_OP_SYNCHRONIZE_CACHE_10, 10)).status() == SCSI_STATUS_GOOD);
}

// ---- Host I/O errors ----

TEST_CASE("a failed read is MEDIUM ERROR, UNRECOVERED READ ERROR at the first LBA, with no data", "[scsi][errors]")
{
    TempImage image(IMAGE);
    UringScsi u(image, quiet_options(), true);
    REQUIRE(u.fault->set_faults({ fault(block::BlockFault::Op::read, -EIO, 100, 100) }));

    const Outcome bad = u.rig->run(rw10(SCSI_OP_READ_10, 96, 8), 8 * BS);
    const Outcome good = u.rig->run(rw10(SCSI_OP_READ_10, 0, 8), 8 * BS);

    CHECK(bad.code() == SENSE_UNRECOVERED_READ_ERROR);
    CHECK(bad.sense().code.key == SCSI_SENSE_MEDIUM_ERROR);
    CHECK(bad.sense().information == 96);
    CHECK(bad.result.data_in_len == 0);
    CHECK(good.status() == SCSI_STATUS_GOOD);
    CHECK(u.rig->disk->counters().io_errors == 1);
}

TEST_CASE("a failed write is MEDIUM ERROR, WRITE ERROR; after EIO every SYNCHRONIZE CACHE fails until power on",
    "[scsi][errors]")
{
    TempImage image(IMAGE);
    UringScsi u(image, quiet_options(), true);
    auto& rig = *u.rig;
    REQUIRE(u.fault->set_faults({ fault(block::BlockFault::Op::write, -EIO) }));

    const Outcome w = rig.run(rw10(SCSI_OP_WRITE_10, 10, 1), 0, Bytes(BS));
    REQUIRE(u.fault->set_faults({}));

    CHECK(w.code() == SENSE_WRITE_ERROR);
    CHECK(w.sense().information == 10);
    CHECK(rig.disk->flush_failed());
    CHECK(rig.run(Cdb(SCSI_OP_SYNCHRONIZE_CACHE_10, 10)).code() == SENSE_WRITE_ERROR);
    rig.disk->reset(); // a logical unit reset keeps it
    CHECK(rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)).code() == SENSE_RESET_OCCURRED);
    CHECK(rig.run(Cdb(SCSI_OP_SYNCHRONIZE_CACHE_10, 10)).code() == SENSE_WRITE_ERROR);
    rig.disk->reset(ResetKind::power_on);
    CHECK_FALSE(rig.disk->flush_failed());
    CHECK(rig.run(Cdb(SCSI_OP_SYNCHRONIZE_CACHE_10, 10)).status() == SCSI_STATUS_GOOD);
}

TEST_CASE("a failed flush is WRITE ERROR, in descriptor format when D_SENSE is set", "[scsi][errors]")
{
    TempImage image(IMAGE);
    UringScsi u(image, quiet_options(), true);
    auto& rig = *u.rig;
    Bytes control { 0, 0, 0, 0, 0x8a, 0x0a, 0x04, 0x10, 0, 0, 0, 0, 0, 0, 0, 0 };
    REQUIRE(rig.run(Cdb(SCSI_OP_MODE_SELECT_6, 6).set(1, 0x10).set(4, 16), 0, control).status() == SCSI_STATUS_GOOD);
    REQUIRE(u.fault->set_faults({ fault(block::BlockFault::Op::flush, -EIO) }));

    const Outcome f = rig.run(Cdb(SCSI_OP_SYNCHRONIZE_CACHE_16, 16));

    CHECK(f.sense().descriptor);
    CHECK(f.code() == SENSE_WRITE_ERROR);
    CHECK_FALSE(f.sense().information);
    CHECK(rig.disk->flush_failed());
}

TEST_CASE("a write the host has no space for is DATA PROTECT, SPACE ALLOCATION FAILED", "[scsi][errors]")
{
    TempImage image(IMAGE);
    UringScsi u(image, quiet_options(), true);
    REQUIRE(u.fault->set_faults({ fault(block::BlockFault::Op::write, -ENOSPC) }));

    const Outcome w = u.rig->run(rw10(SCSI_OP_WRITE_10, 20, 2), 0, Bytes(2 * BS));

    CHECK(w.code() == SENSE_SPACE_ALLOCATION_FAILED);
    CHECK(w.sense().information == 20);
    CHECK_FALSE(u.rig->disk->flush_failed()); // nothing was lost: it never got written
}

TEST_CASE("with the write cache off, a failed commit after WRITE SAME fails it", "[scsi][errors]")
{
    ScsiDiskOptions o = quiet_options();
    o.write_cache = false;
    ScsiRig rig(o);
    rig.fake->inject = [](const block::IoRequest& r) { return r.op == block::IoOp::flush ? -EIO : 0; };

    const Outcome ws = rig.run(rw10(SCSI_OP_WRITE_SAME_10, 0, 4), 0, Bytes(BS));

    CHECK(ws.code() == SENSE_WRITE_ERROR);
    REQUIRE(rig.fake->records().size() == 2);
    CHECK(rig.fake->records()[0].op == block::IoOp::write_zeroes);
    CHECK(rig.fake->records()[1].op == block::IoOp::flush);
    CHECK(rig.disk->flush_failed());
}

// ---- Unit attentions and REQUEST SENSE ----

TEST_CASE("the power-on unit attention ends the first command, but not INQUIRY or REQUEST SENSE", "[scsi][ua]")
{
    ScsiRig rig(ScsiDiskOptions {});
    REQUIRE(rig.disk->pending_unit_attentions() == 1);

    const Outcome inq = rig.run(Cdb(SCSI_OP_INQUIRY, 6).set(4, 36), 36);
    const Outcome luns = rig.run(Cdb(SCSI_OP_REPORT_LUNS, 12).be(6, 4, 64), 64);
    const Outcome tur = rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6));
    const Outcome again = rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6));

    CHECK(inq.status() == SCSI_STATUS_GOOD);
    CHECK(luns.code() == SENSE_INVALID_COMMAND_OPERATION_CODE); // the controller's command
    CHECK(tur.code() == SENSE_POWER_ON_OCCURRED);
    CHECK(tur.sense().code.key == SCSI_SENSE_UNIT_ATTENTION);
    CHECK(again.status() == SCSI_STATUS_GOOD);
    CHECK(rig.disk->counters().unit_attentions == 1);
}

TEST_CASE("a unit attention ends a READ before any I/O", "[scsi][ua]")
{
    ScsiRig rig(ScsiDiskOptions {});

    const Outcome r = rig.run(rw10(SCSI_OP_READ_10, 0, 1), BS);

    CHECK(r.code() == SENSE_POWER_ON_OCCURRED);
    CHECK(r.result.data_in_len == 0);
    CHECK(rig.fake->records().empty());
}

TEST_CASE("REQUEST SENSE reports and clears the unit attention, in the format DESC asks for", "[scsi][ua]")
{
    ScsiRig rig(ScsiDiskOptions {});

    const Outcome first = rig.run(request_sense(false), 252);
    const Outcome none = rig.run(request_sense(false), 252);
    rig.disk->reset();
    const Outcome desc = rig.run(request_sense(true), 252);
    const Outcome desc_none = rig.run(request_sense(true), 252);

    REQUIRE(first.status() == SCSI_STATUS_GOOD);
    REQUIRE(first.result.data_in_len == 18);
    CHECK(decode_sense(first.data()).code == SENSE_POWER_ON_OCCURRED);
    CHECK(decode_sense(none.data()).code == SENSE_NO_SENSE);
    REQUIRE(desc.result.data_in_len == 8);
    CHECK(desc.in[0] == 0x72);
    CHECK(decode_sense(desc.data()).code == SENSE_RESET_OCCURRED);
    CHECK(decode_sense(desc_none.data()).code == SENSE_NO_SENSE);
    CHECK(rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)).status() == SCSI_STATUS_GOOD);

    SECTION("truncated to the allocation length")
    {
        const Outcome t = rig.run(request_sense(false, 8), 252);
        CHECK(t.result.data_in_len == 8);
        CHECK(t.in[0] == 0x70);
        CHECK(t.in[7] == 10);
        CHECK(t.in[8] == 0xee);
    }
}

TEST_CASE("a capacity change is a unit attention, after the power-on one", "[scsi][ua]")
{
    ScsiRig rig(ScsiDiskOptions {});
    REQUIRE(rig.fake->resize(IMAGE * 2));

    CHECK(rig.disk->capacity_changed() == 4096);
    CHECK(rig.disk->capacity_changed() == 4096); // no change: no second one

    CHECK(rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)).code() == SENSE_POWER_ON_OCCURRED);
    CHECK(rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)).code() == SENSE_CAPACITY_DATA_HAS_CHANGED);
    CHECK(rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)).status() == SCSI_STATUS_GOOD);
    CHECK(load_be(rig.run(Cdb(SCSI_OP_READ_CAPACITY_10, 10), 8).in, 0, 4) == 4095);
    CHECK(rig.run(rw10(SCSI_OP_READ_10, 4000, 8), 8 * BS).status() == SCSI_STATUS_GOOD);
}

TEST_CASE("a reset's unit attention replaces the pending ones, and follows D_SENSE", "[scsi][ua]")
{
    ScsiRig rig(ScsiDiskOptions {});
    REQUIRE(rig.fake->resize(IMAGE / 2));
    (void)rig.disk->capacity_changed();
    REQUIRE(rig.disk->pending_unit_attentions() == 2);
    Bytes control { 0, 0, 0, 0, 0x8a, 0x0a, 0x04, 0x10, 0, 0, 0, 0, 0, 0, 0, 0 };

    rig.disk->reset();

    CHECK(rig.disk->pending_unit_attentions() == 1);
    // MODE SELECT is ended by the unit attention too.
    CHECK(rig.run(Cdb(SCSI_OP_MODE_SELECT_6, 6).set(1, 0x11).set(4, 16), 0, control).code() == SENSE_RESET_OCCURRED);
    CHECK(rig.run(Cdb(SCSI_OP_MODE_SELECT_6, 6).set(1, 0x11).set(4, 16), 0, control).status() == SCSI_STATUS_GOOD);
    rig.disk->reset();
    const Outcome ua = rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6));
    CHECK(ua.sense().descriptor); // saved D_SENSE survived the reset
    CHECK(ua.code() == SENSE_RESET_OCCURRED);
    CHECK(rig.disk->counters().resets == 2);
}

// ---- Tags and bounds ----

TEST_CASE("a tag still in flight is OVERLAPPED COMMANDS ATTEMPTED; the first command goes on", "[scsi][errors]")
{
    ScsiRig rig;
    Bytes a(BS, 0xee);
    Bytes b(BS, 0xee);
    const IovecList ia = iov_of(a);
    const IovecList ib = iov_of(b);

    rig.disk->execute(7, rw10(SCSI_OP_READ_10, 0, 1).span(), {}, ia);
    rig.disk->execute(7, rw10(SCSI_OP_READ_10, 1, 1).span(), {}, ib);
    REQUIRE(rig.sink.done.size() == 1);
    const ScsiResult overlapped = rig.sink.done[0].result;
    rig.disk->flush_submissions();
    rig.settle();

    CHECK(decode_sense(overlapped.sense_data()).code == SENSE_OVERLAPPED_COMMANDS_ATTEMPTED);
    REQUIRE(rig.sink.done.size() == 2);
    CHECK(rig.sink.done[1].result.status == SCSI_STATUS_GOOD);
    CHECK(b == Bytes(BS, 0xee));
    CHECK(rig.fake->records().size() == 1);
    // Completed: the tag is free again.
    rig.disk->execute(7, Cdb(SCSI_OP_TEST_UNIT_READY, 6).span(), {}, {});
    CHECK(rig.sink.done.back().result.status == SCSI_STATUS_GOOD);
}

TEST_CASE("more commands in flight than MAX_COMMANDS get TASK SET FULL", "[scsi][errors]")
{
    ScsiRig rig;
    std::vector<Bytes> buffers(ScsiDisk::MAX_COMMANDS + 1, Bytes(BS));
    std::vector<IovecList> iovs;
    for (auto& b : buffers) {
        iovs.push_back(iov_of(b));
    }
    for (std::size_t i = 0; i < ScsiDisk::MAX_COMMANDS; ++i) {
        rig.disk->execute(i, rw10(SCSI_OP_READ_10, i % 2048, 1).span(), {}, iovs[i]);
    }
    REQUIRE(rig.sink.done.empty());
    REQUIRE(rig.disk->commands_in_flight() == ScsiDisk::MAX_COMMANDS);

    rig.disk->execute(9999, rw10(SCSI_OP_READ_10, 0, 1).span(), {}, iovs.back());

    CHECK(rig.sink.of(9999).status == SCSI_STATUS_TASK_SET_FULL);
    CHECK(rig.sink.of(9999).sense_len == 0);
    rig.disk->flush_submissions();
    rig.settle();
    CHECK(rig.sink.done.size() == ScsiDisk::MAX_COMMANDS + 1);
    CHECK(rig.disk->commands_in_flight() == 0);
    CHECK(rig.disk->counters().busy == 1);
}

TEST_CASE("VERIFY comparisons beyond the bounce memory budget get BUSY", "[scsi][errors]")
{
    ScsiRig rig(quiet_options(), 8 << 20); // 16384 blocks
    Bytes block(BS);
    const IovecList out_iov = iov_of(block);
    // Each compares 8 MiB against one block (BYTCHK 11b): 8 MiB + 512 bytes of bounce memory.
    const Cdb verify = rw16(SCSI_OP_VERIFY_16, 0, 16384, 0x06);
    for (std::uint64_t tag = 0; tag < 8; ++tag) {
        rig.disk->execute(tag, verify.span(), out_iov, {});
    }

    CHECK(rig.disk->commands_in_flight() == 7);
    CHECK(rig.sink.of(7).status == SCSI_STATUS_BUSY);
    rig.disk->flush_submissions();
    rig.settle();
    for (std::uint64_t tag = 0; tag < 7; ++tag) {
        CHECK(rig.sink.of(tag).status == SCSI_STATUS_GOOD); // the image is all zeroes
    }
    rig.disk->execute(8, verify.span(), out_iov, {});
    CHECK(rig.disk->commands_in_flight() == 1); // the memory came back
    rig.settle();
}

TEST_CASE("status() reports the configuration and counters", "[scsi]")
{
    ScsiDiskOptions o = quiet_options();
    o.thin = true;
    ScsiRig rig(o);
    (void)rig.run(rw10(SCSI_OP_READ_10, 0, 2), 2 * BS);
    (void)rig.run(Cdb(0xee, 6));

    const auto s = rig.disk->status();

    CHECK(s["blocks"] == 2048);
    CHECK(s["block_size"] == 512);
    CHECK(s["thin"] == true);
    CHECK(s["write_cache"] == true);
    CHECK(s["in_flight"] == 0);
    CHECK(s["counters"]["commands"] == 2);
    CHECK(s["counters"]["reads"] == 1);
    CHECK(s["counters"]["read_bytes"] == 2 * BS);
    CHECK(s["counters"]["check_conditions"] == 1);
}

TEST_CASE("a VERIFY comparison larger than the whole bounce budget is refused, not BUSY forever", "[scsi][errors]")
{
    TempImage image(64 << 20, std::nullopt); // sparse
    ScsiDiskOptions o = quiet_options();
    o.block_size = 4096;
    o.max_transfer_blocks = 16384; // 64 MiB
    UringScsi u(image, o);
    const Bytes block(4096);

    const Outcome all = u.rig->run(rw16(SCSI_OP_VERIFY_16, 0, 16384, 0x06), 0, block);
    const Outcome most = u.rig->run(rw16(SCSI_OP_VERIFY_16, 0, 16383, 0x06), 0, block);

    CHECK(all.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(all.sense().field->byte == 10);
    CHECK(most.status() == SCSI_STATUS_GOOD);
}

TEST_CASE("MODE SELECT turning the write cache off fails with WRITE ERROR when the commit fails", "[scsi][errors]")
{
    ScsiRig rig;
    rig.fake->inject = [](const block::IoRequest& r) { return r.op == block::IoOp::flush ? -EIO : 0; };
    Bytes caching { 0, 0, 0, 0, 0x88, 0x12 };
    caching.resize(24);

    const Outcome o = rig.run(Cdb(SCSI_OP_MODE_SELECT_6, 6).set(1, 0x10).set(4, 24), 0, caching);

    CHECK(o.code() == SENSE_WRITE_ERROR);
    CHECK_FALSE(rig.disk->write_cache()); // applied: write-through is what was asked for
    CHECK(rig.disk->flush_failed());
}

TEST_CASE("completions answered at once end their batch at flush_submissions()", "[scsi]")
{
    ScsiRig rig;

    rig.disk->execute(1, Cdb(SCSI_OP_TEST_UNIT_READY, 6).span(), {}, {});
    CHECK(rig.sink.done.size() == 1);
    CHECK(rig.sink.batches == 0);
    rig.disk->flush_submissions();
    CHECK(rig.sink.batches == 1);
    rig.disk->flush_submissions();
    CHECK(rig.sink.batches == 1);
}
