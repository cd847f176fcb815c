// SPDX-License-Identifier: Apache-2.0
// The io_uring backend on real files in a temporary directory, behind the block device: data
// round trips, batching, short reads at a shrunken end of file, holes, zeroes, EFBIG, resets
// with requests in flight, and completions through an eventfd watch on the event loop.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/block_rig.hpp"
#include "virtio/devices/block/io_uring_backend.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::block;
using namespace vmm::virtio::test;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t IMAGE = 256 * 1024;

// A file of `bytes` filled with pattern(seed), removed at the end.
class TempImage {
public:
    explicit TempImage(std::size_t bytes, std::uint8_t seed = 3)
    {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/vireo-blk-XXXXXX";
        const int fd = ::mkstemp(templ.data());
        REQUIRE(fd >= 0);
        path_ = templ;
        const auto data = pattern(bytes, seed);
        REQUIRE(::pwrite(fd, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));
        ::close(fd);
    }
    ~TempImage()
    {
        std::error_code ec;
        fs::remove(path_, ec);
    }
    TempImage(const TempImage&) = delete;
    TempImage& operator=(const TempImage&) = delete;

    [[nodiscard]] const fs::path& path() const noexcept { return path_; }
    [[nodiscard]] std::vector<std::byte> read(std::size_t off, std::size_t len) const
    {
        std::vector<std::byte> out(len);
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        REQUIRE(::pread(fd, out.data(), len, static_cast<off_t>(off)) == static_cast<ssize_t>(len));
        ::close(fd);
        return out;
    }
    [[nodiscard]] std::uint64_t allocated_bytes() const
    {
        struct stat st { };
        REQUIRE(::stat(path_.c_str(), &st) == 0);
        return static_cast<std::uint64_t>(st.st_blocks) * 512;
    }

private:
    fs::path path_;
};

struct UringRig {
    explicit UringRig(const TempImage& image, BlockOptions o = {}, EventLoop* loop = nullptr)
    {
        IoUringOptions io;
        io.read_only = o.read_only;
        io.loop = loop;
        io.entries = 32;
        auto b = IoUringBackend::open(image.path(), io);
        REQUIRE(b);
        backend = b->get();
        BlkRigOptions ro;
        ro.device = o;
        IoUringBackend* raw = backend;
        rig.emplace(ro, std::move(b).value(), [raw] {
            while (raw->in_flight() > 0) {
                raw->poll(true);
            }
        });
    }
    IoUringBackend* backend = nullptr;
    std::optional<BlkRig> rig;
};

} // namespace

TEST_CASE("io_uring: the image size sets the capacity", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE + 100); // a partial last sector is not visible
    UringRig u(image);

    CHECK(u.rig->device->capacity() == IMAGE / 512);
    CHECK(u.backend->size() == IMAGE + 100);
}

TEST_CASE("io_uring: a write reaches the file and a read brings it back into guest memory", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    UringRig u(image);
    auto& rig = *u.rig;
    rig.start();
    const auto payload = pattern(8192, 11);
    const auto wr = rig.write(0, 16, payload);
    rig.run();
    const auto rd = rig.read(0, 16, 8192);

    const auto used = rig.run();

    CHECK(rig.status(wr) == VIRTIO_BLK_S_OK);
    REQUIRE(used);
    CHECK(used->len == 8193);
    CHECK(rig.status(rd) == VIRTIO_BLK_S_OK);
    CHECK(rig.data(rd) == payload);
    CHECK(image.read(16 * 512, 8192) == payload);
}

TEST_CASE("io_uring: a read scattered over many guest buffers lands in each of them", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE, 21);
    UringRig u(image);
    auto& rig = *u.rig;
    rig.start();
    std::vector<Buf> bufs { readable(rig.header_at(VIRTIO_BLK_T_IN, 2), 16) };
    std::vector<std::uint64_t> parts;
    for (int i = 0; i < 8; ++i) {
        parts.push_back(rig.guest.alloc(512, 512));
        bufs.push_back(writable(parts.back(), 512));
    }
    const std::uint64_t status = rig.status_byte();
    bufs.push_back(writable(status, 1));
    rig.queues[0].add(bufs);

    rig.run();

    CHECK(std::to_integer<int>(rig.guest.read(status, 1)[0]) == VIRTIO_BLK_S_OK);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        CHECK(rig.guest.read(parts[i], 512) == image.read((2 + i) * 512, 512));
    }
}

TEST_CASE("io_uring: the requests of one notification are submitted with one system call", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    UringRig u(image);
    auto& rig = *u.rig;
    rig.start();
    for (std::uint64_t i = 0; i < 12; ++i) {
        rig.read(0, i * 8, 4096);
    }
    const std::uint64_t before = u.backend->submit_calls();

    rig.notify();
    const std::uint64_t calls = u.backend->submit_calls() - before;
    std::size_t completed = 0;
    while (u.backend->in_flight() > 0) {
        u.backend->poll(true);
    }
    while (rig.queues[0].pop_used()) {
        ++completed;
    }

    CHECK(calls == 1);
    CHECK(completed == 12);
}

TEST_CASE("io_uring: a read past an end of file that moved under the VM fails with IOERR", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    UringRig u(image);
    auto& rig = *u.rig;
    rig.start();
    REQUIRE(::truncate(image.path().c_str(), 6144) == 0);
    const auto across = rig.read(0, 8, 4096); // 4096..8191: short (2 KiB), then end of file
    const auto inside = rig.read(0, 0, 4096);

    rig.run();

    CHECK(rig.status(across) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(inside) == VIRTIO_BLK_S_OK);
}

TEST_CASE("io_uring: flush succeeds on a healthy file", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    UringRig u(image);
    auto& rig = *u.rig;
    rig.start();
    const auto r = rig.flush();

    rig.run();

    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    CHECK_FALSE(rig.device->flush_failed());
}

TEST_CASE("io_uring: writethrough writes complete (RWF_DSYNC) with their data in the file", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    BlockOptions o;
    o.cache = CacheMode::writethrough;
    UringRig u(image, o);
    auto& rig = *u.rig;
    rig.start();
    const auto payload = pattern(4096, 2);
    const auto r = rig.write(0, 0, payload);

    rig.run();

    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    CHECK(image.read(0, 4096) == payload);
}

TEST_CASE("io_uring: discard punches a hole and write zeroes / secure erase leave zeroes", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    BlockOptions o;
    o.discard = true;
    o.secure_erase = true;
    UringRig u(image, o);
    auto& rig = *u.rig;
    rig.start();
    const std::uint64_t allocated = image.allocated_bytes();
    const auto d = std::array { seg(0, 128) };                                       // 64 KiB
    const auto z = std::array { seg(200, 16), seg(240, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) };
    const auto e = std::array { seg(300, 24) };
    const auto rd = rig.segments(0, VIRTIO_BLK_T_DISCARD, d);
    const auto rz = rig.segments(0, VIRTIO_BLK_T_WRITE_ZEROES, z);
    const auto re = rig.segments(0, VIRTIO_BLK_T_SECURE_ERASE, e);

    rig.run();

    CHECK(rig.status(rd) == VIRTIO_BLK_S_OK);
    CHECK(rig.status(rz) == VIRTIO_BLK_S_OK);
    CHECK(rig.status(re) == VIRTIO_BLK_S_OK);
    CHECK(image.read(0, 64 * 1024) == std::vector<std::byte>(64 * 1024));
    CHECK(image.read(200 * 512, 8192) == std::vector<std::byte>(8192));
    CHECK(image.read(240 * 512, 4096) == std::vector<std::byte>(4096));
    CHECK(image.read(300 * 512, 24 * 512) == std::vector<std::byte>(24 * 512));
    CHECK(image.read(128 * 512, 512) != std::vector<std::byte>(512)); // untouched between
    // Filesystems that cannot punch holes keep the blocks; the data is gone either way.
    CHECK(image.allocated_bytes() <= allocated);
}

TEST_CASE("io_uring: a write past RLIMIT_FSIZE fails with IOERR instead of killing the process",
    "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    UringRig u(image);
    auto& rig = *u.rig;
    rig.start();
    struct sigaction old_action { };
    struct sigaction ignore { };
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGXFSZ, &ignore, &old_action);
    rlimit old_limit { };
    ::getrlimit(RLIMIT_FSIZE, &old_limit);
    rlimit small = old_limit;
    small.rlim_cur = 64 * 1024;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const auto r = rig.write(0, 256, pattern(4096)); // at 128 KiB
    const auto ok = rig.write(0, 0, pattern(4096));

    rig.run();
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::sigaction(SIGXFSZ, &old_action, nullptr);

    CHECK(rig.status(r) == VIRTIO_BLK_S_IOERR);
    CHECK(rig.status(ok) == VIRTIO_BLK_S_OK);
}

TEST_CASE("io_uring: a read-only image refuses writes without touching the file", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE, 9);
    BlockOptions o;
    o.read_only = true;
    UringRig u(image, o);
    auto& rig = *u.rig;
    rig.start();
    const auto before = image.read(0, 4096);
    const auto r = rig.write(0, 0, pattern(4096, 1));

    rig.run();

    CHECK(rig.status(r) == VIRTIO_BLK_S_IOERR);
    CHECK(image.read(0, 4096) == before);
    CHECK_FALSE(u.backend->resize(IMAGE * 2));
}

TEST_CASE("io_uring: a second writer of one image is refused while the first has it open", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    IoUringOptions io;
    auto first = IoUringBackend::open(image.path(), io);
    REQUIRE(first);

    auto second = IoUringBackend::open(image.path(), io);

    REQUIRE_FALSE(second);
    CHECK_THAT(second.error().describe(), Catch::Matchers::Contains("in use"));
}

TEST_CASE("io_uring: a missing image is named with the fix", "[virtio][blk][io_uring]")
{
    auto b = IoUringBackend::open("/nonexistent/dir/disk.img", IoUringOptions {});

    REQUIRE_FALSE(b);
    CHECK_THAT(b.error().describe(), Catch::Matchers::Contains("/nonexistent/dir/disk.img"));
    CHECK_THAT(b.error().describe(), Catch::Matchers::Contains("truncate"));
}

TEST_CASE("io_uring: resize grows the file and the device sees the new capacity", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE);
    UringRig u(image);
    auto& rig = *u.rig;
    rig.start();

    const auto cap = rig.device->resize(IMAGE * 4);

    REQUIRE(cap);
    CHECK(*cap == IMAGE * 4 / 512);
    CHECK(fs::file_size(image.path()) == IMAGE * 4);
    CHECK(rig.irq.config_count() == 1);
}

TEST_CASE("io_uring: reset with requests in flight waits for them and writes no status", "[virtio][blk][io_uring][reset]")
{
    TempImage image(IMAGE);
    UringRig u(image);
    auto& rig = *u.rig;
    rig.start();
    std::vector<BlkRequest> reqs;
    for (std::uint64_t i = 0; i < 12; ++i) {
        reqs.push_back(rig.read(0, i * 16, 8192));
    }
    reqs.push_back(rig.flush());
    rig.notify();
    // Reads of the page cache may complete inside the submission, before notify() returns;
    // the flush (an fsync) does not.
    std::set<std::uint16_t> completed;
    while (auto used = rig.queues[0].pop_used()) {
        completed.insert(static_cast<std::uint16_t>(used->id));
    }
    REQUIRE(rig.device->requests_in_flight() > 0);
    REQUIRE(completed.size() < reqs.size());

    rig.device->reset();

    CHECK(u.backend->in_flight() == 0);
    CHECK(rig.device->requests_in_flight() == 0);
    for (const auto& r : reqs) {
        if (completed.count(r.id) == 0) {
            CHECK(rig.status(r) == STATUS_UNTOUCHED);
        }
    }
    CHECK_FALSE(rig.queues[0].pop_used());
}

TEST_CASE("io_uring: completions arrive through the eventfd watch on the event loop", "[virtio][blk][io_uring]")
{
    TempImage image(IMAGE, 5);
    EventLoop loop;
    UringRig u(image, {}, &loop);
    auto& rig = *u.rig;
    rig.start();
    const auto r = rig.read(0, 8, 4096);
    rig.notify();

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (rig.device->requests_in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        loop.io().run_one_for(std::chrono::milliseconds(100));
    }

    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    CHECK(rig.data(r) == image.read(8 * 512, 4096));
    CHECK(rig.irq.queue_count(0) == 1);
}

TEST_CASE("io_uring: secure erase and zero-fill of more than one zero buffer per write", "[virtio][blk][io_uring]")
{
    TempImage image(4 * 1024 * 1024);
    BlockOptions o;
    o.secure_erase = true;
    UringRig u(image, o);
    auto& rig = *u.rig;
    rig.start();
    const auto e = std::array { seg(4096, 2048 + 8) }; // 1 MiB + 4 KiB at 2 MiB
    const auto r = rig.segments(0, VIRTIO_BLK_T_SECURE_ERASE, e);

    rig.run();

    CHECK(rig.status(r) == VIRTIO_BLK_S_OK);
    CHECK(image.read(2 * 1024 * 1024, 1024 * 1024 + 4096) == std::vector<std::byte>(1024 * 1024 + 4096));
}
