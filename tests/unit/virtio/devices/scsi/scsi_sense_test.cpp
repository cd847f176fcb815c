// SPDX-License-Identifier: Apache-2.0
// The pieces under the SCSI disk: sense data in both formats, CDB decoding, iovec sizing,
// REPORT LUNS and the option bounds.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/scsi/scsi_rig.hpp"
#include "virtio/devices/scsi/disk/report_luns.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::scsi;
using namespace vmm::virtio::scsi::test;

TEST_CASE("fixed format sense: 70h, 18 bytes, key, ASC/ASCQ, INFORMATION and a field pointer", "[scsi][sense]")
{
    std::array<std::uint8_t, SCSI_SENSE_MAX> out {};
    const SenseInfo info { SENSE_INVALID_FIELD_IN_CDB, 0x1234, FieldPointer { true, 7, 5 } };

    const std::size_t n = build_sense(info, SenseFormat::fixed, out);

    REQUIRE(n == 18);
    CHECK(out[0] == 0xf0); // VALID | 70h
    CHECK(out[2] == SCSI_SENSE_ILLEGAL_REQUEST);
    CHECK(load_be(out, 3, 4) == 0x1234);
    CHECK(out[7] == 10);
    CHECK(out[12] == 0x24);
    CHECK(out[13] == 0x00);
    CHECK(out[15] == (0x80 | 0x40 | 0x08 | 5)); // SKSV, C/D, BPV, bit 5
    CHECK(load_be(out, 16, 2) == 7);
    CHECK(std::all_of(out.begin() + 18, out.end(), [](std::uint8_t b) { return b == 0; }));
}

TEST_CASE("fixed format sense cannot hold a 64-bit INFORMATION: VALID stays 0", "[scsi][sense]")
{
    std::array<std::uint8_t, SCSI_SENSE_MAX> out {};

    (void)build_sense(SenseInfo { SENSE_UNRECOVERED_READ_ERROR, 0x1'0000'0000ULL, {} }, SenseFormat::fixed, out);

    CHECK(out[0] == 0x70);
    CHECK(load_be(out, 3, 4) == 0);
    CHECK(out[2] == SCSI_SENSE_MEDIUM_ERROR);
}

TEST_CASE("descriptor format sense: 72h with information and sense key specific descriptors", "[scsi][sense]")
{
    std::array<std::uint8_t, SCSI_SENSE_MAX> out {};
    const SenseInfo info { SENSE_INVALID_FIELD_IN_PARAMETER_LIST, 0x1'0000'0001ULL, FieldPointer { false, 300, -1 } };

    const std::size_t n = build_sense(info, SenseFormat::descriptor, out);

    REQUIRE(n == 8 + 12 + 8);
    CHECK(out[0] == 0x72);
    CHECK(out[1] == SCSI_SENSE_ILLEGAL_REQUEST);
    CHECK(out[2] == 0x26);
    CHECK(out[7] == 20);
    CHECK(out[8] == 0x00);
    CHECK(out[9] == 0x0a);
    CHECK(out[10] == 0x80);
    CHECK(load_be(out, 12, 8) == 0x1'0000'0001ULL);
    CHECK(out[20] == 0x02);
    CHECK(out[21] == 0x06);
    CHECK(out[24] == 0x80); // SKSV, parameter list, no bit pointer
    CHECK(load_be(out, 25, 2) == 300);
    const Sense s = decode_sense(std::span(out).first(n));
    CHECK(s.descriptor);
    CHECK(s.information == 0x1'0000'0001ULL);
}

TEST_CASE("descriptor format sense without extras is 8 bytes", "[scsi][sense]")
{
    std::array<std::uint8_t, SCSI_SENSE_MAX> out {};

    const std::size_t n = build_sense(SenseInfo { SENSE_RESET_OCCURRED, {}, {} }, SenseFormat::descriptor, out);

    CHECK(n == 8);
    CHECK(out[7] == 0);
    CHECK(decode_sense(std::span(out).first(n)).code == SENSE_RESET_OCCURRED);
}

TEST_CASE("error_result: CHECK CONDITION carries sense, BUSY does not", "[scsi][sense]")
{
    const ScsiResult cc = error_result(CommandError { SCSI_STATUS_CHECK_CONDITION, { SENSE_WRITE_PROTECTED, {}, {} } },
        SenseFormat::fixed);
    const ScsiResult busy = error_result(CommandError { SCSI_STATUS_BUSY, {} }, SenseFormat::fixed);

    CHECK(cc.status == SCSI_STATUS_CHECK_CONDITION);
    CHECK(cc.sense_len == 18);
    CHECK(decode_sense(cc.sense_data()).code == SENSE_WRITE_PROTECTED);
    CHECK(busy.status == SCSI_STATUS_BUSY);
    CHECK(busy.sense_len == 0);
}

TEST_CASE("CDB lengths follow the group code", "[scsi][cdb]")
{
    CHECK(cdb_length(SCSI_OP_READ_6) == 6);
    CHECK(cdb_length(SCSI_OP_READ_10) == 10);
    CHECK(cdb_length(SCSI_OP_MODE_SENSE_10) == 10);
    CHECK(cdb_length(SCSI_OP_READ_16) == 16);
    CHECK(cdb_length(SCSI_OP_READ_12) == 12);
    CHECK(cdb_length(0x7f) == 0); // variable length
    CHECK(cdb_length(0xc0) == 0); // vendor specific
    CHECK(cdb_length(0xff) == 0);
}

TEST_CASE("block ranges decode from every CDB length", "[scsi][cdb]")
{
    const auto r6 = decode_block_range(rw6(SCSI_OP_READ_6, 0x1f'fffe, 0).span());
    CHECK(r6.lba == 0x1f'fffe);
    CHECK(r6.blocks == 0);
    CHECK(r6.length_byte == 4);
    // The top 3 bits of byte 1 are not part of the LBA.
    const auto r6b = decode_block_range(Cdb(SCSI_OP_READ_6, 6).set(1, 0xe1).set(4, 9).span());
    CHECK(r6b.lba == 0x01'0000);
    CHECK(r6b.blocks == 9);
    const auto r10 = decode_block_range(rw10(SCSI_OP_READ_10, 0xfffffffe, 0xffff).span());
    CHECK(r10.lba == 0xfffffffe);
    CHECK(r10.blocks == 0xffff);
    CHECK(r10.length_byte == 7);
    const auto r12 = decode_block_range(rw12(SCSI_OP_READ_12, 5, 0xffffffff).span());
    CHECK(r12.blocks == 0xffffffff);
    CHECK(r12.length_byte == 6);
    const auto r16 = decode_block_range(rw16(SCSI_OP_READ_16, 0xffff'ffff'ffff'ffffULL, 3).span());
    CHECK(r16.lba == 0xffff'ffff'ffff'ffffULL);
    CHECK(r16.blocks == 3);
    CHECK(r16.length_byte == 10);
}

TEST_CASE("iovec sizes saturate and prefixes drop empty entries", "[scsi][cdb]")
{
    Bytes a(10);
    Bytes b(20);
    const std::array<iovec, 4> v { iovec { a.data(), 10 }, iovec { nullptr, 0 }, iovec { b.data(), 20 },
        iovec { b.data(), SIZE_MAX } };

    CHECK(iovecs_bytes(std::span(v).first(3)) == 30);
    CHECK(iovecs_bytes(v) == SIZE_MAX);
    const IovecList p = iovecs_prefix(v, 15);
    REQUIRE(p.size() == 2);
    CHECK(p[0].iov_len == 10);
    CHECK(p[1].iov_base == b.data());
    CHECK(p[1].iov_len == 5);
    CHECK(iovecs_prefix(v, 0).empty());
}

// ---- REPORT LUNS ----

TEST_CASE("report_luns: peripheral addressing below 256, flat space above, as Linux decodes them", "[scsi][luns]")
{
    CHECK(encode_lun(0) == std::array<std::uint8_t, 8> {});
    CHECK(encode_lun(5) == std::array<std::uint8_t, 8> { 0x00, 0x05, 0, 0, 0, 0, 0, 0 });
    CHECK(encode_lun(255) == std::array<std::uint8_t, 8> { 0x00, 0xff, 0, 0, 0, 0, 0, 0 });
    CHECK(encode_lun(256) == std::array<std::uint8_t, 8> { 0x41, 0x00, 0, 0, 0, 0, 0, 0 });
    CHECK(encode_lun(0x3fff) == std::array<std::uint8_t, 8> { 0x7f, 0xff, 0, 0, 0, 0, 0, 0 });
    // Linux's scsilun_to_int() for flat space: (b0 << 8 | b1), and virtio_scsi sends back
    // lun[2] = (that >> 8) | 0x40, lun[3] = that & 0xff: the device sees the same 14 bits.
    const auto e = encode_lun(300);
    const unsigned linux_lun = (unsigned { e[0] } << 8) | e[1];
    CHECK(((((linux_lun >> 8) | 0x40) & 0x3f) << 8 | (linux_lun & 0xff)) == 300);
}

TEST_CASE("report_luns lists the LUNs after an 8-byte header, truncated to the allocation length", "[scsi][luns]")
{
    const std::array<std::uint16_t, 4> luns { 0, 1, 300, 0x4000 }; // the last cannot be encoded
    Bytes in(64, 0xee);
    const IovecList iov = iov_of(in, 3);

    const ScsiResult r = report_luns(luns, Cdb(SCSI_OP_REPORT_LUNS, 12).be(6, 4, 64).span(), iov, SenseFormat::fixed);

    REQUIRE(r.status == SCSI_STATUS_GOOD);
    REQUIRE(r.data_in_len == 8 + 3 * 8);
    CHECK(load_be(in, 0, 4) == 24);
    CHECK(load_be(in, 4, 4) == 0);
    CHECK(in[9] == 0);
    CHECK(in[17] == 1);
    CHECK(in[24] == 0x41);
    CHECK(in[25] == 0x2c);
    CHECK(in[32] == 0xee);

    SECTION("an allocation length inside an entry stops there, the list length stays whole")
    {
        Bytes small(64, 0xee);
        const IovecList s = iov_of(small);
        const ScsiResult t = report_luns(luns, Cdb(SCSI_OP_REPORT_LUNS, 12).be(6, 4, 13).span(), s, SenseFormat::fixed);
        CHECK(t.data_in_len == 13);
        CHECK(load_be(small, 0, 4) == 24);
        CHECK(small[13] == 0xee);
    }
    SECTION("a buffer shorter than the allocation length bounds it too")
    {
        Bytes small(10, 0xee);
        const IovecList s = iov_of(small);
        const ScsiResult t
            = report_luns(luns, Cdb(SCSI_OP_REPORT_LUNS, 12).be(6, 4, 4096).span(), s, SenseFormat::fixed);
        CHECK(t.data_in_len == 10);
    }
    SECTION("SELECT REPORT 01h: well-known logical units only, of which there are none")
    {
        Bytes wk(64, 0xee);
        const IovecList s = iov_of(wk);
        const ScsiResult t = report_luns(luns, Cdb(SCSI_OP_REPORT_LUNS, 12).set(2, 1).be(6, 4, 64).span(), s,
            SenseFormat::fixed);
        CHECK(t.data_in_len == 8);
        CHECK(load_be(wk, 0, 4) == 0);
    }
}

TEST_CASE("report_luns refuses an unknown SELECT REPORT, NACA and a short CDB", "[scsi][luns]")
{
    const std::array<std::uint16_t, 1> luns { 0 };
    Bytes in(64);
    const IovecList iov = iov_of(in);

    const auto bad_select = report_luns(luns, Cdb(SCSI_OP_REPORT_LUNS, 12).set(2, 0x10).be(6, 4, 64).span(), iov,
        SenseFormat::descriptor);
    const Sense s = decode_sense(bad_select.sense_data());
    CHECK(s.descriptor);
    CHECK(s.code == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(s.field->byte == 2);
    CHECK(bad_select.data_in_len == 0);

    const auto naca = report_luns(luns, Cdb(SCSI_OP_REPORT_LUNS, 12).set(11, 0x04).be(6, 4, 64).span(), iov,
        SenseFormat::fixed);
    CHECK(decode_sense(naca.sense_data()).field->byte == 11);

    const auto shortcdb = report_luns(luns, Cdb(SCSI_OP_REPORT_LUNS, 6).span(), iov, SenseFormat::fixed);
    CHECK(decode_sense(shortcdb.sense_data()).code == SENSE_INVALID_FIELD_IN_CDB);
}

// ---- Options ----

TEST_CASE("check_options bounds the strings, the block size and the limits", "[scsi][options]")
{
    CHECK(check_options(ScsiDiskOptions {}));
    const auto bad = [](auto change) {
        ScsiDiskOptions o;
        change(o);
        return !check_options(o).has_value();
    };
    CHECK(bad([](ScsiDiskOptions& o) { o.vendor = "TOOLONGVENDOR"; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.product = std::string(17, 'p'); }));
    CHECK(bad([](ScsiDiskOptions& o) { o.revision = "12345"; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.serial = std::string(37, 's'); }));
    CHECK(bad([](ScsiDiskOptions& o) { o.serial = "tab\there"; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.serial = "caf\xc3\xa9"; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.block_size = 256; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.block_size = 1000; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.block_size = 128 * 1024; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.max_transfer_blocks = (1U << 30) / 512 + 1; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.max_unmap_descriptors = 0; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.max_unmap_descriptors = 4096; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.max_unmap_blocks = 0; }));
    CHECK(bad([](ScsiDiskOptions& o) { o.max_write_same_blocks = 0; }));
    CHECK_FALSE(bad([](ScsiDiskOptions& o) {
        o.block_size = 4096;
        o.serial = std::string(36, 'x');
        o.max_transfer_blocks = (1U << 30) / 4096;
    }));

    ScsiDiskOptions odd;
    odd.block_size = 3;
    auto created = ScsiDisk::create(std::make_unique<virtio::test::FakeBlockBackend>(4096), odd);
    CHECK_FALSE(created);
}
