// SPDX-License-Identifier: Apache-2.0
// SCSI disk identification: INQUIRY standard data and VPD pages, READ CAPACITY (10)/(16), with
// allocation length truncation and the CDB checks.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/scsi/scsi_rig.hpp"
#include "virtio/devices/scsi/disk/inquiry.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::scsi;
using namespace vmm::virtio::scsi::test;

namespace {

// A backend that only has a size: for capacities no test could allocate.
class SizedBackend final : public block::BlockBackend {
public:
    explicit SizedBackend(std::uint64_t bytes) : bytes_(bytes) {}
    void set_sink(block::IoCompletionSink* /*sink*/) noexcept override {}
    [[nodiscard]] std::uint64_t size() const noexcept override { return bytes_; }
    [[nodiscard]] bool read_only() const noexcept override { return false; }
    [[nodiscard]] Result<std::uint64_t> resize(std::uint64_t bytes) override
    {
        bytes_ = bytes;
        return bytes;
    }
    void submit(block::IoRequest&& /*request*/) noexcept override { FAIL_CHECK("no I/O expected"); }
    void flush_submissions() noexcept override {}
    [[nodiscard]] std::size_t in_flight() const noexcept override { return 0; }
    void drain() noexcept override {}
    [[nodiscard]] std::string describe() const override { return "sized"; }

private:
    std::uint64_t bytes_;
};

ScsiDiskOptions named()
{
    ScsiDiskOptions o = quiet_options();
    o.serial = "SN-0042";
    o.vendor = "ACME";
    o.product = "ROADRUNNER";
    o.revision = "1.2";
    return o;
}

Cdb inquiry_cdb(bool evpd, std::uint8_t page, std::uint16_t allocation)
{
    return std::move(Cdb(SCSI_OP_INQUIRY, 6).set(1, evpd ? 1 : 0).set(2, page).be(3, 2, allocation));
}

std::string text(const Bytes& b, std::size_t at, std::size_t n)
{
    return std::string(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
}

} // namespace

TEST_CASE("standard INQUIRY: direct access, SPC-4, format 2, CMDQUE, padded identification", "[scsi][inquiry]")
{
    ScsiRig rig(named());

    const Outcome o = rig.run(inquiry_cdb(false, 0, 255), 255);

    REQUIRE(o.status() == SCSI_STATUS_GOOD);
    const Bytes d = o.data();
    REQUIRE(d.size() == 74);
    CHECK(d[0] == 0x00);
    CHECK(d[1] == 0x00); // not removable
    CHECK(d[2] == 0x06);
    CHECK((d[3] & 0x0f) == 2);
    CHECK(d[4] == 74 - 5);
    CHECK(d[7] == 0x02);
    CHECK(text(d, 8, 8) == "ACME    ");
    CHECK(text(d, 16, 16) == "ROADRUNNER      ");
    CHECK(text(d, 32, 4) == "1.2 ");
    CHECK(load_be(d, 58, 2) == 0x00a0);
    CHECK(load_be(d, 60, 2) == 0x0460);
    CHECK(load_be(d, 62, 2) == 0x04c0);
    CHECK(o.in[74] == 0xee); // nothing past the data
}

TEST_CASE("INQUIRY honours the allocation length and the buffer, whichever is shorter", "[scsi][inquiry]")
{
    ScsiRig rig(named());

    const Outcome a = rig.run(inquiry_cdb(false, 0, 36), 255);
    const Outcome b = rig.run(inquiry_cdb(false, 0, 255), 5, {}, 2);
    const Outcome z = rig.run(inquiry_cdb(false, 0, 0), 64);

    CHECK(a.result.data_in_len == 36);
    CHECK(a.in[36] == 0xee);
    CHECK(text(a.in, 8, 4) == "ACME");
    CHECK(b.result.data_in_len == 5);
    CHECK(b.in[4] == 69); // ADDITIONAL LENGTH still says what the whole data is
    CHECK(z.status() == SCSI_STATUS_GOOD);
    CHECK(z.result.data_in_len == 0);
    CHECK(z.in[0] == 0xee);
}

TEST_CASE("INQUIRY refuses a page code without EVPD, CMDDT and an unknown VPD page", "[scsi][inquiry]")
{
    ScsiRig rig(named());

    const Outcome page = rig.run(inquiry_cdb(false, 0x80, 255), 255);
    const Outcome cmddt = rig.run(Cdb(SCSI_OP_INQUIRY, 6).set(1, 0x02).be(3, 2, 255), 255);
    const Outcome unknown = rig.run(inquiry_cdb(true, 0xb7, 255), 255);

    for (const Outcome* o : { &page, &cmddt, &unknown }) {
        CHECK(o->code() == SENSE_INVALID_FIELD_IN_CDB);
        CHECK(o->result.data_in_len == 0);
    }
    CHECK(page.sense().field->byte == 2);
    CHECK(cmddt.sense().field->byte == 1);
    CHECK(cmddt.sense().field->bit == 1);
    CHECK(unknown.sense().field->byte == 2);
    CHECK(unknown.sense().field->in_cdb);
}

TEST_CASE("VPD 00h lists the pages in ascending order; without a serial there is no 80h", "[scsi][inquiry]")
{
    ScsiRig with(named());
    ScsiRig without;

    const Bytes a = with.run(inquiry_cdb(true, 0x00, 255), 255).data();
    const Bytes b = without.run(inquiry_cdb(true, 0x00, 255), 255).data();
    const Outcome no_serial = without.run(inquiry_cdb(true, 0x80, 255), 255);

    CHECK(a == Bytes { 0x00, 0x00, 0x00, 6, 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 });
    CHECK(b == Bytes { 0x00, 0x00, 0x00, 5, 0x00, 0x83, 0xb0, 0xb1, 0xb2 });
    CHECK(no_serial.code() == SENSE_INVALID_FIELD_IN_CDB);
}

TEST_CASE("VPD 80h holds the serial", "[scsi][inquiry]")
{
    ScsiRig rig(named());

    const Bytes d = rig.run(inquiry_cdb(true, 0x80, 255), 255).data();

    REQUIRE(d.size() == 4 + 7);
    CHECK(d[1] == 0x80);
    CHECK(load_be(d, 2, 2) == 7);
    CHECK(text(d, 4, 7) == "SN-0042");
}

TEST_CASE("VPD 83h: a T10 vendor ID designator and an NAA 3h designator from the serial", "[scsi][inquiry]")
{
    ScsiRig rig(named());

    const Bytes d = rig.run(inquiry_cdb(true, 0x83, 255), 255).data();

    REQUIRE(d.size() >= 4);
    CHECK(d[1] == 0x83);
    REQUIRE(load_be(d, 2, 2) == d.size() - 4);
    // T10 vendor ID: ASCII, logical unit, type 1, vendor + product + serial.
    CHECK(d[4] == 0x02);
    CHECK(d[5] == 0x01);
    REQUIRE(d[7] == 8 + 16 + 7);
    CHECK(text(d, 8, 8) == "ACME    ");
    CHECK(text(d, 16, 16) == "ROADRUNNER      ");
    CHECK(text(d, 32, 7) == "SN-0042");
    // NAA: binary, logical unit, type 3, 8 bytes, NAA 3 in the top nibble.
    const std::size_t naa = 8 + 8 + 16 + 7;
    REQUIRE(d.size() == naa + 12);
    CHECK(d[naa] == 0x01);
    CHECK(d[naa + 1] == 0x03);
    CHECK(d[naa + 3] == 8);
    CHECK(d[naa + 4] >> 4 == 3);
    CHECK(load_be(d, naa + 4, 8) == naa_designator(named()));

    SECTION("the NAA value is stable and depends on the serial")
    {
        ScsiDiskOptions other = named();
        other.serial = "SN-0043";
        CHECK(naa_designator(named()) == naa_designator(named()));
        CHECK(naa_designator(named()) != naa_designator(other));
    }
    SECTION("without a serial only the T10 designator is there")
    {
        ScsiRig plain;
        const Bytes p = plain.run(inquiry_cdb(true, 0x83, 255), 255).data();
        CHECK(p.size() == 4 + 4 + 8 + 16);
    }
}

TEST_CASE("VPD B0h block limits: transfer, unmap and write same limits, WSNZ", "[scsi][inquiry]")
{
    ScsiDiskOptions o = quiet_options();
    o.thin = true;
    o.max_transfer_blocks = 1024;
    o.max_unmap_blocks = 4096;
    o.max_unmap_descriptors = 16;
    o.max_write_same_blocks = 8192;
    ScsiRig rig(o);

    const Bytes d = rig.run(inquiry_cdb(true, 0xb0, 255), 255).data();

    REQUIRE(d.size() == 64);
    CHECK(load_be(d, 2, 2) == 0x3c);
    CHECK(d[4] == 0x01);                  // WSNZ
    CHECK(load_be(d, 6, 2) == 8);         // 4 KiB in 512-byte blocks
    CHECK(load_be(d, 8, 4) == 1024);      // MAXIMUM TRANSFER LENGTH
    CHECK(load_be(d, 20, 4) == 4096);     // MAXIMUM UNMAP LBA COUNT
    CHECK(load_be(d, 24, 4) == 16);       // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    CHECK(load_be(d, 28, 4) == 8);        // OPTIMAL UNMAP GRANULARITY
    CHECK(load_be(d, 32, 4) == 0x8000'0000); // UGAVALID
    CHECK(load_be(d, 36, 8) == 8192);     // MAXIMUM WRITE SAME LENGTH

    SECTION("without thin provisioning the unmap fields are zero; the default transfer limit is 8 MiB")
    {
        ScsiRig thick;
        const Bytes t = thick.run(inquiry_cdb(true, 0xb0, 255), 255).data();
        CHECK(load_be(t, 8, 4) == (8U << 20) / 512);
        CHECK(load_be(t, 20, 4) == 0);
        CHECK(load_be(t, 24, 4) == 0);
        CHECK(load_be(t, 36, 8) == 0x3f'ffff);
    }
}

TEST_CASE("VPD B1h: non-rotating medium; B2h: thin provisioning with LBPU, LBPWS, LBPWS10, LBPRZ", "[scsi][inquiry]")
{
    ScsiDiskOptions o = quiet_options();
    o.thin = true;
    ScsiRig thin(o);
    ScsiRig thick;

    const Bytes b1 = thin.run(inquiry_cdb(true, 0xb1, 255), 255).data();
    const Bytes b2 = thin.run(inquiry_cdb(true, 0xb2, 255), 255).data();
    const Bytes b2thick = thick.run(inquiry_cdb(true, 0xb2, 255), 255).data();

    REQUIRE(b1.size() == 64);
    CHECK(load_be(b1, 4, 2) == 1);
    REQUIRE(b2.size() == 8);
    CHECK(b2[1] == 0xb2);
    CHECK(b2[5] == 0xe4);
    CHECK((b2[6] & 0x07) == 2);
    REQUIRE(b2thick.size() == 8);
    CHECK(b2thick[5] == 0);
    CHECK(b2thick[6] == 0);
}

TEST_CASE("READ CAPACITY (10) and (16): last LBA and block length", "[scsi][capacity]")
{
    ScsiDiskOptions o = quiet_options();
    o.block_size = 4096;
    ScsiRig rig(o, 1 << 20);

    const Outcome c10 = rig.run(Cdb(SCSI_OP_READ_CAPACITY_10, 10), 8);
    const Outcome c16 = rig.run(Cdb(SCSI_OP_SERVICE_ACTION_IN_16, 16).set(1, 0x10).be(10, 4, 32), 32);

    REQUIRE(c10.result.data_in_len == 8);
    CHECK(load_be(c10.in, 0, 4) == 255);
    CHECK(load_be(c10.in, 4, 4) == 4096);
    REQUIRE(c16.result.data_in_len == 32);
    CHECK(load_be(c16.in, 0, 8) == 255);
    CHECK(load_be(c16.in, 8, 4) == 4096);
    CHECK(c16.in[14] == 0); // neither LBPME nor LBPRZ
    CHECK(rig.disk->blocks() == 256);
}

TEST_CASE("READ CAPACITY (10) says FFFFFFFFh beyond 2 TiB; (16) has the real value and LBPME", "[scsi][capacity]")
{
    ScsiDiskOptions o = quiet_options();
    o.thin = true;
    const std::uint64_t bytes = (std::uint64_t { 1 } << 32) * 512 + 4096; // 2^32 + 8 blocks
    ScsiRig rig(o, std::make_unique<SizedBackend>(bytes), [] {});

    const Outcome c10 = rig.run(Cdb(SCSI_OP_READ_CAPACITY_10, 10), 8);
    const Outcome c16 = rig.run(Cdb(SCSI_OP_SERVICE_ACTION_IN_16, 16).set(1, 0x10).be(10, 4, 12), 32);

    CHECK(load_be(c10.in, 0, 4) == 0xffff'ffff);
    REQUIRE(c16.result.data_in_len == 12); // the allocation length
    CHECK(load_be(c16.in, 0, 8) == (std::uint64_t { 1 } << 32) + 7);
    CHECK(c16.in[12] == 0xee);
    const Outcome full = rig.run(Cdb(SCSI_OP_SERVICE_ACTION_IN_16, 16).set(1, 0x10).be(10, 4, 32), 32);
    CHECK(full.in[14] == 0xc0); // LBPME, LBPRZ
}

TEST_CASE("READ CAPACITY (10) with an LBA but no PMI, and an unknown service action, are refused", "[scsi][capacity]")
{
    ScsiRig rig;

    const Outcome lba = rig.run(Cdb(SCSI_OP_READ_CAPACITY_10, 10).be(2, 4, 5), 8);
    const Outcome pmi = rig.run(Cdb(SCSI_OP_READ_CAPACITY_10, 10).be(2, 4, 5).set(8, 1), 8);
    const Outcome sa = rig.run(Cdb(SCSI_OP_SERVICE_ACTION_IN_16, 16).set(1, 0x11).be(10, 4, 32), 32);

    CHECK(lba.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(lba.sense().field->byte == 2);
    CHECK(pmi.status() == SCSI_STATUS_GOOD);
    CHECK(sa.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(sa.sense().field->byte == 1);
    CHECK(sa.sense().field->bit == 4);
}

TEST_CASE("TEST UNIT READY, START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL succeed", "[scsi]")
{
    ScsiRig rig;

    CHECK(rig.run(Cdb(SCSI_OP_TEST_UNIT_READY, 6)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(Cdb(SCSI_OP_START_STOP_UNIT, 6).set(4, 0x01)).status() == SCSI_STATUS_GOOD); // start
    CHECK(rig.run(Cdb(SCSI_OP_START_STOP_UNIT, 6).set(4, 0x03)).status() == SCSI_STATUS_GOOD); // load: nothing
    CHECK(rig.run(Cdb(SCSI_OP_START_STOP_UNIT, 6).set(4, 0x30)).status() == SCSI_STATUS_GOOD); // power condition
    CHECK(rig.run(Cdb(SCSI_OP_PREVENT_ALLOW_MEDIUM_REMOVAL, 6).set(4, 0x01)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(Cdb(SCSI_OP_PREVENT_ALLOW_MEDIUM_REMOVAL, 6)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.fake->records().empty());
}

TEST_CASE("START STOP UNIT stop without NO_FLUSH commits the cache first", "[scsi]")
{
    ScsiRig rig;

    const Outcome stop = rig.run(Cdb(SCSI_OP_START_STOP_UNIT, 6));
    const Outcome no_flush = rig.run(Cdb(SCSI_OP_START_STOP_UNIT, 6).set(4, 0x04));
    const Outcome eject = rig.run(Cdb(SCSI_OP_START_STOP_UNIT, 6).set(4, 0x02)); // a stop too

    CHECK(stop.status() == SCSI_STATUS_GOOD);
    CHECK(no_flush.status() == SCSI_STATUS_GOOD);
    CHECK(eject.status() == SCSI_STATUS_GOOD);
    REQUIRE(rig.fake->records().size() == 2);
    CHECK(rig.fake->records()[0].op == block::IoOp::flush);
    CHECK(rig.fake->records()[1].op == block::IoOp::flush);
}
