// SPDX-License-Identifier: Apache-2.0
// MODE SENSE (6)/(10) and MODE SELECT (6)/(10): the caching and control pages, page control,
// block descriptors, write protect, parameter list validation, and what the values change.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/scsi/scsi_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::scsi;
using namespace vmm::virtio::scsi::test;

namespace {

Cdb sense6(std::uint8_t page_byte, std::uint8_t allocation = 255, std::uint8_t b1 = 0, std::uint8_t subpage = 0)
{
    return std::move(Cdb(SCSI_OP_MODE_SENSE_6, 6).set(1, b1).set(2, page_byte).set(3, subpage).set(4, allocation));
}

Cdb sense10(std::uint8_t page_byte, std::uint16_t allocation = 255, std::uint8_t b1 = 0)
{
    return std::move(Cdb(SCSI_OP_MODE_SENSE_10, 10).set(1, b1).set(2, page_byte).be(7, 2, allocation));
}

Cdb select6(std::size_t length, std::uint8_t b1 = 0x10)
{
    return std::move(Cdb(SCSI_OP_MODE_SELECT_6, 6).set(1, b1).set(4, static_cast<std::uint8_t>(length)));
}

Cdb select10(std::size_t length, std::uint8_t b1 = 0x10)
{
    return std::move(Cdb(SCSI_OP_MODE_SELECT_10, 10).set(1, b1).be(7, 2, length));
}

// The caching page as MODE SENSE returns it, with WCE as given.
Bytes caching(bool wce)
{
    Bytes p(20);
    p[0] = 0x88; // PS | 08h
    p[1] = 0x12;
    p[2] = wce ? 0x04 : 0x00;
    return p;
}

Bytes control(bool d_sense)
{
    Bytes p(12);
    p[0] = 0x8a;
    p[1] = 0x0a;
    p[2] = d_sense ? 0x04 : 0x00;
    p[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1
    return p;
}

// A MODE SELECT (6) parameter list: header, optional block descriptor, pages.
Bytes list6(const std::vector<Bytes>& pages, Bytes descriptor = {})
{
    Bytes l { 0, 0, 0, static_cast<std::uint8_t>(descriptor.size()) };
    l.insert(l.end(), descriptor.begin(), descriptor.end());
    for (const auto& p : pages) {
        l.insert(l.end(), p.begin(), p.end());
    }
    return l;
}

Bytes list10(const std::vector<Bytes>& pages)
{
    Bytes l(8);
    for (const auto& p : pages) {
        l.insert(l.end(), p.begin(), p.end());
    }
    return l;
}

Bytes slice(const Bytes& b, std::size_t at, std::size_t n)
{
    return Bytes(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
}

} // namespace

TEST_CASE("MODE SENSE (6) of all pages: header, short block descriptor, caching then control", "[scsi][mode]")
{
    ScsiRig rig; // 1 MiB of 512-byte blocks

    const Bytes d = rig.run(sense6(0x3f), 255).data();

    REQUIRE(d.size() == 4 + 8 + 20 + 12);
    CHECK(d[0] == d.size() - 1);
    CHECK(d[1] == 0);
    CHECK(d[2] == 0x10); // DPOFUA, not write protected
    CHECK(d[3] == 8);
    CHECK(load_be(d, 4, 4) == 2048);
    CHECK(load_be(d, 9, 3) == 512);
    CHECK(slice(d, 12, 20) == caching(true));
    CHECK(slice(d, 32, 12) == control(false));
}

TEST_CASE("MODE SENSE with DBD, one page, a subpage, and the allocation length", "[scsi][mode]")
{
    ScsiRig rig;

    const Bytes cache = rig.run(sense6(0x08, 255, 0x08), 255).data();
    const Bytes ctl = rig.run(sense6(0x0a, 255, 0x08), 255).data();
    const Outcome header_only = rig.run(sense6(0x08, 4, 0x08), 255);
    const Outcome all_sub = rig.run(sense6(0x3f, 255, 0x08, 0xff), 255);
    const Outcome sub = rig.run(sense6(0x08, 255, 0x08, 0x01), 255);

    REQUIRE(cache.size() == 24);
    CHECK(cache[0] == 23);
    CHECK(cache[3] == 0);
    CHECK(slice(cache, 4, 20) == caching(true));
    REQUIRE(ctl.size() == 16);
    CHECK(slice(ctl, 4, 12) == control(false));
    // Linux asks for the header first to learn the length.
    CHECK(header_only.result.data_in_len == 4);
    CHECK(header_only.in[0] == 23);
    CHECK(all_sub.result.data_in_len == 4 + 20 + 12);
    CHECK(sub.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(sub.sense().field->byte == 3);
}

TEST_CASE("MODE SENSE (10) with a long LBA block descriptor", "[scsi][mode]")
{
    ScsiRig rig;

    const Bytes d = rig.run(sense10(0x08, 255, 0x10), 255).data();
    const Bytes s = rig.run(sense10(0x08), 255).data();

    REQUIRE(d.size() == 8 + 16 + 20);
    CHECK(load_be(d, 0, 2) == d.size() - 2);
    CHECK(d[3] == 0x10);
    CHECK(d[4] == 0x01); // LONGLBA
    CHECK(load_be(d, 6, 2) == 16);
    CHECK(load_be(d, 8, 8) == 2048);
    CHECK(load_be(d, 20, 4) == 512);
    CHECK(slice(d, 24, 20) == caching(true));
    REQUIRE(s.size() == 8 + 8 + 20);
    CHECK(s[4] == 0);
    CHECK(load_be(s, 6, 2) == 8);
}

TEST_CASE("MODE SENSE page control: changeable mask, defaults and saved values", "[scsi][mode]")
{
    ScsiDiskOptions o = quiet_options();
    o.write_cache = false;
    ScsiRig rig(o);

    const Bytes changeable = rig.run(sense6(0x40 | 0x3f), 255).data();
    const Bytes defaults = rig.run(sense6(0x80 | 0x08, 255, 0x08), 255).data();
    const Bytes saved = rig.run(sense6(0xc0 | 0x08, 255, 0x08), 255).data();

    REQUIRE(changeable.size() == 4 + 8 + 20 + 12);
    CHECK(load_be(changeable, 4, 8) == 0); // nothing in the block descriptor can change
    CHECK(changeable[12 + 2] == 0x04);     // WCE
    CHECK(changeable[32 + 2] == 0x04);     // D_SENSE
    CHECK(changeable[32 + 3] == 0x00);
    CHECK(slice(defaults, 4, 20) == caching(false));
    CHECK(slice(saved, 4, 20) == caching(false));
}

TEST_CASE("MODE SENSE sets WP for a read-only disk, whether by option or by backend", "[scsi][mode]")
{
    ScsiDiskOptions o = quiet_options();
    o.read_only = true;
    ScsiRig by_option(o);
    ScsiRig by_backend(quiet_options(), 1 << 20, true);

    CHECK(by_option.run(sense6(0x08), 255).in[2] == 0x90);
    CHECK(by_backend.run(sense10(0x08), 255).in[3] == 0x90);
    CHECK(by_backend.disk->options().read_only);
}

TEST_CASE("MODE SENSE of an unknown page is INVALID FIELD IN CDB at the page code", "[scsi][mode]")
{
    ScsiRig rig;

    const Outcome o = rig.run(sense6(0x1c), 255);

    CHECK(o.code() == SENSE_INVALID_FIELD_IN_CDB);
    CHECK(o.sense().field->byte == 2);
    CHECK(o.sense().field->bit == 5);
    CHECK(o.result.data_in_len == 0);
}

TEST_CASE("MODE SELECT turns the write cache off: writes are committed, and the cache is flushed", "[scsi][mode]")
{
    ScsiRig rig;
    const Bytes block(512, 0x11);
    (void)rig.run(rw10(SCSI_OP_WRITE_10, 0, 1), 0, block);

    const Outcome sel = rig.run(select6(24), 0, list6({ caching(false) }));
    (void)rig.run(rw10(SCSI_OP_WRITE_10, 1, 1), 0, block);

    CHECK(sel.status() == SCSI_STATUS_GOOD);
    CHECK(sel.result.data_out_len == 24);
    CHECK_FALSE(rig.disk->write_cache());
    const auto& rec = rig.fake->records();
    REQUIRE(rec.size() == 3);
    CHECK_FALSE(rec[0].sync);
    CHECK(rec[1].op == block::IoOp::flush); // what the cache held, committed by MODE SELECT
    CHECK(rec[2].sync);
    CHECK(rig.run(sense6(0x08, 255, 0x08), 255).data()[4 + 2] == 0x00);

    SECTION("and on again, without a flush")
    {
        CHECK(rig.run(select10(28), 0, list10({ caching(true) })).status() == SCSI_STATUS_GOOD);
        CHECK(rig.disk->write_cache());
        CHECK(rig.fake->records().size() == 3);
    }
}

TEST_CASE("MODE SELECT of the control page switches CHECK CONDITION sense to descriptor format", "[scsi][mode]")
{
    ScsiRig rig;

    CHECK(rig.run(select6(16), 0, list6({ control(true) })).status() == SCSI_STATUS_GOOD);
    const Outcome bad = rig.run(Cdb(0xc7, 6));

    CHECK(rig.disk->descriptor_sense());
    CHECK(bad.sense().descriptor);
    CHECK(bad.code() == SENSE_INVALID_COMMAND_OPERATION_CODE);
    CHECK(rig.run(sense6(0x0a, 255, 0x08), 255).data()[4 + 2] == 0x04);

    SECTION("and back to fixed format")
    {
        CHECK(rig.run(select6(16), 0, list6({ control(false) })).status() == SCSI_STATUS_GOOD);
        CHECK_FALSE(rig.run(Cdb(0xc7, 6)).sense().descriptor);
    }
}

TEST_CASE("MODE SELECT with SP saves the values: a reset returns to them, not to the defaults", "[scsi][mode]")
{
    ScsiRig rig;

    CHECK(rig.run(select6(24, 0x11), 0, list6({ caching(false) })).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(select6(16), 0, list6({ control(true) })).status() == SCSI_STATUS_GOOD); // not saved
    rig.disk->reset();

    CHECK_FALSE(rig.disk->write_cache());
    CHECK_FALSE(rig.disk->descriptor_sense());
    CHECK(rig.run(sense6(0xc0 | 0x08, 255, 0x08), 255).status() == SCSI_STATUS_CHECK_CONDITION); // the reset UA
    CHECK(rig.run(sense6(0xc0 | 0x08, 255, 0x08), 255).data()[4 + 2] == 0x00);
    CHECK(rig.run(sense6(0x80 | 0x08, 255, 0x08), 255).data()[4 + 2] == 0x04);
}

TEST_CASE("MODE SELECT with a matching block descriptor is accepted", "[scsi][mode]")
{
    ScsiRig rig;
    Bytes d(8);
    store_be(d, 0, 4, 2048);
    store_be(d, 5, 3, 512);
    Bytes zero_count(8);
    store_be(zero_count, 5, 3, 512);

    CHECK(rig.run(select6(32), 0, list6({ caching(true) }, d)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(select6(32), 0, list6({ caching(true) }, zero_count)).status() == SCSI_STATUS_GOOD);
    CHECK(rig.run(select6(12), 0, list6({}, d)).status() == SCSI_STATUS_GOOD);

    SECTION("another block length or capacity is refused")
    {
        Bytes other = d;
        store_be(other, 5, 3, 4096);
        const Outcome len = rig.run(select6(12), 0, list6({}, other));
        CHECK(len.code() == SENSE_INVALID_FIELD_IN_PARAMETER_LIST);
        CHECK_FALSE(len.sense().field->in_cdb);
        CHECK(len.sense().field->byte == 4 + 5);
        store_be(other, 5, 3, 512);
        store_be(other, 0, 4, 99);
        CHECK(rig.run(select6(12), 0, list6({}, other)).sense().field->byte == 4);
    }
}

TEST_CASE("MODE SELECT refuses what it cannot take", "[scsi][mode]")
{
    ScsiRig rig;
    const auto refused = [&](const Cdb& cdb, const Bytes& list) {
        const Outcome o = rig.run(cdb, 0, list);
        CHECK(rig.disk->write_cache()); // nothing applied
        CHECK_FALSE(rig.disk->descriptor_sense());
        return o.sense();
    };

    SECTION("PF 0")
    {
        const Sense s = refused(select6(24, 0x00), list6({ caching(false) }));
        CHECK(s.code == SENSE_INVALID_FIELD_IN_CDB);
        CHECK(s.field->byte == 1);
        CHECK(s.field->bit == 4);
    }
    SECTION("a list shorter than its header, or cutting a page short")
    {
        CHECK(refused(select6(3), Bytes(3)).code == SENSE_PARAMETER_LIST_LENGTH_ERROR);
        CHECK(refused(select10(7), Bytes(8)).code == SENSE_PARAMETER_LIST_LENGTH_ERROR);
        CHECK(refused(select6(20), list6({ caching(false) })).code == SENSE_PARAMETER_LIST_LENGTH_ERROR);
        CHECK(refused(select6(5), list6({ caching(false) })).code == SENSE_PARAMETER_LIST_LENGTH_ERROR);
        CHECK(refused(select6(8), list6({}, Bytes(8))).code == SENSE_PARAMETER_LIST_LENGTH_ERROR);
    }
    SECTION("a wrong page length")
    {
        Bytes p = caching(false);
        p[1] = 0x0a;
        p.resize(12);
        const Sense s = refused(select6(16), list6({ p }));
        CHECK(s.code == SENSE_INVALID_FIELD_IN_PARAMETER_LIST);
        CHECK(s.field->byte == 5);
    }
    SECTION("a field that is not changeable")
    {
        Bytes p = caching(false);
        p[2] |= 0x01; // RCD
        const Sense s = refused(select6(24), list6({ p }));
        CHECK(s.code == SENSE_INVALID_FIELD_IN_PARAMETER_LIST);
        CHECK(s.field->byte == 4 + 2);
        Bytes c = control(true);
        c[3] = 0x00; // QUEUE ALGORITHM MODIFIER
        CHECK(refused(select6(36), list6({ caching(false), c })).field->byte == 4 + 20 + 3);
    }
    SECTION("an unknown page, a subpage, a medium type")
    {
        Bytes p = caching(false);
        p[0] = 0x1c;
        CHECK(refused(select6(24), list6({ p })).field->byte == 4);
        p[0] = 0x48; // SPF
        CHECK(refused(select6(24), list6({ p })).field->bit == 6);
        Bytes l = list6({ caching(false) });
        l[1] = 1;
        CHECK(refused(select6(24), l).field->byte == 1);
    }
    SECTION("a block descriptor length other than 0, 8 (or 16 with LONGLBA)")
    {
        Bytes l = list6({}, Bytes(4));
        const Sense s = refused(select6(8), l);
        CHECK(s.code == SENSE_INVALID_FIELD_IN_PARAMETER_LIST);
        CHECK(s.field->byte == 3);
    }
    SECTION("a data-out buffer shorter than the parameter list, or a list longer than any valid one")
    {
        const Sense s = refused(select6(24), Bytes(10));
        CHECK(s.code == SENSE_INVALID_FIELD_IN_CDB);
        CHECK(s.field->byte == 4);
        CHECK(refused(select10(4096), Bytes(4096)).field->byte == 7);
    }
    SECTION("an empty list is no error")
    {
        CHECK(rig.run(select6(0, 0x00)).status() == SCSI_STATUS_GOOD);
    }
}

TEST_CASE("MODE SELECT (10) with a long LBA block descriptor", "[scsi][mode]")
{
    ScsiRig rig;
    Bytes l(8);
    l[4] = 0x01; // LONGLBA
    store_be(l, 6, 2, 16);
    Bytes d(16);
    store_be(d, 0, 8, 2048);
    store_be(d, 12, 4, 512);
    l.insert(l.end(), d.begin(), d.end());
    const Bytes page = caching(false);
    l.insert(l.end(), page.begin(), page.end());

    CHECK(rig.run(select10(l.size()), 0, l).status() == SCSI_STATUS_GOOD);
    CHECK_FALSE(rig.disk->write_cache());
}
