// SPDX-License-Identifier: Apache-2.0
// SCSI disk medium access through the real io_uring backend on a temporary file: data round
// trips with every READ/WRITE length, WRITE AND VERIFY, VERIFY with and without comparison,
// SYNCHRONIZE CACHE, UNMAP, WRITE SAME and GET LBA STATUS; and the host operations they become.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/scsi/scsi_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::scsi;
using namespace vmm::virtio::scsi::test;

namespace {

constexpr std::size_t IMAGE = 1 << 20; // 2048 blocks of 512 bytes
constexpr std::size_t BS = 512;

ScsiDiskOptions thin_options()
{
    ScsiDiskOptions o = quiet_options();
    o.thin = true;
    return o;
}

Cdb lba_status_cdb(std::uint64_t lba, std::uint32_t allocation)
{
    return std::move(Cdb(SCSI_OP_SERVICE_ACTION_IN_16, 16).set(1, 0x12).be(2, 8, lba).be(10, 4, allocation));
}

struct Extent {
    std::uint64_t lba;
    std::uint32_t blocks;
    std::uint8_t status;
    bool operator==(const Extent&) const = default;
};

std::vector<Extent> extents(const Bytes& d)
{
    REQUIRE(d.size() >= 8);
    std::vector<Extent> out;
    for (std::size_t at = 8; at + 16 <= d.size(); at += 16) {
        out.push_back(Extent { load_be(d, at, 8), static_cast<std::uint32_t>(load_be(d, at + 8, 4)), d[at + 12] });
    }
    return out;
}

Bytes unmap_list(const std::vector<std::pair<std::uint64_t, std::uint32_t>>& ranges)
{
    Bytes l(8 + 16 * ranges.size());
    store_be(l, 0, 2, l.size() - 2);
    store_be(l, 2, 2, 16 * ranges.size());
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        store_be(l, 8 + 16 * i, 8, ranges[i].first);
        store_be(l, 8 + 16 * i + 8, 4, ranges[i].second);
    }
    return l;
}

} // namespace

TEST_CASE("WRITE (10) then READ (10) round-trip through io_uring, over split buffers", "[scsi][io]")
{
    TempImage image(IMAGE);
    UringScsi u(image);
    auto& rig = *u.rig;
    const Bytes data = byte_pattern(8 * BS, 41);

    const Outcome w = rig.run(rw10(SCSI_OP_WRITE_10, 16, 8), 0, data, 3);
    const Outcome r = rig.run(rw10(SCSI_OP_READ_10, 16, 8), 8 * BS, {}, 4);

    CHECK(w.status() == SCSI_STATUS_GOOD);
    CHECK(w.result.data_out_len == 8 * BS);
    CHECK(image.read(16 * BS, 8 * BS) == data);
    REQUIRE(r.status() == SCSI_STATUS_GOOD);
    CHECK(r.result.data_in_len == 8 * BS);
    CHECK(r.data() == data);
    const Bytes original = byte_pattern(IMAGE, 3);
    CHECK(image.read(15 * BS, BS) == Bytes(original.begin() + 15 * BS, original.begin() + 16 * BS)); // neighbours
    CHECK(image.read(24 * BS, BS) == Bytes(original.begin() + 24 * BS, original.begin() + 25 * BS));
    CHECK(rig.disk->counters().written_bytes == 8 * BS);
    CHECK(rig.disk->counters().read_bytes == 8 * BS);
}

TEST_CASE("READ/WRITE (6), (12) and (16) move the same data; (6) with length 0 moves 256 blocks", "[scsi][io]")
{
    TempImage image(IMAGE);
    UringScsi u(image);
    auto& rig = *u.rig;
    const Bytes big = byte_pattern(256 * BS, 9);
    const Bytes small = byte_pattern(3 * BS, 10);

    CHECK(rig.run(rw6(SCSI_OP_WRITE_6, 1000, 0), 0, big, 5).status() == SCSI_STATUS_GOOD);
    CHECK(image.read(1000 * BS, 256 * BS) == big);
    CHECK(rig.run(rw6(SCSI_OP_READ_6, 1000, 0), 256 * BS).data() == big);

    CHECK(rig.run(rw12(SCSI_OP_WRITE_12, 7, 3), 0, small).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(rw16(SCSI_OP_READ_16, 7, 3), 3 * BS).data() == small);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_16, 2045, 3), 0, small).status() == SCSI_STATUS_GOOD); // the last blocks
    CHECK(rig.run(rw12(SCSI_OP_READ_12, 2045, 3), 3 * BS, {}, 2).data() == small);
    CHECK(rig.run(rw6(SCSI_OP_READ_6, 2047, 1), BS).data() == Bytes(small.begin() + 2 * BS, small.end()));
}

TEST_CASE("a read fills exactly the transfer length of a longer data-in buffer", "[scsi][io]")
{
    TempImage image(IMAGE);
    UringScsi u(image);

    const Outcome r = u.rig->run(rw10(SCSI_OP_READ_10, 0, 2), 4 * BS, {}, 3);

    CHECK(r.result.data_in_len == 2 * BS);
    CHECK(r.data() == image.read(0, 2 * BS));
    CHECK(std::all_of(r.in.begin() + 2 * BS, r.in.end(), [](std::uint8_t b) { return b == 0xee; }));
}

TEST_CASE("transfer length 0 transfers nothing and is no error", "[scsi][io]")
{
    ScsiRig rig;

    CHECK(rig.run(rw10(SCSI_OP_READ_10, 5, 0), 512).result.data_in_len == 0);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_16, 2048, 0)).status() == SCSI_STATUS_GOOD); // at the end: fine
    CHECK(rig.fake->records().empty());
}

TEST_CASE("FUA, WRITE AND VERIFY and a disabled write cache commit the write; DPO does not", "[scsi][io]")
{
    ScsiRig rig;
    const Bytes block(BS, 1);

    (void)rig.run(rw10(SCSI_OP_WRITE_10, 0, 1), 0, block);
    (void)rig.run(rw10(SCSI_OP_WRITE_10, 0, 1, 0x08), 0, block);    // FUA
    (void)rig.run(rw16(SCSI_OP_WRITE_16, 0, 1, 0x10), 0, block);    // DPO
    (void)rig.run(rw16(SCSI_OP_WRITE_16, 0, 1, 0x08), 0, block);    // FUA
    (void)rig.run(rw10(SCSI_OP_WRITE_AND_VERIFY_10, 0, 1), 0, block);
    (void)rig.run(rw16(SCSI_OP_WRITE_AND_VERIFY_16, 0, 1, 0x02), 0, block); // BYTCHK 01b
    (void)rig.run(rw10(SCSI_OP_READ_10, 0, 1, 0x08), BS);           // FUA read: a plain read

    const auto& rec = rig.fake->records();
    REQUIRE(rec.size() == 7);
    const std::vector<bool> sync { rec[0].sync, rec[1].sync, rec[2].sync, rec[3].sync, rec[4].sync, rec[5].sync };
    CHECK(sync == std::vector<bool> { false, true, false, true, true, true });
    CHECK(rec[6].op == block::IoOp::read);

    ScsiDiskOptions wt = quiet_options();
    wt.write_cache = false;
    ScsiRig through(wt);
    (void)through.run(rw10(SCSI_OP_WRITE_10, 0, 1), 0, block);
    REQUIRE(through.fake->records().size() == 1);
    CHECK(through.fake->records()[0].sync);
}

TEST_CASE("WRITE AND VERIFY reaches the medium; BYTCHK 10b and 11b are refused", "[scsi][io]")
{
    TempImage image(IMAGE);
    UringScsi u(image);
    const Bytes data = byte_pattern(4 * BS, 77);

    CHECK(u.rig->run(rw10(SCSI_OP_WRITE_AND_VERIFY_10, 100, 4), 0, data).status() == SCSI_STATUS_GOOD);
    CHECK(u.rig->run(rw16(SCSI_OP_WRITE_AND_VERIFY_16, 200, 4, 0x02), 0, data).status() == SCSI_STATUS_GOOD);
    const Outcome bad = u.rig->run(rw10(SCSI_OP_WRITE_AND_VERIFY_10, 300, 4, 0x04), 0, data);

    CHECK(image.read(100 * BS, 4 * BS) == data);
    CHECK(image.read(200 * BS, 4 * BS) == data);
    CHECK(bad.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(bad.sense().field->byte == 1);
    CHECK(bad.sense().field->bit == 2);
    CHECK(image.read(300 * BS, 4 * BS) != data);
}

TEST_CASE("VERIFY: BYTCHK 0 checks the range, 01b compares the data-out, 11b one block against each", "[scsi][io]")
{
    TempImage image(IMAGE);
    UringScsi u(image);
    auto& rig = *u.rig;
    const Bytes on_disk = image.read(64 * BS, 4 * BS);

    CHECK(rig.run(rw10(SCSI_OP_VERIFY_10, 64, 4)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(rw10(SCSI_OP_VERIFY_10, 2047, 2)).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(rig.run(rw10(SCSI_OP_VERIFY_10, 64, 4, 0x02), 0, on_disk, 3).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(rw16(SCSI_OP_VERIFY_16, 64, 4, 0x02), 0, on_disk).status() == SCSI_STATUS_GOOD);

    Bytes changed = on_disk;
    changed[700] ^= 0xff;
    const Outcome miss = rig.run(rw10(SCSI_OP_VERIFY_10, 64, 4, 0x02), 0, changed);
    CHECK(miss.code() == SENSE_MISCOMPARE_DURING_VERIFY);
    CHECK(miss.sense().information == 700);
    CHECK(image.read(64 * BS, 4 * BS) == on_disk); // VERIFY writes nothing

    const Bytes block = byte_pattern(BS, 12);
    Bytes same;
    for (int i = 0; i < 5; ++i) {
        same.insert(same.end(), block.begin(), block.end());
    }
    image.write(500 * BS, same);
    CHECK(rig.run(rw16(SCSI_OP_VERIFY_16, 500, 5, 0x06), 0, block).status() == SCSI_STATUS_GOOD);
    const Outcome miss11 = rig.run(rw16(SCSI_OP_VERIFY_16, 499, 5, 0x06), 0, block);
    CHECK(miss11.code() == SENSE_MISCOMPARE_DURING_VERIFY);
    CHECK(miss11.sense().information == 0);

    CHECK(rig.run(rw10(SCSI_OP_VERIFY_10, 64, 4, 0x04), 0, on_disk).sense().field->bit == 2); // BYTCHK 10b
    CHECK(rig.run(rw10(SCSI_OP_VERIFY_10, 64, 4, 0x02), 0, Bytes(3 * BS)).code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(rig.run(rw10(SCSI_OP_VERIFY_10, 64, 4, 0x40)).sense().field->byte == 1); // VRPROTECT
}

TEST_CASE("SYNCHRONIZE CACHE (10)/(16) flush the image, range-checked", "[scsi][io]")
{
    TempImage image(IMAGE);
    UringScsi u(image);
    auto& rig = *u.rig;

    CHECK(rig.run(Cdb(SCSI_OP_SYNCHRONIZE_CACHE_10, 10)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(rw16(SCSI_OP_SYNCHRONIZE_CACHE_16, 100, 1948)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(rw16(SCSI_OP_SYNCHRONIZE_CACHE_16, 100, 1949)).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(rig.run(rw10(SCSI_OP_SYNCHRONIZE_CACHE_10, 2049, 0)).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(rig.disk->counters().flushes == 2);
}

TEST_CASE("UNMAP deallocates the ranges: they read as zeroes and GET LBA STATUS sees them", "[scsi][io][thin]")
{
    TempImage image(IMAGE);
    UringScsi u(image, thin_options());
    auto& rig = *u.rig;

    const Bytes list = unmap_list({ { 8, 8 }, { 64, 16 }, { 100, 0 } });
    const Outcome o = rig.run(Cdb(SCSI_OP_UNMAP, 10).be(7, 2, list.size()), 0, list);

    REQUIRE(o.status() == SCSI_STATUS_GOOD);
    CHECK(o.result.data_out_len == list.size());
    CHECK(image.read(8 * BS, 8 * BS) == Bytes(8 * BS));
    CHECK(image.read(64 * BS, 16 * BS) == Bytes(16 * BS));
    CHECK(image.read(16 * BS, BS) != Bytes(BS));
    CHECK(rig.run(rw10(SCSI_OP_READ_10, 64, 16), 16 * BS).data() == Bytes(16 * BS));
    const auto e = extents(rig.run(lba_status_cdb(0, 4096), 4096).data());
    REQUIRE(e.size() >= 5);
    CHECK(e[0] == Extent { 0, 8, SCSI_LBA_MAPPED });
    CHECK(e[1] == Extent { 8, 8, SCSI_LBA_DEALLOCATED });
    CHECK(e[2] == Extent { 16, 48, SCSI_LBA_MAPPED });
    CHECK(e[3] == Extent { 64, 16, SCSI_LBA_DEALLOCATED });
    CHECK(e[4] == Extent { 80, 2048 - 80, SCSI_LBA_MAPPED });
}

TEST_CASE("UNMAP checks the whole parameter list before it deallocates anything", "[scsi][io][thin]")
{
    ScsiDiskOptions o = thin_options();
    o.max_unmap_descriptors = 2;
    o.max_unmap_blocks = 100;
    ScsiRig rig(o);
    const auto unmap = [&](const Bytes& list, std::size_t length) {
        return rig.run(Cdb(SCSI_OP_UNMAP, 10).be(7, 2, length), 0, list);
    };

    CHECK(unmap(unmap_list({ { 0, 1 }, { 2, 1 }, { 4, 1 } }), 56).sense().field->byte == 2);
    const Outcome total = unmap(unmap_list({ { 0, 60 }, { 100, 41 } }), 40);
    CHECK(total.code() == SENSE_INVALID_FIELD_IN_PARAMETER_LIST);
    CHECK(total.sense().field->byte == 8 + 16 + 8);
    CHECK(unmap(unmap_list({ { 0, 1 }, { 2040, 9 } }), 40).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(unmap(unmap_list({ { 0xffff'ffff'ffff'fff0ULL, 0x20 } }), 24).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(unmap(Bytes(4), 4).code() == SENSE_PARAMETER_LIST_LENGTH_ERROR);
    CHECK(unmap(Bytes(10), 24).sense().field->byte == 7); // data-out shorter than the list
    CHECK(rig.run(Cdb(SCSI_OP_UNMAP, 10).set(1, 1).be(7, 2, 24), 0, unmap_list({ { 0, 1 } })).sense().field->bit == 0);
    CHECK(rig.fake->records().empty());

    // What is not checked is no error: an empty list, a cut-off descriptor, zero blocks.
    CHECK(unmap({}, 0).status() == SCSI_STATUS_GOOD);
    CHECK(unmap(unmap_list({ { 0, 1 } }), 20).status() == SCSI_STATUS_GOOD);
    CHECK(unmap(unmap_list({ { 5, 0 } }), 24).status() == SCSI_STATUS_GOOD);
    CHECK(rig.fake->records().empty());
    CHECK(unmap(unmap_list({ { 5, 3 } }), 24).status() == SCSI_STATUS_GOOD);
    REQUIRE(rig.fake->records().size() == 1);
    CHECK(rig.fake->records()[0].op == block::IoOp::write_zeroes);
    CHECK(rig.fake->records()[0].unmap);
    CHECK(rig.fake->records()[0].offset == 5 * BS);
    CHECK(rig.fake->records()[0].length == 3 * BS);
}

TEST_CASE("UNMAP without thin provisioning is an unknown command", "[scsi][io]")
{
    ScsiRig rig;

    CHECK(rig.run(Cdb(SCSI_OP_UNMAP, 10).be(7, 2, 24), 0, unmap_list({ { 0, 1 } })).code()
        == SENSE_INVALID_COMMAND_OPERATION_CODE);
}

TEST_CASE("WRITE SAME repeats one block over the range, beyond one pattern buffer", "[scsi][io]")
{
    TempImage image(IMAGE);
    UringScsi u(image);
    auto& rig = *u.rig;
    const Bytes block = byte_pattern(BS, 55);

    const Outcome o = rig.run(rw10(SCSI_OP_WRITE_SAME_10, 300, 301), 0, block);

    REQUIRE(o.status() == SCSI_STATUS_GOOD);
    CHECK(o.result.data_out_len == BS);
    const Bytes written = image.read(300 * BS, 301 * BS);
    for (std::size_t i = 0; i < 301; ++i) {
        INFO("block " << i);
        CHECK(Bytes(written.begin() + static_cast<std::ptrdiff_t>(i * BS),
                  written.begin() + static_cast<std::ptrdiff_t>((i + 1) * BS))
            == block);
    }
    CHECK(image.read(299 * BS, BS) != block);
    CHECK(image.read(601 * BS, BS) != block);
}

TEST_CASE("WRITE SAME of zeroes writes zeroes; with UNMAP it deallocates; NDOB needs no data", "[scsi][io][thin]")
{
    TempImage image(IMAGE);
    UringScsi u(image, thin_options());
    auto& rig = *u.rig;

    CHECK(rig.run(rw16(SCSI_OP_WRITE_SAME_16, 16, 16), 0, Bytes(BS)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_SAME_16, 128, 64, 0x08), 0, Bytes(BS)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_SAME_16, 512, 8, 0x09)).status() == SCSI_STATUS_GOOD); // UNMAP, NDOB
    CHECK(rig.run(rw10(SCSI_OP_WRITE_SAME_10, 600, 8, 0x08), 0, Bytes(BS)).status() == SCSI_STATUS_GOOD);

    CHECK(image.read(16 * BS, 16 * BS) == Bytes(16 * BS));
    CHECK(image.read(128 * BS, 64 * BS) == Bytes(64 * BS));
    CHECK(image.read(512 * BS, 8 * BS) == Bytes(8 * BS));
    CHECK(image.read(600 * BS, 8 * BS) == Bytes(8 * BS));
    const auto e = extents(rig.run(lba_status_cdb(128, 64), 64).data());
    REQUIRE(e.size() == 3); // allocation length 64: three descriptors
    CHECK(e[0] == Extent { 128, 64, SCSI_LBA_DEALLOCATED });
    CHECK(e[1].status == SCSI_LBA_MAPPED);
}

TEST_CASE("WRITE SAME refuses 0 blocks, more than the limit, UNMAP without thin, ANCHOR, and a short block",
    "[scsi][io]")
{
    ScsiDiskOptions o = quiet_options();
    o.max_write_same_blocks = 100;
    ScsiRig rig(o);
    const Bytes block(BS, 1);

    CHECK(rig.run(rw10(SCSI_OP_WRITE_SAME_10, 0, 0), 0, block).sense().field->byte == 7);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_SAME_16, 0, 101), 0, block).sense().field->byte == 10);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_SAME_16, 0, 1, 0x08), 0, block).sense().field->bit == 3);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_SAME_16, 0, 1, 0x10), 0, block).sense().field->bit == 4);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_SAME_16, 0, 1, 0x20), 0, block).sense().field->bit == 7);
    CHECK(rig.run(rw16(SCSI_OP_WRITE_SAME_16, 2040, 9), 0, block).code() == SENSE_LBA_OUT_OF_RANGE);
    CHECK(rig.run(rw10(SCSI_OP_WRITE_SAME_10, 0, 1), 0, Bytes(100)).code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(rig.fake->records().empty());
}

TEST_CASE("GET LBA STATUS walks the image's holes and data", "[scsi][io][thin]")
{
    TempImage image(IMAGE, std::nullopt); // sparse: all hole
    image.write(8 * BS, byte_pattern(8 * BS, 1));
    image.write(40 * BS, byte_pattern(16 * BS, 2));
    UringScsi u(image, thin_options());
    auto& rig = *u.rig;

    const Outcome o = rig.run(lba_status_cdb(0, 4096), 4096);
    const auto e = extents(o.data());

    CHECK(load_be(o.in, 0, 4) == 4 + 5 * 16);
    REQUIRE(e.size() == 5);
    CHECK(e[0] == Extent { 0, 8, SCSI_LBA_DEALLOCATED });
    CHECK(e[1] == Extent { 8, 8, SCSI_LBA_MAPPED });
    CHECK(e[2] == Extent { 16, 24, SCSI_LBA_DEALLOCATED });
    CHECK(e[3] == Extent { 40, 16, SCSI_LBA_MAPPED });
    CHECK(e[4] == Extent { 56, 2048 - 56, SCSI_LBA_DEALLOCATED });

    SECTION("from inside an extent, and truncated to the allocation length")
    {
        const Outcome t = rig.run(lba_status_cdb(10, 24), 4096);
        CHECK(t.result.data_in_len == 24);
        CHECK(load_be(t.in, 0, 4) == 4 + 4 * 16);
        CHECK(extents(t.data()) == std::vector<Extent> { { 10, 6, SCSI_LBA_MAPPED } });
    }
    SECTION("the last block, and past it")
    {
        CHECK(extents(rig.run(lba_status_cdb(2047, 64), 64).data())
            == std::vector<Extent> { { 2047, 1, SCSI_LBA_DEALLOCATED } });
        CHECK(rig.run(lba_status_cdb(2048, 64), 64).code() == SENSE_LBA_OUT_OF_RANGE);
    }
}

TEST_CASE("GET LBA STATUS reports everything mapped without an image descriptor or thin provisioning",
    "[scsi][io]")
{
    TempImage image(IMAGE, std::nullopt);
    UringScsi thick(image);
    ScsiRig no_fd(thin_options());

    CHECK(extents(thick.rig->run(lba_status_cdb(4, 64), 64).data())
        == std::vector<Extent> { { 4, 2044, SCSI_LBA_MAPPED } });
    CHECK(extents(no_fd.run(lba_status_cdb(0, 64), 64).data())
        == std::vector<Extent> { { 0, 2048, SCSI_LBA_MAPPED } });
}

TEST_CASE("4096-byte blocks: capacity, offsets and lengths scale", "[scsi][io]")
{
    TempImage image(IMAGE);
    ScsiDiskOptions o = quiet_options();
    o.block_size = 4096;
    UringScsi u(image, o);
    const Bytes data = byte_pattern(2 * 4096, 5);

    CHECK(u.rig->disk->blocks() == 256);
    CHECK(u.rig->run(rw10(SCSI_OP_WRITE_10, 10, 2), 0, data).status() == SCSI_STATUS_GOOD);
    CHECK(image.read(10 * 4096, 2 * 4096) == data);
    CHECK(u.rig->run(rw10(SCSI_OP_READ_10, 255, 2), 2 * 4096).code() == SENSE_LBA_OUT_OF_RANGE);
}
