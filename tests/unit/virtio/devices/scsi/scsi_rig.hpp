// SPDX-License-Identifier: Apache-2.0
// ScsiRig: a ScsiDisk over an in-memory backend (completed when the test says) or io_uring on a
// temporary file, a sink that records completions, CDB builders and a sense data decoder.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/fake_block_backend.hpp"
#include "virtio/devices/block/fault_backend.hpp"
#include "virtio/devices/block/io_uring_backend.hpp"
#include "virtio/devices/scsi/disk/cdb.hpp"
#include "virtio/devices/scsi/disk/scsi_disk.hpp"

namespace vmm::virtio::scsi::test {

using Bytes = std::vector<std::uint8_t>;

[[nodiscard]] inline Bytes byte_pattern(std::size_t len, std::uint8_t seed)
{
    Bytes out(len);
    for (std::size_t i = 0; i < len; ++i) {
        out[i] = static_cast<std::uint8_t>((i * 31 + seed * 7 + (i >> 9)) & 0xff);
    }
    return out;
}

// The guest's buffers: `buf` cut into `pieces` iovecs (the last takes the remainder).
[[nodiscard]] inline IovecList iov_of(Bytes& buf, std::size_t pieces = 1)
{
    IovecList out;
    if (buf.empty()) {
        return out;
    }
    const std::size_t step = std::max<std::size_t>(1, buf.size() / pieces);
    for (std::size_t at = 0; at < buf.size(); at += step) {
        const std::size_t n = out.size() + 1 == pieces ? buf.size() - at : std::min(step, buf.size() - at);
        out.push_back(iovec { buf.data() + at, n });
        if (out.size() == pieces) {
            break;
        }
    }
    return out;
}

// A CDB of `len` bytes with `op`, filled in field by field.
class Cdb {
public:
    Cdb(std::uint8_t op, std::size_t len) : bytes_(len) { bytes_[0] = op; }
    Cdb& set(std::size_t at, std::uint8_t v)
    {
        bytes_.at(at) = v;
        return *this;
    }
    Cdb& be(std::size_t at, std::size_t n, std::uint64_t v)
    {
        REQUIRE(at + n <= bytes_.size());
        store_be(bytes_, at, n, v);
        return *this;
    }
    [[nodiscard]] std::span<const std::uint8_t> span() const { return bytes_; }
    [[nodiscard]] const Bytes& bytes() const { return bytes_; }

private:
    Bytes bytes_;
};

// READ/WRITE/VERIFY/... (10), (12) and (16): LBA and length where SBC-3 puts them.
[[nodiscard]] inline Cdb rw10(std::uint8_t op, std::uint64_t lba, std::uint16_t blocks, std::uint8_t flags = 0)
{
    return std::move(Cdb(op, 10).set(1, flags).be(2, 4, lba).be(7, 2, blocks));
}
[[nodiscard]] inline Cdb rw12(std::uint8_t op, std::uint64_t lba, std::uint32_t blocks, std::uint8_t flags = 0)
{
    return std::move(Cdb(op, 12).set(1, flags).be(2, 4, lba).be(6, 4, blocks));
}
[[nodiscard]] inline Cdb rw16(std::uint8_t op, std::uint64_t lba, std::uint32_t blocks, std::uint8_t flags = 0)
{
    return std::move(Cdb(op, 16).set(1, flags).be(2, 8, lba).be(10, 4, blocks));
}
[[nodiscard]] inline Cdb rw6(std::uint8_t op, std::uint32_t lba, std::uint8_t blocks)
{
    return std::move(Cdb(op, 6).be(1, 3, lba & 0x1f'ffff).set(4, blocks));
}

// Sense data, decoded from either format.
struct Sense {
    bool descriptor = false;
    SenseCode code;
    std::optional<std::uint64_t> information;
    std::optional<FieldPointer> field;
};

[[nodiscard]] inline std::optional<FieldPointer> decode_sks(std::span<const std::uint8_t> b)
{
    if ((b[0] & 0x80) == 0) {
        return std::nullopt;
    }
    FieldPointer f;
    f.in_cdb = (b[0] & 0x40) != 0;
    f.bit = (b[0] & 0x08) != 0 ? static_cast<std::int8_t>(b[0] & 0x07) : std::int8_t { -1 };
    f.byte = static_cast<std::uint16_t>((b[1] << 8) | b[2]);
    return f;
}

[[nodiscard]] inline Sense decode_sense(std::span<const std::uint8_t> s)
{
    Sense out;
    REQUIRE(s.size() >= 8);
    const std::uint8_t code = s[0] & 0x7f;
    if (code == 0x70) {
        REQUIRE(s.size() >= 18);
        CHECK(s[7] == 10);
        out.code = SenseCode { static_cast<std::uint8_t>(s[2] & 0x0f), s[12], s[13] };
        if ((s[0] & 0x80) != 0) {
            out.information = load_be(s, 3, 4);
        }
        out.field = decode_sks(s.subspan(15, 3));
        return out;
    }
    REQUIRE(code == 0x72);
    out.descriptor = true;
    out.code = SenseCode { static_cast<std::uint8_t>(s[1] & 0x0f), s[2], s[3] };
    REQUIRE(s.size() == 8 + std::size_t { s[7] });
    for (std::size_t at = 8; at < s.size(); at += 2 + std::size_t { s[at + 1] }) {
        if (s[at] == 0x00) {
            CHECK(s[at + 1] == 0x0a);
            CHECK((s[at + 2] & 0x80) != 0);
            out.information = load_be(s, at + 4, 8);
        } else if (s[at] == 0x02) {
            CHECK(s[at + 1] == 0x06);
            out.field = decode_sks(s.subspan(at + 4, 3));
        }
    }
    return out;
}

struct Completion {
    std::uint64_t tag = 0;
    ScsiResult result;
};

class RecordingSink final : public ScsiCompletionSink {
public:
    void scsi_complete(std::uint64_t tag, const ScsiResult& result) noexcept override
    {
        done.push_back(Completion { tag, result });
        if (on_complete) {
            on_complete(tag);
        }
    }
    void scsi_batch_done() noexcept override { ++batches; }

    // The completion of `tag`, which must have come exactly once.
    [[nodiscard]] ScsiResult of(std::uint64_t tag) const
    {
        std::optional<ScsiResult> found;
        for (const auto& c : done) {
            if (c.tag == tag) {
                REQUIRE_FALSE(found);
                found = c.result;
            }
        }
        REQUIRE(found);
        return *found;
    }
    [[nodiscard]] bool has(std::uint64_t tag) const
    {
        return std::any_of(done.begin(), done.end(), [&](const Completion& c) { return c.tag == tag; });
    }

    std::vector<Completion> done;
    int batches = 0;
    std::function<void(std::uint64_t)> on_complete;
};

// A file of `bytes` filled with byte_pattern(seed) (or sparse), removed at the end.
class TempImage {
public:
    explicit TempImage(std::size_t bytes, std::optional<std::uint8_t> seed = 3)
    {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/vireo-scsi-XXXXXX";
        const int fd = ::mkstemp(templ.data());
        REQUIRE(fd >= 0);
        path_ = templ;
        if (seed) {
            const auto data = byte_pattern(bytes, *seed);
            REQUIRE(::pwrite(fd, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));
        } else {
            REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes)) == 0);
        }
        ::close(fd);
    }
    ~TempImage()
    {
        std::error_code ec;
        std::filesystem::remove(path_, ec);
    }
    TempImage(const TempImage&) = delete;
    TempImage& operator=(const TempImage&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    [[nodiscard]] Bytes read(std::size_t off, std::size_t len) const
    {
        Bytes out(len);
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        REQUIRE(::pread(fd, out.data(), len, static_cast<off_t>(off)) == static_cast<ssize_t>(len));
        ::close(fd);
        return out;
    }
    void write(std::size_t off, const Bytes& data) const
    {
        const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        REQUIRE(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off)) == static_cast<ssize_t>(data.size()));
        ::close(fd);
    }

private:
    std::filesystem::path path_;
};

// Options for most tests: no power-on unit attention in the way.
[[nodiscard]] inline ScsiDiskOptions quiet_options()
{
    ScsiDiskOptions o;
    o.power_on_attention = false;
    return o;
}

// What a command left behind: its result, and the whole data-in buffer.
struct Outcome {
    ScsiResult result;
    Bytes in;

    [[nodiscard]] std::uint8_t status() const { return result.status; }
    [[nodiscard]] Sense sense() const
    {
        REQUIRE(result.status == SCSI_STATUS_CHECK_CONDITION);
        return decode_sense(result.sense_data());
    }
    [[nodiscard]] SenseCode code() const { return sense().code; }
    [[nodiscard]] Bytes data() const { return Bytes(in.begin(), in.begin() + result.data_in_len); }
};

class ScsiRig {
public:
    // Over an in-memory image whose requests stay in flight until settle().
    explicit ScsiRig(
        ScsiDiskOptions o = quiet_options(), std::size_t image_bytes = 1 << 20, bool backend_read_only = false)
    {
        auto b = std::make_unique<virtio::test::FakeBlockBackend>(image_bytes, backend_read_only);
        fake = b.get();
        settle_ = [f = fake] { f->complete_all(); };
        init(std::move(b), std::move(o));
    }
    // Over another backend; `settle` waits until it has completed everything in flight.
    ScsiRig(ScsiDiskOptions o, std::unique_ptr<block::BlockBackend> backend, std::function<void()> settle)
        : settle_(std::move(settle))
    {
        init(std::move(backend), std::move(o));
    }

    // Executes one command, flushes the batch and lets the backend finish; the command must
    // have completed by then.
    Outcome run(std::span<const std::uint8_t> cdb, std::size_t in_len = 0, Bytes out = {}, std::size_t pieces = 1)
    {
        Outcome o;
        o.in.assign(in_len, 0xee);
        const IovecList in_iov = iov_of(o.in, pieces);
        const IovecList out_iov = iov_of(out, pieces);
        const std::uint64_t tag = next_tag++;
        disk->execute(tag, cdb, out_iov, in_iov);
        disk->flush_submissions();
        settle();
        o.result = sink.of(tag);
        return o;
    }
    Outcome run(const Cdb& cdb, std::size_t in_len = 0, Bytes out = {}, std::size_t pieces = 1)
    {
        return run(cdb.span(), in_len, std::move(out), pieces);
    }
    void settle() { settle_(); }

    RecordingSink sink;
    std::unique_ptr<ScsiDisk> disk;
    virtio::test::FakeBlockBackend* fake = nullptr;
    std::uint64_t next_tag = 1;

private:
    void init(std::unique_ptr<block::BlockBackend> backend, ScsiDiskOptions o)
    {
        auto d = ScsiDisk::create(std::move(backend), std::move(o));
        REQUIRE(d);
        disk = std::move(d).value();
        disk->set_sink(&sink);
    }
    std::function<void()> settle_;
};

// A ScsiDisk over io_uring on a file (no loop: completions are polled), optionally behind a
// FaultBackend.
struct UringScsi {
    explicit UringScsi(const TempImage& image, ScsiDiskOptions o = quiet_options(), bool faults = false)
    {
        block::IoUringOptions io;
        io.read_only = o.read_only;
        io.entries = 32;
        auto b = block::IoUringBackend::open(image.path(), io);
        REQUIRE(b);
        uring = b->get();
        std::unique_ptr<block::BlockBackend> backend = std::move(b).value();
        if (faults) {
            auto f = std::make_unique<block::FaultBackend>(std::move(backend), nullptr);
            fault = f.get();
            backend = std::move(f);
        }
        block::IoUringBackend* raw = uring;
        rig.emplace(o, std::move(backend), [raw] {
            while (raw->in_flight() > 0) {
                raw->poll(true);
            }
        });
        const int fd = ::open(image.path().c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        rig->disk->set_allocation_fd(UniqueFd(fd));
    }
    block::IoUringBackend* uring = nullptr;
    block::FaultBackend* fault = nullptr;
    std::optional<ScsiRig> rig;
};

} // namespace vmm::virtio::scsi::test
