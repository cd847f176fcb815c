// SPDX-License-Identifier: Apache-2.0
// virtio-blk request handling against an in-memory backend: every request type, the range and
// layout checks, cache modes, flush error stickiness, multiqueue, resize, resets, both rings.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/block_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::block;
using namespace vmm::virtio::test;

namespace {

constexpr std::uint64_t SECTORS = 128; // the rig's default 64 KiB image

BlkRigOptions with(const BlockOptions& device)
{
    BlkRigOptions o;
    o.device = device;
    return o;
}

BlockOptions discard_options()
{
    BlockOptions d;
    d.discard = true;
    d.secure_erase = true;
    d.max_discard_seg = 4;
    d.max_discard_sectors = 64;
    d.max_write_zeroes_seg = 4;
    d.max_write_zeroes_sectors = 64;
    d.max_secure_erase_seg = 4;
    d.max_secure_erase_sectors = 64;
    return d;
}

void fill_image(BlkRig& rig, std::uint8_t seed = 7)
{
    const auto p = pattern(rig.backend->image().size(), seed);
    std::copy(p.begin(), p.end(), rig.backend->image().begin());
}

} // namespace

// ---- Features and configuration space ----

TEST_CASE("the default block device offers flush, cache control, write zeroes and queue reset", "[virtio][blk]")
{
    BlkRig rig;

    const std::uint64_t f = rig.device->features();

    CHECK(rig.device->type() == DeviceType::block);
    CHECK(has_feature(f, VIRTIO_BLK_F_FLUSH));
    CHECK(has_feature(f, VIRTIO_BLK_F_CONFIG_WCE));
    CHECK(has_feature(f, VIRTIO_BLK_F_SEG_MAX));
    CHECK(has_feature(f, VIRTIO_BLK_F_BLK_SIZE));
    CHECK(has_feature(f, VIRTIO_BLK_F_TOPOLOGY));
    CHECK(has_feature(f, VIRTIO_BLK_F_WRITE_ZEROES));
    CHECK(has_feature(f, VIRTIO_F_RING_RESET));
    CHECK_FALSE(has_feature(f, VIRTIO_BLK_F_RO));
    CHECK_FALSE(has_feature(f, VIRTIO_BLK_F_MQ));
    CHECK_FALSE(has_feature(f, VIRTIO_BLK_F_DISCARD));
    CHECK_FALSE(has_feature(f, VIRTIO_BLK_F_SECURE_ERASE));
    CHECK_FALSE(has_feature(f, VIRTIO_BLK_F_LIFETIME));
    CHECK_FALSE(has_feature(f, VIRTIO_BLK_F_SIZE_MAX));
}

TEST_CASE("cache unsafe offers neither FLUSH nor CONFIG_WCE, and a flush request is unsupported", "[virtio][blk]")
{
    BlockOptions o;
    o.cache = CacheMode::unsafe;
    BlkRig rig(with(o));
    rig.start();
    const auto r = rig.flush();

    const auto used = rig.run();

    CHECK_FALSE(has_feature(rig.device->features(), VIRTIO_BLK_F_FLUSH));
    CHECK_FALSE(has_feature(rig.device->features(), VIRTIO_BLK_F_CONFIG_WCE));
    REQUIRE(used);
    CHECK(rig.status(r) == VIRTIO_BLK_S_UNSUPP);
    CHECK(rig.backend->records().empty());
}

TEST_CASE("the configuration space holds capacity, limits, topology and zeroed padding", "[virtio][blk]")
{
    BlockOptions o = discard_options();
    o.blk_size = 4096;
    o.physical_block_size = 16384;
    o.min_io_size = 2;
    o.opt_io_size = 64;
    o.num_queues = 3;
    BlkRig rig(with(o));

    const auto cfg = rig.config_at<VirtioBlkConfig>(0);

    CHECK(rig.device->config_size() == 0x48);
    CHECK(cfg.capacity.get() == SECTORS);
    CHECK(cfg.seg_max.get() == BlkRig::QSIZE - 2);
    CHECK(cfg.blk_size.get() == 4096);
    CHECK(cfg.topology.physical_block_exp == 2);
    CHECK(cfg.topology.min_io_size.get() == 2);
    CHECK(cfg.topology.opt_io_size.get() == 64);
    CHECK(cfg.writeback == 1);
    CHECK(cfg.unused0 == 0);
    CHECK(cfg.num_queues.get() == 3);
    CHECK(cfg.max_discard_sectors.get() == 64);
    CHECK(cfg.max_discard_seg.get() == 4);
    CHECK(cfg.discard_sector_alignment.get() == 8);
    CHECK(cfg.write_zeroes_may_unmap == 1);
    CHECK(cfg.unused1[0] == 0);
    CHECK(cfg.unused1[1] == 0);
    CHECK(cfg.unused1[2] == 0);
    CHECK(cfg.max_secure_erase_seg.get() == 4);
    CHECK(rig.config_at<le32>(0x48).get() == 0); // past the end reads zero
}

TEST_CASE("a read-only image offers RO", "[virtio][blk]")
{
    BlockOptions o;
    o.read_only = true;
    BlkRig rig(with(o));

    CHECK(has_feature(rig.device->features(), VIRTIO_BLK_F_RO));
}

// ---- Reads and writes ----

TEST_CASE("a read fills the data buffer from the image and reports data plus status as used", "[virtio][blk]")
{
    BlkRig rig;
    fill_image(rig);
    rig.start();
    const auto r = rig.read(0, 4, 1024);

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->id == r.id);
    CHECK(used->len == 1025);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    CHECK(rig.data(r) == rig.image(4 * 512, 1024));
    CHECK(rig.irq.queue_count(0) == 1);
}

TEST_CASE("a write stores its data at the sector and reports one used byte", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const auto payload = pattern(2048, 3);
    const auto r = rig.write(0, 10, payload);

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 1);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    CHECK(rig.image(10 * 512, 2048) == payload);
    REQUIRE(rig.backend->records().size() == 1);
    CHECK_FALSE(rig.backend->records()[0].sync); // writeback cache, the driver flushes
}

TEST_CASE("header, data and status may share descriptors: the status is the last writable byte", "[virtio][blk]")
{
    BlkRig rig;
    fill_image(rig);
    rig.start();
    // One readable descriptor with the header, one writable with 512 data bytes plus status.
    const std::uint64_t header = rig.header_at(VIRTIO_BLK_T_IN, 1);
    const std::uint64_t buf = rig.guest.alloc(513);
    rig.guest.fill(buf, std::byte { STATUS_UNTOUCHED }, 513);
    rig.queues[0].add(std::vector<Buf> { readable(header, 16), writable(buf, 513) });

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 513);
    CHECK(rig.guest.read(buf, 512) == rig.image(512, 512));
    CHECK(std::to_integer<int>(rig.guest.read(buf + 512, 1)[0]) == VIRTIO_BLK_S_OK);
}

TEST_CASE("a zero-length read completes at once without host I/O", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const auto r = rig.read(0, 0, 0);

    rig.notify();
    const auto used = rig.queues[0].pop_used();

    REQUIRE(used);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    CHECK(rig.backend->records().empty());
}

TEST_CASE("requests outside the capacity fail with IOERR and never reach the backend", "[virtio][blk]")
{
    struct Case {
        const char* what;
        std::uint64_t sector;
        std::uint32_t len;
    };
    const Case cases[] = {
        { "starts at the capacity", SECTORS, 512 },
        { "crosses the end", SECTORS - 1, 1024 },
        { "sector near 2^64", UINT64_MAX, 512 },
        { "sector + count wraps", UINT64_MAX - 1, 1024 },
        { "sector * 512 overflows", std::uint64_t { 1 } << 55, 512 },
    };
    for (const auto& c : cases) {
        INFO(c.what);
        BlkRig rig;
        rig.start();
        const auto rd = rig.read(0, c.sector, c.len);
        const auto wr = rig.write(0, c.sector, pattern(c.len));

        rig.notify();
        rig.backend->complete_all();

        CHECK(rig.status(rd) == VIRTIO_BLK_S_IOERR);
        CHECK(rig.status(wr) == VIRTIO_BLK_S_IOERR);
        CHECK(rig.backend->records().empty());
    }
}

TEST_CASE("the last sector can be read and written", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const auto wr = rig.write(0, SECTORS - 1, pattern(512, 9));
    const auto rd = rig.read(0, SECTORS - 1, 512);

    rig.notify();
    rig.backend->complete_all();

    CHECK(rig.status(wr) == VIRTIO_BLK_S_OK);
    CHECK(rig.status(rd) == VIRTIO_BLK_S_OK);
}

TEST_CASE("data that is not a whole number of sectors fails with IOERR", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const auto rd = rig.read(0, 0, 511);
    const auto wr = rig.write(0, 0, pattern(513));

    rig.notify();

    CHECK(rig.status(rd) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(wr) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.backend->records().empty());
}

TEST_CASE("a chain without a writable byte is handed back with used length 0 and NEEDS_RESET", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const std::uint64_t header = rig.header_at(VIRTIO_BLK_T_IN, 0);
    const std::uint64_t status = rig.status_byte();
    rig.queues[0].add(std::vector<Buf> { readable(header, 16), readable(status, 1) }); // read-only status

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 0);
    CHECK(std::to_integer<int>(rig.guest.read(status, 1)[0]) == STATUS_UNTOUCHED);
    CHECK(rig.irq.needs_reset_count() == 1);
}

TEST_CASE("a request shorter than its header gets IOERR in its status byte", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const std::uint64_t header = rig.header_at(VIRTIO_BLK_T_IN, 0);
    const std::uint64_t status = rig.status_byte();
    rig.queues[0].add(std::vector<Buf> { readable(header, 8), writable(status, 1) });

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 1);
    CHECK(std::to_integer<int>(rig.guest.read(status, 1)[0]) == VIRTIO_BLK_S_IOERR);
}

TEST_CASE("a status-only chain is answered without touching the backend", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const std::uint64_t status = rig.status_byte();
    rig.queues[0].add(std::vector<Buf> { writable(status, 1) });

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(std::to_integer<int>(rig.guest.read(status, 1)[0]) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.backend->records().empty());
}

TEST_CASE("unknown and legacy request types are unsupported", "[virtio][blk]")
{
    for (const std::uint32_t type : { 2U, 3U, 5U, 9U, 12U, 15U, 0x8000'0001U, 0xffff'ffffU }) {
        INFO("type " << type);
        BlkRig rig;
        rig.start();
        const auto r = rig.request(0, type, 0, 512, true);

        rig.notify();

        CHECK(rig.status(r) == VIRTIO_BLK_S_UNSUPP);
        CHECK(rig.backend->records().empty());
    }
}

TEST_CASE("writes to a read-only device fail with IOERR and write nothing", "[virtio][blk]")
{
    BlockOptions o;
    o.read_only = true;
    BlkRig rig(with(o));
    fill_image(rig);
    const auto before = rig.image(0, 1024);
    rig.start();
    const auto wr = rig.write(0, 0, pattern(1024, 4));
    const auto z = std::array { seg(0, 2, 0) };
    const auto wz = rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, z);
    const auto rd = rig.read(0, 0, 512);

    rig.notify();
    rig.backend->complete_all();

    CHECK(rig.status(wr) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(wz) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(rd) == VIRTIO_BLK_S_OK);
    CHECK(rig.image(0, 1024) == before);
    REQUIRE(rig.backend->records().size() == 1);
    CHECK(rig.backend->records()[0].op == IoOp::read);
}

// ---- Cache modes, flush ----

TEST_CASE("a flush reaches the backend as a flush and completes OK", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const auto r = rig.flush();

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 1);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    REQUIRE(rig.backend->records().size() == 1);
    CHECK(rig.backend->records()[0].op == IoOp::flush);
}

TEST_CASE("writes are committed before completion when the driver turns the write cache off", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const std::byte zero { 0 };
    rig.device->write_config(offsetof(VirtioBlkConfig, writeback), std::span(&zero, 1));
    rig.write(0, 0, pattern(512));

    rig.run();

    CHECK(rig.config_at<std::uint8_t>(offsetof(VirtioBlkConfig, writeback)) == 0);
    REQUIRE(rig.backend->records().size() == 1);
    CHECK(rig.backend->records()[0].sync);
}

TEST_CASE("cache writethrough starts with writeback 0 and commits every write", "[virtio][blk]")
{
    BlockOptions o;
    o.cache = CacheMode::writethrough;
    BlkRig rig(with(o));
    rig.start();
    rig.write(0, 0, pattern(512));

    rig.run();

    CHECK(rig.config_at<std::uint8_t>(offsetof(VirtioBlkConfig, writeback)) == 0);
    REQUIRE(rig.backend->records().size() == 1);
    CHECK(rig.backend->records()[0].sync);
}

TEST_CASE("a driver that negotiates neither FLUSH nor CONFIG_WCE gets committed writes", "[virtio][blk]")
{
    BlkRigOptions o;
    o.drop_features = feature_bit(VIRTIO_BLK_F_FLUSH) | feature_bit(VIRTIO_BLK_F_CONFIG_WCE);
    BlkRig rig(o);
    rig.start();
    rig.write(0, 0, pattern(512));

    rig.run();

    REQUIRE(rig.backend->records().size() == 1);
    CHECK(rig.backend->records()[0].sync); // virtio 1.2 §5.2.6.2 stable case 1
}

TEST_CASE("CONFIG_WCE negotiated without FLUSH makes writeback start at 0", "[virtio][blk]")
{
    BlkRigOptions o;
    o.drop_features = feature_bit(VIRTIO_BLK_F_FLUSH);
    BlkRig rig(o);

    rig.start();

    CHECK(rig.config_at<std::uint8_t>(offsetof(VirtioBlkConfig, writeback)) == 0);
}

TEST_CASE("the writeback field cannot be written without CONFIG_WCE, nor can read-only fields", "[virtio][blk]")
{
    BlkRigOptions o;
    o.drop_features = feature_bit(VIRTIO_BLK_F_CONFIG_WCE);
    BlkRig rig(o);
    rig.start();
    const std::byte zero { 0 };
    const auto cap = std::array<std::byte, 8> {};

    rig.device->write_config(offsetof(VirtioBlkConfig, writeback), std::span(&zero, 1));
    rig.device->write_config(0, cap);

    CHECK(rig.config_at<std::uint8_t>(offsetof(VirtioBlkConfig, writeback)) == 1);
    CHECK(rig.config_at<le64>(0).get() == SECTORS);
}

TEST_CASE("after a failed flush every later flush fails until the device is reset", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    rig.backend->inject = [](const IoRequest& r) { return r.op == IoOp::flush ? -5 : 0; };
    const auto first = rig.flush();
    rig.run();
    rig.backend->inject = nullptr; // the host now reports success, as Linux does after an error
    const auto second = rig.flush();
    rig.run();
    const std::size_t submitted = rig.backend->records().size();

    rig.restart();
    const auto after_reset = rig.flush();
    rig.run();

    CHECK(rig.status(first) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(second) == VIRTIO_BLK_S_IOERR);
    CHECK(submitted == 1); // the second never reached the host
    CHECK(rig.status(after_reset) == VIRTIO_BLK_S_OK);
    CHECK_FALSE(rig.device->flush_failed());
}

TEST_CASE("a write that fails with EIO fails and makes the next flush fail", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    rig.backend->inject = [](const IoRequest& r) { return r.op == IoOp::write ? -5 : 0; };
    const auto wr = rig.write(0, 0, pattern(512));
    rig.run();
    rig.backend->inject = nullptr;
    const auto fl = rig.flush();
    rig.run();

    CHECK(rig.status(wr) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(fl) == VIRTIO_BLK_S_IOERR);
}

TEST_CASE("ENOSPC and EFBIG on a write fail that write only", "[virtio][blk]")
{
    for (const int err : { -28, -27 }) {
        INFO("errno " << -err);
        BlkRig rig;
        rig.start();
        rig.backend->inject = [err](const IoRequest& r) { return r.op == IoOp::write ? err : 0; };
        const auto wr = rig.write(0, 0, pattern(512));
        rig.run();
        const auto fl = rig.flush();
        rig.run();

        CHECK(rig.status(wr) == VIRTIO_BLK_S_IOERR);
        CHECK(rig.status(fl) == VIRTIO_BLK_S_OK);
    }
}

TEST_CASE("a failed read reports IOERR and claims no data", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    rig.backend->inject = [](const IoRequest&) { return -5; };
    const auto r = rig.read(0, 0, 512);

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 1);
    CHECK(rig.status(r) == VIRTIO_BLK_S_IOERR);
    CHECK_FALSE(rig.device->flush_failed());
}

// ---- GET_ID, GET_LIFETIME ----

TEST_CASE("GET_ID returns the serial NUL-padded to 20 bytes", "[virtio][blk]")
{
    BlockOptions o;
    o.serial = "vireo-disk-1";
    BlkRig rig(with(o));
    rig.start();
    const auto r = rig.request(0, VIRTIO_BLK_T_GET_ID, 0, 20, true);

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 21);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    auto expected = bytes_of("vireo-disk-1");
    expected.resize(20, std::byte { 0 });
    CHECK(rig.data(r) == expected);
}

TEST_CASE("GET_ID into a buffer shorter than 20 bytes writes what fits", "[virtio][blk]")
{
    BlockOptions o;
    o.serial = "0123456789abcdefghij"; // exactly 20: no terminator
    BlkRig rig(with(o));
    rig.start();
    const auto r = rig.request(0, VIRTIO_BLK_T_GET_ID, 0, 8, true);

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 9);
    CHECK(rig.data(r) == bytes_of("01234567"));
}

TEST_CASE("GET_LIFETIME is unsupported unless configured and negotiated", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const auto r = rig.request(0, VIRTIO_BLK_T_GET_LIFETIME, 0, 6, true);

    rig.notify();

    CHECK(rig.status(r) == VIRTIO_BLK_S_UNSUPP);
}

TEST_CASE("GET_LIFETIME returns the configured values; a short buffer gets IOERR", "[virtio][blk]")
{
    BlockOptions o;
    o.lifetime = Lifetime { VIRTIO_BLK_PRE_EOL_INFO_WARNING, 3, 11 };
    BlkRig rig(with(o));
    rig.start();
    const auto ok = rig.request(0, VIRTIO_BLK_T_GET_LIFETIME, 0, 6, true);
    const auto short_buf = rig.request(0, VIRTIO_BLK_T_GET_LIFETIME, 0, 4, true);

    rig.notify();

    CHECK(has_feature(rig.device->features(), VIRTIO_BLK_F_LIFETIME));
    CHECK(rig.status(ok) == VIRTIO_BLK_S_OK);
    const auto lt = rig.guest.read_obj<VirtioBlkLifetime>(ok.data);
    CHECK(lt.pre_eol_info.get() == VIRTIO_BLK_PRE_EOL_INFO_WARNING);
    CHECK(lt.device_lifetime_est_typ_a.get() == 3);
    CHECK(lt.device_lifetime_est_typ_b.get() == 11);
    CHECK(rig.status(short_buf) == VIRTIO_BLK_S_IOERR);
}

// ---- Discard, write zeroes, secure erase ----

TEST_CASE("discard, write zeroes and secure erase are unsupported unless negotiated", "[virtio][blk]")
{
    BlkRigOptions o;
    o.device = discard_options();
    o.drop_features = feature_bit(VIRTIO_BLK_F_DISCARD) | feature_bit(VIRTIO_BLK_F_WRITE_ZEROES)
        | feature_bit(VIRTIO_BLK_F_SECURE_ERASE);
    BlkRig rig(o);
    rig.start();
    const auto s = std::array { seg(0, 1) };
    const auto d = rig.segments(0, VIRTIO_BLK_T_DISCARD, s);
    const auto z = rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, s);
    const auto e = rig.segments(0, VIRTIO_BLK_T_SECURE_ERASE, s);

    rig.notify();

    CHECK(rig.status(d) == VIRTIO_BLK_S_UNSUPP);
    CHECK(rig.status(z) == VIRTIO_BLK_S_UNSUPP);
    CHECK(rig.status(e) == VIRTIO_BLK_S_UNSUPP);
    CHECK(rig.backend->records().empty());
}

TEST_CASE("a discard of several segments deallocates each range", "[virtio][blk]")
{
    BlkRig rig(with(discard_options()));
    fill_image(rig);
    rig.start();
    const auto s = std::array { seg(2, 4), seg(20, 8), seg(30, 0) };
    const auto r = rig.segments(0, VIRTIO_BLK_T_DISCARD, s);

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    const auto& rec = rig.backend->records();
    REQUIRE(rec.size() == 2); // the empty segment costs nothing
    CHECK(rec[0].op == IoOp::discard);
    CHECK(rec[0].offset == 2 * 512);
    CHECK(rec[0].length == 4 * 512);
    CHECK(rec[1].offset == 20 * 512);
    CHECK(rec[1].length == 8 * 512);
}

TEST_CASE("discard with unmap or any unknown flag is unsupported, whatever the ranges", "[virtio][blk]")
{
    for (const std::uint32_t flags : { 1U, 2U, 0x8000'0000U }) {
        INFO("flags " << flags);
        BlkRig rig(with(discard_options()));
        rig.start();
        const auto s = std::array { seg(0, 1), seg(UINT64_MAX, 1, flags) };
        const auto r = rig.segments(0, VIRTIO_BLK_T_DISCARD, s);

        rig.notify();

        CHECK(rig.status(r) == VIRTIO_BLK_S_UNSUPP);
        CHECK(rig.backend->records().empty());
    }
}

TEST_CASE("write zeroes accepts unmap, secure erase and write zeroes refuse unknown flags", "[virtio][blk]")
{
    BlkRig rig(with(discard_options()));
    rig.start();
    const auto unmap = std::array { seg(0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) };
    const auto unknown = std::array { seg(0, 1, 2) };
    const auto wz_unmap = rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, unmap);
    const auto wz_unknown = rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, unknown);
    const auto se_unmap = rig.segments(0, VIRTIO_BLK_T_SECURE_ERASE, unmap);

    rig.notify();
    rig.backend->complete_all();

    CHECK(rig.status(wz_unmap) == VIRTIO_BLK_S_OK);
    CHECK(rig.status(wz_unknown) == VIRTIO_BLK_S_UNSUPP);
    CHECK(rig.status(se_unmap) == VIRTIO_BLK_S_UNSUPP);
}

TEST_CASE("segment arrays are bounded: empty, ragged, too many or too large segments get IOERR", "[virtio][blk]")
{
    BlkRig rig(with(discard_options()));
    rig.start();
    const auto five = std::array { seg(0, 1), seg(1, 1), seg(2, 1), seg(3, 1), seg(4, 1) };
    const auto too_large = std::array { seg(0, 65) };
    const auto outside = std::array { seg(SECTORS - 1, 2) };
    const auto wraps = std::array { seg(UINT64_MAX - 1, 4) };
    const auto r_five = rig.segments(0, VIRTIO_BLK_T_DISCARD, five);
    const auto r_large = rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, too_large);
    const auto r_outside = rig.segments(0, VIRTIO_BLK_T_SECURE_ERASE, outside);
    const auto r_wraps = rig.segments(0, VIRTIO_BLK_T_DISCARD, wraps);
    const auto r_empty = rig.request(0, VIRTIO_BLK_T_DISCARD, 0, 0, false);
    const auto r_ragged = rig.request(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, 24, false);

    rig.notify();

    CHECK(rig.status(r_five) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(r_large) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(r_outside) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(r_wraps) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(r_empty) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(r_ragged) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.backend->records().empty());
}

TEST_CASE("write zeroes leaves zeroes and deallocates only with unmap on a discard-capable image", "[virtio][blk]")
{
    BlkRig rig(with(discard_options()));
    fill_image(rig);
    rig.start();
    const auto keep = std::array { seg(0, 2) };
    const auto unmap = std::array { seg(8, 2, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) };
    rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, keep);
    rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, unmap);

    rig.notify();
    rig.backend->complete_all();

    const auto& rec = rig.backend->records();
    REQUIRE(rec.size() == 2);
    CHECK(rec[0].op == IoOp::write_zeroes);
    CHECK_FALSE(rec[0].unmap);
    CHECK(rec[1].unmap);
    CHECK(rig.image(0, 1024) == std::vector<std::byte>(1024));
    CHECK(rig.image(8 * 512, 1024) == std::vector<std::byte>(1024));
}

TEST_CASE("without discard enabled, write zeroes never deallocates and says so in the config", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const auto unmap = std::array { seg(0, 2, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) };
    rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, unmap);

    rig.run();

    CHECK(rig.config_at<std::uint8_t>(offsetof(VirtioBlkConfig, write_zeroes_may_unmap)) == 0);
    REQUIRE(rig.backend->records().size() == 1);
    CHECK_FALSE(rig.backend->records()[0].unmap);
}

TEST_CASE("secure erase overwrites each range with zeroes and then commits", "[virtio][blk]")
{
    BlkRig rig(with(discard_options()));
    fill_image(rig);
    rig.start();
    const auto s = std::array { seg(4, 4), seg(40, 2) };
    const auto r = rig.segments(0, VIRTIO_BLK_T_SECURE_ERASE, s);

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    const auto& rec = rig.backend->records();
    REQUIRE(rec.size() == 3);
    CHECK(rec[0].op == IoOp::zero_fill);
    CHECK(rec[1].op == IoOp::zero_fill);
    CHECK(rec[2].op == IoOp::flush);
    CHECK(rig.image(4 * 512, 2048) == std::vector<std::byte>(2048));
}

TEST_CASE("secure erase segments sent device-writable, as Linux sends them, are accepted", "[virtio][blk]")
{
    BlkRig rig(with(discard_options()));
    fill_image(rig);
    rig.start();
    const auto s = std::array { seg(4, 4) };
    // drivers/block/virtio_blk.c picks the direction from bit 0 of the type (14 is even).
    const auto r = rig.request(0, VIRTIO_BLK_T_SECURE_ERASE, 0, 16, true, std::as_bytes(std::span(s)));

    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->len == 1);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    CHECK(rig.image(4 * 512, 2048) == std::vector<std::byte>(2048));
}

TEST_CASE("a secure erase whose commit fails reports IOERR and fails later flushes", "[virtio][blk]")
{
    BlkRig rig(with(discard_options()));
    rig.start();
    rig.backend->inject = [](const IoRequest& r) { return r.op == IoOp::flush ? -5 : 0; };
    const auto s = std::array { seg(0, 1) };
    const auto r = rig.segments(0, VIRTIO_BLK_T_SECURE_ERASE, s);
    rig.run();
    rig.backend->inject = nullptr;
    const auto fl = rig.flush();
    rig.run();

    CHECK(rig.status(r) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(fl) == VIRTIO_BLK_S_IOERR);
}

TEST_CASE("in writethrough mode write zeroes is committed before it completes", "[virtio][blk]")
{
    BlockOptions o;
    o.cache = CacheMode::writethrough;
    BlkRig rig(with(o));
    rig.start();
    const auto s = std::array { seg(0, 1) };
    const auto r = rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, s);

    rig.run();

    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    REQUIRE(rig.backend->records().size() == 2);
    CHECK(rig.backend->records()[1].op == IoOp::flush);
}

// ---- Multiqueue, batching, notifications ----

TEST_CASE("with num_queues > 1 MQ is offered and each queue completes its own requests", "[virtio][blk]")
{
    BlockOptions o;
    o.num_queues = 2;
    BlkRig rig(with(o));
    rig.start();
    const auto r0 = rig.read(0, 0, 512);
    const auto r1 = rig.read(1, 1, 512);

    rig.notify(0);
    rig.notify(1);
    rig.backend->complete_all();

    CHECK(has_feature(rig.device->features(), VIRTIO_BLK_F_MQ));
    CHECK(rig.config_at<le16>(offsetof(VirtioBlkConfig, num_queues)).get() == 2);
    const auto u0 = rig.queues[0].pop_used();
    const auto u1 = rig.queues[1].pop_used();
    REQUIRE(u0);
    REQUIRE(u1);
    CHECK(u0->id == r0.id);
    CHECK(u1->id == r1.id);
    CHECK(rig.irq.queue_count(0) == 1);
    CHECK(rig.irq.queue_count(1) == 1);
}

TEST_CASE("all requests of one notification go to the host in one submission, and complete with one interrupt",
    "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    for (std::uint64_t i = 0; i < 5; ++i) {
        rig.read(0, i, 512);
    }

    rig.notify();
    const std::uint32_t flushes = rig.backend->flushes();
    rig.backend->complete_all();

    CHECK(rig.backend->records().size() == 5);
    CHECK(flushes == 1);
    CHECK(rig.irq.queue_count(0) == 1);
}

TEST_CASE("with EVENT_IDX the device interrupts only when the driver's used_event is crossed", "[virtio][blk]")
{
    BlkRigOptions o;
    o.add_features = feature_bit(VIRTIO_F_EVENT_IDX);
    BlkRig rig(o);
    rig.start();
    rig.queues[0].split().set_used_event(1); // interrupt when the 2nd used entry is written
    rig.read(0, 0, 512);
    rig.run();
    const std::uint32_t after_first = rig.irq.queue_count(0);

    rig.read(0, 1, 512);
    rig.run();

    CHECK(after_first == 0);
    CHECK(rig.irq.queue_count(0) == 1);
}

TEST_CASE("reads and writes work on a packed ring", "[virtio][blk]")
{
    BlkRigOptions o;
    o.packed = true;
    BlkRig rig(o);
    rig.start();
    const auto payload = pattern(1024, 5);
    const auto wr = rig.write(0, 3, payload);
    const auto used_wr = rig.run();
    const auto rd = rig.read(0, 3, 1024);

    const auto used_rd = rig.run();

    REQUIRE(used_wr);
    REQUIRE(used_rd);
    CHECK(rig.status(wr) == VIRTIO_BLK_S_OK);
    CHECK(used_rd->len == 1025);
    CHECK(rig.data(rd) == payload);
}

// ---- Resize ----

TEST_CASE("resize changes the capacity, bumps the generation and sends a config interrupt", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    const std::uint32_t gen = rig.device->config_generation();

    const auto cap = rig.device->resize(2 * 64 * 1024);
    const auto r = rig.read(0, SECTORS, 512); // past the old end

    rig.run();

    REQUIRE(cap);
    CHECK(*cap == 2 * SECTORS);
    CHECK(rig.config_at<le64>(0).get() == 2 * SECTORS);
    CHECK(rig.device->config_generation() != gen);
    CHECK(rig.irq.config_count() == 1);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
}

TEST_CASE("resize refuses sizes that are not positive multiples of 512", "[virtio][blk]")
{
    BlkRig rig;

    CHECK_FALSE(rig.device->resize(0));
    CHECK_FALSE(rig.device->resize(1000));
    CHECK(rig.device->capacity() == SECTORS);
}

TEST_CASE("shrinking makes the cut-off sectors unreachable", "[virtio][blk]")
{
    BlkRig rig;
    rig.start();
    REQUIRE(rig.device->resize(32 * 512));
    const auto r = rig.read(0, 32, 512);

    rig.notify();

    CHECK(rig.status(r) == VIRTIO_BLK_S_IOERR);
}

// ---- Resets with requests in flight ----

TEST_CASE("a device reset waits for in-flight I/O and completes none of it afterwards", "[virtio][blk][reset]")
{
    BlkRig rig;
    rig.start();
    const auto rd = rig.read(0, 0, 512);
    const auto fl = rig.flush();
    rig.notify();
    REQUIRE(rig.device->requests_in_flight() == 2);
    const std::uint32_t irqs = rig.irq.queue_count(0);

    rig.device->reset();

    CHECK(rig.backend->drains() == 1);
    CHECK(rig.backend->in_flight() == 0);
    CHECK(rig.device->requests_in_flight() == 0);
    CHECK(rig.status(rd) == STATUS_UNTOUCHED);
    CHECK(rig.status(fl) == STATUS_UNTOUCHED);
    CHECK_FALSE(rig.queues[0].pop_used());
    CHECK(rig.irq.queue_count(0) == irqs);
}

TEST_CASE("the device works again after a reset with requests in flight", "[virtio][blk][reset]")
{
    BlkRig rig;
    rig.start();
    rig.read(0, 0, 512);
    rig.notify();

    rig.restart();
    const auto r = rig.read(0, 1, 512);
    const auto used = rig.run();

    REQUIRE(used);
    CHECK(used->id == r.id);
    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
}

TEST_CASE("a queue reset drops that queue's in-flight requests and completes the others'", "[virtio][blk][reset]")
{
    BlockOptions o;
    o.num_queues = 2;
    BlkRig rig(with(o));
    rig.start();
    const auto r0 = rig.read(0, 0, 512);
    const auto r1 = rig.read(1, 1, 512);
    rig.notify(0);
    rig.notify(1);

    rig.device->reset_queue(1);

    CHECK(rig.backend->in_flight() == 0);
    CHECK(rig.status(r0) == VIRTIO_BLK_S_OK);
    CHECK(rig.status(r1) == STATUS_UNTOUCHED);
    CHECK(rig.queues[0].pop_used());
    CHECK_FALSE(rig.queues[1].pop_used());
}

TEST_CASE("a secure erase in flight across a reset does not go on to its commit", "[virtio][blk][reset]")
{
    BlkRig rig(with(discard_options()));
    rig.start();
    const auto s = std::array { seg(0, 1) };
    const auto r = rig.segments(0, VIRTIO_BLK_T_SECURE_ERASE, s);
    rig.notify();

    rig.device->reset();

    CHECK(rig.status(r) == STATUS_UNTOUCHED);
    REQUIRE(rig.backend->records().size() == 1);
    CHECK(rig.backend->records()[0].op == IoOp::zero_fill);
}

TEST_CASE("a notify before activation is ignored", "[virtio][blk]")
{
    BlkRig rig;

    rig.device->on_queue_notify(0);
    rig.device->on_queue_notify(7);

    CHECK(rig.backend->records().empty());
}
