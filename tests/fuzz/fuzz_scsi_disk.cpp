// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the SCSI disk logical unit (ScsiDisk) fed arbitrary CDBs, data-out bytes and
// data-in sizes, over the in-memory test backend whose completions, errors, resizes, aborts and
// resets the input interleaves.
//
// Input: byte 0 picks the disk options; then operations, each a kind byte and its arguments:
// execute (CDB length and bytes, data-in and data-out sizes, buffer split, tag; then the
// data-out bytes), flush the batch, complete some host requests, abort, reset or resize,
// inject host errors. Checked: one completion per command and none for anything else;
// data_in_len and data_out_len within the buffers; sense data well formed; no host request
// beyond the image or with iovecs that disagree with its length; nothing in flight after a
// reset; no write into a data-in buffer after its command completed.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include <spdlog/spdlog.h>

#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/fake_block_backend.hpp"
#include "virtio/devices/scsi/disk/cdb.hpp"
#include "virtio/devices/scsi/disk/scsi_disk.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::scsi;
using vmm::fuzz::invariant_failed;

namespace {

constexpr std::size_t MAX_OPS = 128;
constexpr std::size_t MAX_BUFFER = 64 * 1024;
constexpr std::size_t MAX_CDB = 32; // virtio-scsi's default cdb_size
constexpr std::uint8_t RETIRED = 0xa5;

// The operation codes worth most of the fuzzer's attention; other opcodes come from raw bytes.
constexpr std::array<std::uint8_t, 31> OPCODES { SCSI_OP_TEST_UNIT_READY, SCSI_OP_REQUEST_SENSE, SCSI_OP_READ_6,
    SCSI_OP_WRITE_6, SCSI_OP_INQUIRY, SCSI_OP_MODE_SELECT_6, SCSI_OP_MODE_SENSE_6, SCSI_OP_START_STOP_UNIT,
    SCSI_OP_PREVENT_ALLOW_MEDIUM_REMOVAL, SCSI_OP_READ_CAPACITY_10, SCSI_OP_READ_10, SCSI_OP_WRITE_10,
    SCSI_OP_WRITE_AND_VERIFY_10, SCSI_OP_VERIFY_10, SCSI_OP_SYNCHRONIZE_CACHE_10, SCSI_OP_WRITE_SAME_10,
    SCSI_OP_UNMAP, SCSI_OP_MODE_SELECT_10, SCSI_OP_MODE_SENSE_10, SCSI_OP_READ_16, SCSI_OP_WRITE_16,
    SCSI_OP_WRITE_AND_VERIFY_16, SCSI_OP_VERIFY_16, SCSI_OP_SYNCHRONIZE_CACHE_16, SCSI_OP_WRITE_SAME_16,
    SCSI_OP_SERVICE_ACTION_IN_16, SCSI_OP_REPORT_LUNS, SCSI_OP_READ_12, SCSI_OP_WRITE_12, 0x04, 0x7f };

class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    [[nodiscard]] bool empty() const noexcept { return at_ >= size_; }
    std::uint8_t byte() noexcept { return at_ < size_ ? data_[at_++] : 0; }
    std::uint16_t u16() noexcept
    {
        const std::uint16_t lo = byte();
        return static_cast<std::uint16_t>(lo | (byte() << 8));
    }
    // Up to n bytes; missing ones are zero.
    void take(std::span<std::uint8_t> out) noexcept
    {
        const std::size_t n = std::min(out.size(), size_ - std::min(at_, size_));
        if (n != 0) {
            std::memcpy(out.data(), data_ + at_, n);
        }
        at_ += n;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

// What the disk asks of the host: everything within the image it knows (the disk range-checks
// against that size), reads and writes with iovecs that add up to their length, no writes to a
// read-only image.
void check_host_request(const block::IoRequest& r, std::uint64_t image_size, bool read_only)
{
    if (r.offset > image_size || r.length > image_size - r.offset) {
        invariant_failed("host request beyond the image");
    }
    if (r.op == block::IoOp::read || r.op == block::IoOp::write) {
        if (iovecs_bytes(r.iov) != r.length || r.length == 0) {
            invariant_failed("read/write iovecs do not match the length");
        }
        if (read_only && r.op == block::IoOp::write) {
            invariant_failed("write to a read-only image");
        }
    }
}

// One executed command and its buffers, kept until the end of the run.
struct Command {
    std::uint64_t tag = 0;
    std::vector<std::uint8_t> in;
    std::vector<std::uint8_t> out;
    IovecList in_iov;
    IovecList out_iov;
    bool done = false;
};

IovecList split(std::vector<std::uint8_t>& buf, std::uint8_t pieces)
{
    IovecList out;
    std::size_t at = 0;
    // Uneven pieces, some empty: zero-length iovecs are legal and must be harmless.
    for (std::uint8_t i = 0; i < pieces % 8 && at < buf.size(); ++i) {
        const std::size_t n = std::min(buf.size() - at, std::size_t { 1 } << ((pieces + i * 3) % 14));
        out.push_back(iovec { buf.data() + at, (i % 3 == 1) ? 0 : n });
        at += (i % 3 == 1) ? 0 : n;
    }
    if (at < buf.size()) {
        out.push_back(iovec { buf.data() + at, buf.size() - at });
    }
    return out;
}

class Sink final : public ScsiCompletionSink {
public:
    void scsi_complete(std::uint64_t tag, const ScsiResult& r) noexcept override
    {
        Command* c = nullptr;
        if (executing != nullptr && executing->tag == tag && !executing->done) {
            c = executing; // completed inside execute(): the backend completes nothing there
        } else {
            const auto it = in_flight.find(tag);
            if (it == in_flight.end()) {
                invariant_failed("completion for a command that is not in flight");
            }
            c = it->second;
            in_flight.erase(it);
        }
        check(*c, r);
        c->done = true;
        // From now on nothing may write into its data-in buffer.
        if (!c->in.empty()) { // an empty vector's data() may be null, which memset must not get
            std::memset(c->in.data(), RETIRED, c->in.size());
        }
    }
    void scsi_batch_done() noexcept override {}

    static void check(const Command& c, const ScsiResult& r)
    {
        if (r.data_in_len > c.in.size() || r.data_out_len > c.out.size()) {
            invariant_failed("more data reported than the buffers hold");
        }
        switch (r.status) {
        case SCSI_STATUS_CHECK_CONDITION: {
            if (r.sense_len < 8 || r.sense_len > SCSI_SENSE_MAX) {
                invariant_failed("CHECK CONDITION without well-formed sense");
            }
            const std::uint8_t code = r.sense[0] & 0x7f;
            if (code == SCSI_SENSE_FIXED_CURRENT) {
                if (r.sense_len != SCSI_SENSE_FIXED_LEN || r.sense[7] != SCSI_SENSE_FIXED_LEN - 8) {
                    invariant_failed("fixed sense of the wrong length");
                }
            } else if (code != SCSI_SENSE_DESCRIPTOR_CURRENT || std::size_t { r.sense[7] } + 8 != r.sense_len) {
                invariant_failed("descriptor sense of the wrong length");
            }
            if (r.data_in_len != 0) {
                invariant_failed("data reported with CHECK CONDITION");
            }
            break;
        }
        case SCSI_STATUS_GOOD:
        case SCSI_STATUS_BUSY:
        case SCSI_STATUS_TASK_SET_FULL:
        case SCSI_STATUS_TASK_ABORTED:
            if (r.sense_len != 0 || (r.status != SCSI_STATUS_GOOD && r.data_in_len != 0)) {
                invariant_failed("sense or data with a status that has none");
            }
            break;
        default:
            invariant_failed("unexpected status");
        }
    }

    Command* executing = nullptr;
    std::map<std::uint64_t, Command*> in_flight;
};

ScsiDiskOptions options_from(std::uint8_t b)
{
    ScsiDiskOptions o;
    o.block_size = (b & 0x01) != 0 ? 4096 : 512;
    o.thin = (b & 0x02) != 0;
    o.read_only = (b & 0x04) != 0;
    o.write_cache = (b & 0x08) == 0;
    o.power_on_attention = (b & 0x10) != 0;
    o.serial = (b & 0x20) != 0 ? "FUZZ-SERIAL" : "";
    o.max_transfer_blocks = (b & 0x40) != 0 ? 8 : 0;
    o.max_unmap_descriptors = (b & 0x80) != 0 ? 2 : 256;
    o.max_unmap_blocks = (b & 0x80) != 0 ? 64 : 0x3f'ffff;
    o.max_write_same_blocks = (b & 0x40) != 0 ? 300 : 0x3f'ffff;
    return o;
}

void check_idle(const ScsiDisk& disk, const Sink& sink, const test::FakeBlockBackend& backend)
{
    if (disk.commands_in_flight() != 0 || !sink.in_flight.empty() || backend.in_flight() != 0) {
        invariant_failed("commands in flight after a reset");
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) {
        return 0;
    }
    Input in(data, size);
    const ScsiDiskOptions options = options_from(in.byte());
    auto owned = std::make_unique<test::FakeBlockBackend>(256 * 1024, options.read_only && (data[0] & 0x01) != 0);
    test::FakeBlockBackend* backend = owned.get();
    backend->on_submit = [backend](const block::IoRequest& r) {
        check_host_request(r, backend->size(), backend->read_only());
    };
    // Injected host errors: into the next requests of one operation, or of any (-1).
    int error = 0;
    int error_op = -1;
    backend->inject = [&](const block::IoRequest& r) {
        return error != 0 && (error_op < 0 || error_op == static_cast<int>(r.op)) ? error : 0;
    };
    Sink sink;
    std::vector<std::unique_ptr<Command>> commands; // outlive the disk: declared before it
    auto made = ScsiDisk::create(std::move(owned), options);
    if (!made) {
        invariant_failed("options refused");
    }
    std::unique_ptr<ScsiDisk> disk = std::move(made).value();
    disk->set_sink(&sink);
    std::uint64_t next_tag = 1;

    for (std::size_t op = 0; op < MAX_OPS && !in.empty(); ++op) {
        const std::uint8_t kind = in.byte();
        switch (kind % 10) {
        case 0:
        case 1:
        case 2:
        case 3: {
            auto c = std::make_unique<Command>();
            std::array<std::uint8_t, MAX_CDB> cdb {};
            const std::size_t cdb_len = in.byte() % (MAX_CDB + 1);
            in.take(std::span(cdb).first(cdb_len));
            if (cdb_len > 0 && cdb[0] < 0xc0) {
                cdb[0] = OPCODES[cdb[0] % OPCODES.size()];
            }
            c->in.assign(in.u16() % (MAX_BUFFER + 1), 0);
            c->out.assign(in.u16() % (MAX_BUFFER + 1), 0);
            const std::uint8_t pieces = in.byte();
            const std::uint8_t tag_pick = in.byte();
            in.take(std::span(c->out).first(std::min<std::size_t>(c->out.size(), 4096)));
            // Mostly fresh tags; sometimes one that is in flight (an overlapped command).
            if ((tag_pick & 0x80) != 0 && !sink.in_flight.empty()) {
                auto it = sink.in_flight.begin();
                std::advance(it, static_cast<std::ptrdiff_t>(tag_pick % sink.in_flight.size()));
                c->tag = it->first;
            } else {
                c->tag = next_tag++;
            }
            c->in_iov = split(c->in, pieces);
            c->out_iov = split(c->out, static_cast<std::uint8_t>(pieces >> 3));
            const bool overlapped = sink.in_flight.count(c->tag) != 0;
            sink.executing = c.get();
            disk->execute(c->tag, std::span(cdb).first(cdb_len), c->out_iov, c->in_iov);
            sink.executing = nullptr;
            if (!c->done) {
                if (overlapped) {
                    invariant_failed("a second command with a tag in flight was accepted");
                }
                sink.in_flight.emplace(c->tag, c.get());
            }
            commands.push_back(std::move(c));
            break;
        }
        case 4:
            disk->flush_submissions();
            break;
        case 5:
            backend->complete(in.byte() % 8);
            break;
        case 6: {
            const std::uint8_t pick = in.byte();
            std::uint64_t tag = pick;
            if (!sink.in_flight.empty() && (pick & 0x80) == 0) {
                auto it = sink.in_flight.begin();
                std::advance(it, static_cast<std::ptrdiff_t>(pick % sink.in_flight.size()));
                tag = it->first;
            }
            if (disk->abort(tag) != (sink.in_flight.count(tag) != 0)) {
                invariant_failed("abort() disagrees with what is in flight");
            }
            break;
        }
        case 7: {
            const std::uint8_t how = in.byte();
            if ((how & 0x03) == 0) {
                disk->reset(ResetKind::power_on);
                check_idle(*disk, sink, *backend);
            } else if ((how & 0x03) == 1) {
                disk->reset();
                check_idle(*disk, sink, *backend);
            } else {
                (void)backend->resize(static_cast<std::size_t>(how >> 2) * 8192);
                (void)disk->capacity_changed();
            }
            break;
        }
        case 8: {
            const std::uint8_t e = in.byte();
            constexpr std::array<int, 4> errors { 0, -EIO, -ENOSPC, -EINVAL };
            error = errors[e % errors.size()];
            error_op = (e & 0x80) != 0 ? -1 : (e >> 2) % 6;
            break;
        }
        default:
            backend->complete(0);
            break;
        }
    }

    // The end: everything completes, exactly once, and then nothing touches a buffer.
    disk->flush_submissions();
    error = 0;
    disk->reset();
    check_idle(*disk, sink, *backend);
    for (const auto& c : commands) {
        if (!c->done) {
            invariant_failed("a command never completed");
        }
    }
    backend->complete(0);
    disk.reset();
    for (const auto& c : commands) {
        for (const std::uint8_t b : c->in) {
            if (b != RETIRED) {
                invariant_failed("data-in written after its command completed");
            }
        }
    }
    return 0;
}
