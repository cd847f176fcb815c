// SPDX-License-Identifier: Apache-2.0
// ScsiDisk: one SCSI direct-access logical unit (SBC-3) over an asynchronous BlockBackend, for a
// SCSI transport (virtio-scsi) to hand commands to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include <boost/container/static_vector.hpp>
#include <nlohmann/json.hpp>

#include "virtio/devices/block/block_backend.hpp"
#include "virtio/devices/scsi/disk/disk_info.hpp"
#include "virtio/devices/scsi/disk/mode_pages.hpp"
#include "virtio/devices/scsi/disk/scsi_disk_options.hpp"
#include "virtio/devices/scsi/disk/sense.hpp"
#include "virtio/memory/guest_slice.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm::virtio::scsi {

// Where a ScsiDisk delivers command completions, on the loop thread.
class ScsiCompletionSink {
public:
    ScsiCompletionSink() = default;
    ScsiCompletionSink(const ScsiCompletionSink&) = delete;
    ScsiCompletionSink& operator=(const ScsiCompletionSink&) = delete;
    virtual ~ScsiCompletionSink() = default;

    // Exactly once per execute(). The data buffers of that command are not touched any more.
    // May call execute(), abort() and flush_submissions(), but not reset().
    virtual void scsi_complete(std::uint64_t tag, const ScsiResult& result) noexcept = 0;
    // After a batch of scsi_complete() calls: the moment to notify the driver.
    virtual void scsi_batch_done() noexcept = 0;
};

struct ScsiDiskCounters {
    std::uint64_t commands = 0;
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    std::uint64_t read_bytes = 0;
    std::uint64_t written_bytes = 0;
    std::uint64_t flushes = 0;
    std::uint64_t unmaps = 0;           // UNMAP, and WRITE SAME that deallocated or zeroed
    std::uint64_t check_conditions = 0; // commands that ended with CHECK CONDITION
    std::uint64_t io_errors = 0;        // of those, for a host I/O error
    std::uint64_t unit_attentions = 0;  // reported, by CHECK CONDITION or REQUEST SENSE
    std::uint64_t aborted = 0;          // completed as TASK ABORTED
    std::uint64_t busy = 0;             // refused with BUSY or TASK SET FULL
    std::uint64_t resets = 0;
};

enum class ResetKind : std::uint8_t {
    // LOGICAL UNIT RESET or I_T NEXUS RESET (SAM-5 task management): unit attention 29h/00h.
    logical_unit,
    // The target powers on again (a virtio-scsi device reset): unit attention 29h/01h when
    // options.power_on_attention, and the sticky flush failure is forgotten.
    power_on,
};

// Threads: loop thread only. execute() decodes and checks the CDB, then either completes the
// command before it returns (everything but medium access, and every error) or hands it to
// the backend, straight on the caller's buffers (zero copy), and completes it from the
// backend's completion. The caller keeps the buffers valid until scsi_complete() for the tag.
//
// abort(tag) and reset() cannot take back what the host was already given: io_uring has the
// buffers. So an aborted command completes, with TASK ABORTED and nothing reported transferred,
// only once the host has finished with it; a transport must answer its ABORT TASK / reset TMF
// after that completion (QEMU's virtio-scsi does the same). Until then a read may still fill
// data-in and a write may still reach the medium (SAM-5: whether an aborted write happened is
// unknown to the initiator). reset() itself waits (drains the backend), so when it returns
// no command is in flight and no buffer is touched any more.
class ScsiDisk final : private block::IoCompletionSink {
public:
    // In flight at once; beyond, TASK SET FULL (the transport's queue size is the usual bound).
    static constexpr std::size_t MAX_COMMANDS = 1024;
    // Host memory that VERIFY comparisons and WRITE SAME patterns hold while in flight;
    // beyond, BUSY (the initiator retries). A VERIFY that alone needs more is refused.
    static constexpr std::size_t MAX_BOUNCE_BYTES = 64ULL << 20;

    // Validates the options (check_options) first.
    [[nodiscard]] static Result<std::unique_ptr<ScsiDisk>> create(
        std::unique_ptr<block::BlockBackend> backend, ScsiDiskOptions options);
    // `options` must pass check_options() (a VMM bug otherwise: aborts).
    ScsiDisk(std::unique_ptr<block::BlockBackend> backend, ScsiDiskOptions options);
    ~ScsiDisk() override;
    ScsiDisk(const ScsiDisk&) = delete;
    ScsiDisk& operator=(const ScsiDisk&) = delete;

    // Without a sink, completions are dropped.
    void set_sink(ScsiCompletionSink* sink) noexcept { sink_ = sink; }
    // A read-only descriptor of the image, for GET LBA STATUS (SEEK_DATA / SEEK_HOLE); without
    // one every block reads as mapped.
    void set_allocation_fd(UniqueFd fd) noexcept { allocation_fd_ = std::move(fd); }

    // Guest-controlled: all of it. `cdb` is the CDB as the transport received it (any length;
    // bytes past the command's CDB length are ignored), `data_out` the buffers the initiator
    // filled (WRITE data, parameter lists), `data_in` the buffers to fill. Tags are the
    // transport's; one that is still in flight is refused (OVERLAPPED COMMANDS ATTEMPTED).
    void execute(std::uint64_t tag, std::span<const std::uint8_t> cdb, const IovecList& data_out,
        const IovecList& data_in) noexcept;
    // After a batch of execute(): hands the batch to the host in one go, and ends the batch of
    // completions that came meanwhile (scsi_batch_done).
    void flush_submissions() noexcept;
    // ABORT TASK (SAM-5): whether `tag` was in flight. If so it completes later, when the
    // host is done with it, as TASK ABORTED with no data reported.
    bool abort(std::uint64_t tag) noexcept;
    // LOGICAL UNIT RESET, I_T NEXUS RESET, or power on: every command in flight completes as
    // TASK ABORTED before this returns, mode parameters go back to their saved values, and the
    // next command gets the unit attention. Not from inside a ScsiCompletionSink callback.
    void reset(ResetKind kind = ResetKind::logical_unit) noexcept;
    // The backend's size changed (the host resized the image): the capacity is read again and,
    // when it differs, CAPACITY DATA HAS CHANGED is reported next (SBC-3). Returns it.
    std::uint64_t capacity_changed() noexcept;

    [[nodiscard]] std::uint64_t blocks() const noexcept { return blocks_; }
    [[nodiscard]] std::uint32_t block_size() const noexcept { return options_.block_size; }
    [[nodiscard]] bool write_cache() const noexcept { return mode_.current.wce; }
    // D_SENSE of the control mode page: CHECK CONDITION sense in descriptor format.
    [[nodiscard]] bool descriptor_sense() const noexcept { return mode_.current.d_sense; }
    [[nodiscard]] std::size_t commands_in_flight() const noexcept { return busy_commands_; }
    [[nodiscard]] std::size_t pending_unit_attentions() const noexcept { return unit_attentions_.size(); }
    [[nodiscard]] bool flush_failed() const noexcept { return flush_failed_; }
    [[nodiscard]] const ScsiDiskCounters& counters() const noexcept { return counters_; }
    // As used: read_only includes the backend's, max_transfer_blocks is filled in.
    [[nodiscard]] const ScsiDiskOptions& options() const noexcept { return options_; }
    [[nodiscard]] block::BlockBackend& backend() noexcept { return *backend_; }
    [[nodiscard]] nlohmann::json status() const;

private:
    enum class Kind : std::uint8_t { read, write, verify, flush, unmap, write_same };
    // A command handed to the backend.
    struct Command {
        std::uint64_t tag = 0;
        Kind kind = Kind::read;
        std::uint64_t lba = 0;      // for the sense INFORMATION of a medium error
        std::uint32_t pending = 0;  // backend operations not completed yet
        int error = 0;              // the first failure, a negative errno
        std::uint32_t data_in_len = 0;
        std::uint32_t data_out_len = 0;
        std::uint32_t compare_block = 0; // VERIFY BYTCHK 11b: compare each block with one
        std::size_t charge = 0;          // of bounce_bytes_
        bool busy = false;
        bool aborted = false;
        bool then_flush = false;    // commit (fdatasync) once the operations are done
        bool committing = false;    // the operation in flight is that commit
        std::vector<std::uint8_t> bounce;   // VERIFY: the medium's data; WRITE SAME: the pattern
        std::vector<std::uint8_t> expected; // VERIFY: the data-out, copied once
    };
    // How a handler ended: data-in bytes to complete with GOOD now, or in flight.
    struct Reply {
        std::uint32_t data_in_len = 0;
        std::uint32_t data_out_len = 0;
        bool in_flight = false;
    };
    using Handled = ScsiExpected<Reply>;
    struct Buffers {
        const IovecList& out;
        const IovecList& in;
        std::size_t out_bytes = 0;
        std::size_t in_bytes = 0;
    };

    void io_complete(std::uint64_t io_tag, int result) noexcept override;
    void io_batch_done() noexcept override;

    [[nodiscard]] Handled dispatch(std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept;
    [[nodiscard]] SenseFormat sense_format() const noexcept
    {
        return mode_.current.d_sense ? SenseFormat::descriptor : SenseFormat::fixed;
    }
    [[nodiscard]] DiskInfo info() const noexcept { return DiskInfo { options_, blocks_ }; }
    [[nodiscard]] bool in_range(std::uint64_t lba, std::uint64_t count) const noexcept
    {
        // Overflow-safe: lba + count <= blocks, without computing the sum.
        return lba <= blocks_ && count <= blocks_ - lba;
    }
    void deliver(std::uint64_t tag, const ScsiResult& result) noexcept;
    void add_unit_attention(SenseCode code) noexcept;
    // Copies the first min(length, allocation, buffer) bytes of a response to data-in.
    [[nodiscard]] Reply reply_data(
        std::span<const std::uint8_t> response, std::uint64_t allocation, const Buffers& buf) noexcept;

    // Commands answered at once (scsi_disk.cpp).
    [[nodiscard]] Handled request_sense(std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept;
    [[nodiscard]] Handled service_action_in(std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept;
    [[nodiscard]] Handled mode_select(
        std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept;
    [[nodiscard]] Handled start_stop(std::uint64_t tag, std::span<const std::uint8_t> cdb) noexcept;

    // Medium access (disk_io.cpp).
    [[nodiscard]] Handled read_write(std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept;
    [[nodiscard]] Handled verify(std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept;
    [[nodiscard]] Handled synchronize_cache(std::uint64_t tag, std::span<const std::uint8_t> cdb) noexcept;
    [[nodiscard]] Handled unmap(std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept;
    [[nodiscard]] Handled write_same(std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept;
    // Starts a flush-only command (SYNCHRONIZE CACHE, and the commit before WCE goes off).
    [[nodiscard]] Handled flush(std::uint64_t tag, std::uint32_t data_out_len = 0) noexcept;
    // A slot for a command going to the backend, or BUSY when `bounce` bytes do not fit.
    [[nodiscard]] ScsiExpected<std::uint32_t> start(std::uint64_t tag, Kind kind, std::size_t bounce = 0) noexcept;
    void submit(std::uint32_t slot, block::IoRequest&& io) noexcept;
    // The last operation of a command completed: report it and free the slot.
    void finish(std::uint32_t slot) noexcept;
    // What a finished command reports (and counts).
    [[nodiscard]] ScsiResult outcome(const Command& c) noexcept;

    std::unique_ptr<block::BlockBackend> backend_;
    ScsiDiskOptions options_;
    ScsiCompletionSink* sink_ = nullptr;
    UniqueFd allocation_fd_;
    std::uint64_t blocks_ = 0;
    ModeState mode_;
    // SAM-5: pending unit attention conditions, oldest first, each at most once.
    boost::container::static_vector<SenseCode, 4> unit_attentions_;
    bool flush_failed_ = false; // a flush or write-back failed: every SYNCHRONIZE CACHE fails
    bool resetting_ = false;
    bool completed_ = false;    // something completed since the last scsi_batch_done()

    std::vector<Command> commands_;
    std::vector<std::uint32_t> free_commands_;
    std::unordered_map<std::uint64_t, std::uint32_t> slot_of_tag_;
    std::size_t busy_commands_ = 0;
    std::size_t bounce_bytes_ = 0;
    ScsiDiskCounters counters_;
};

} // namespace vmm::virtio::scsi
