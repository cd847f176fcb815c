// SPDX-License-Identifier: Apache-2.0
// ScsiDisk medium access: READ/WRITE (6/10/12/16), WRITE AND VERIFY, VERIFY, SYNCHRONIZE CACHE,
// UNMAP and WRITE SAME as backend operations, and their completion.
#include <algorithm>
#include <cerrno>

#include <boost/container/small_vector.hpp>

#include "virtio/devices/scsi/disk/cdb.hpp"
#include "virtio/devices/scsi/disk/scsi_disk.hpp"
#include "virtio/memory/iovec_copy.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio::scsi {
namespace {

// WRITE SAME with data: the block repeated into a buffer of at most this size, handed to the
// host as up to PATTERN_IOVECS iovecs of it per write.
constexpr std::size_t PATTERN_BYTES = 64 * 1024;
constexpr std::size_t PATTERN_IOVECS = 256;
constexpr std::size_t UNMAP_HEADER = 8; // SBC-3 UNMAP parameter list
constexpr std::size_t UNMAP_DESCRIPTOR = 16;

bool is_write_opcode(std::uint8_t op) noexcept
{
    return op == SCSI_OP_WRITE_6 || op == SCSI_OP_WRITE_10 || op == SCSI_OP_WRITE_12 || op == SCSI_OP_WRITE_16
        || op == SCSI_OP_WRITE_AND_VERIFY_10 || op == SCSI_OP_WRITE_AND_VERIFY_16;
}

} // namespace

ScsiExpected<std::uint32_t> ScsiDisk::start(std::uint64_t tag, Kind kind, std::size_t bounce) noexcept
{
    if (bounce > MAX_BOUNCE_BYTES - bounce_bytes_) {
        return status_only(SCSI_STATUS_BUSY); // others hold the bounce memory: try again later
    }
    std::uint32_t slot = 0;
    if (free_commands_.empty()) {
        slot = static_cast<std::uint32_t>(commands_.size());
        commands_.emplace_back();
    } else {
        slot = free_commands_.back();
        free_commands_.pop_back();
    }
    Command& c = commands_[slot];
    c = Command {};
    c.tag = tag;
    c.kind = kind;
    c.charge = bounce;
    c.busy = true;
    bounce_bytes_ += bounce;
    ++busy_commands_;
    slot_of_tag_.emplace(tag, slot);
    return slot;
}

void ScsiDisk::submit(std::uint32_t slot, block::IoRequest&& io) noexcept
{
    io.tag = slot;
    ++commands_[slot].pending;
    backend_->submit(std::move(io));
}

ScsiDisk::Handled ScsiDisk::read_write(
    std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept
{
    const std::uint8_t op = cdb[0];
    const bool write = is_write_opcode(op);
    const bool and_verify = op == SCSI_OP_WRITE_AND_VERIFY_10 || op == SCSI_OP_WRITE_AND_VERIFY_16;
    const bool six = cdb.size() == 6;
    BlockRange r = decode_block_range(cdb);
    if (six && r.blocks == 0) {
        r.blocks = 256; // SBC-3 READ (6), WRITE (6): TRANSFER LENGTH 0 means 256 blocks
    }
    // Guest-controlled: byte 1. RDPROTECT/WRPROTECT (bits 7..5) ask for protection
    // information, which this disk has none of (SBC-3 "Protection information": INVALID FIELD
    // IN CDB).
    const std::uint8_t flags = six ? 0 : cdb[1];
    if ((flags & 0xe0) != 0) {
        return invalid_cdb(1, 7);
    }
    // WRITE AND VERIFY (SBC-3): the data goes out committed (RWF_DSYNC), and the
    // verification is that commit: the host storage accepted exactly these bytes as written,
    // so they are not read back, whether BYTCHK is 00b (verify the medium) or 01b (compare with
    // the data-out). 10b and 11b are not defined for this command.
    if (and_verify && ((flags >> 1) & 0x03) > 1) {
        return invalid_cdb(1, 2);
    }
    // FUA (bit 3, not in WRITE AND VERIFY, where bit 3 is reserved): the write is committed
    // before it completes. A read with FUA reads what the host page cache holds, which is what
    // the medium holds as far as the guest can tell. DPO (bit 4) is a cache hint: ignored.
    const bool fua = !and_verify && (flags & 0x08) != 0;
    if (write && options_.read_only) {
        return check(SENSE_WRITE_PROTECTED);
    }
    if (r.blocks > options_.max_transfer_blocks) {
        return invalid_cdb(r.length_byte, 7); // SBC-3 block limits VPD: beyond MAXIMUM TRANSFER LENGTH
    }
    if (!in_range(r.lba, r.blocks)) {
        return check(SENSE_LBA_OUT_OF_RANGE);
    }
    if (r.blocks == 0) {
        return Reply {}; // "not an error": nothing to transfer
    }
    // Invariant: blocks <= max_transfer_blocks, so bytes <= MAX_TRANSFER_BYTES (1 GiB).
    const std::size_t bytes = std::size_t { r.blocks } * options_.block_size;
    // The buffer for the transfer must hold all of it: the host writes into (or reads from)
    // exactly the first `bytes` bytes and nothing beyond.
    if ((write ? buf.out_bytes : buf.in_bytes) < bytes) {
        return invalid_cdb(r.length_byte, 7);
    }
    const std::uint32_t slot = SCSI_TRY(start(tag, write ? Kind::write : Kind::read));
    Command& c = commands_[slot];
    c.lba = r.lba;
    block::IoRequest io;
    io.op = write ? block::IoOp::write : block::IoOp::read;
    // Invariant: in_range(), so lba * block_size <= blocks_ * block_size <= the backend's size.
    io.offset = r.lba * options_.block_size;
    io.length = bytes;
    io.iov = iovecs_prefix(write ? buf.out : buf.in, bytes);
    if (write) {
        c.data_out_len = static_cast<std::uint32_t>(bytes);
        // With the write cache off every write is committed before it completes (SBC-3 caching mode page).
        io.sync = fua || and_verify || !mode_.current.wce;
        ++counters_.writes;
    } else {
        c.data_in_len = static_cast<std::uint32_t>(bytes);
        ++counters_.reads;
    }
    submit(slot, std::move(io));
    return Reply { 0, 0, true };
}

ScsiDisk::Handled ScsiDisk::verify(std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept
{
    // SBC-3 VERIFY (10)/(16). Byte 1: VRPROTECT 7..5, DPO 4, BYTCHK 2..1.
    const BlockRange r = decode_block_range(cdb);
    if ((cdb[1] & 0xe0) != 0) {
        return invalid_cdb(1, 7);
    }
    const auto bytchk = static_cast<std::uint8_t>((cdb[1] >> 1) & 0x03);
    if (bytchk == 2) {
        return invalid_cdb(1, 2); // reserved
    }
    if (bytchk != 0 && r.blocks > options_.max_transfer_blocks) {
        return invalid_cdb(r.length_byte, 7); // the comparison is a transfer too
    }
    if (!in_range(r.lba, r.blocks)) {
        return check(SENSE_LBA_OUT_OF_RANGE);
    }
    // BYTCHK 00b, "verify the medium": there is no medium apart from the host's storage, which
    // reports its own errors on every access, so the range check is the whole verification.
    if (bytchk == 0 || r.blocks == 0) {
        return Reply {};
    }
    // 01b: compare with VERIFICATION LENGTH blocks of data-out; 11b: with one block, for each.
    const std::size_t bytes = std::size_t { r.blocks } * options_.block_size;
    const std::size_t expect = bytchk == 1 ? bytes : options_.block_size;
    // A comparison that could never get its bounce memory would be BUSY forever: refused.
    if (buf.out_bytes < expect || bytes + expect > MAX_BOUNCE_BYTES) {
        return invalid_cdb(r.length_byte, 7);
    }
    const std::uint32_t slot = SCSI_TRY(start(tag, Kind::verify, bytes + expect));
    Command& c = commands_[slot];
    c.lba = r.lba;
    c.data_out_len = static_cast<std::uint32_t>(expect);
    c.compare_block = bytchk == 3 ? options_.block_size : 0;
    // Copied once: what the guest changes in data-out from now on makes no difference.
    c.expected.resize(expect);
    (void)copy_from_iovecs(buf.out, 0, c.expected);
    c.bounce.resize(bytes);
    block::IoRequest io;
    io.op = block::IoOp::read;
    io.offset = r.lba * options_.block_size;
    io.length = bytes;
    io.iov.push_back(iovec { c.bounce.data(), bytes });
    ++counters_.reads;
    submit(slot, std::move(io));
    return Reply { 0, 0, true };
}

ScsiDisk::Handled ScsiDisk::synchronize_cache(std::uint64_t tag, std::span<const std::uint8_t> cdb) noexcept
{
    // SBC-3 SYNCHRONIZE CACHE (10)/(16): NUMBER OF LOGICAL BLOCKS 0 means "to the last block". The range only
    // has to be valid: the whole image is committed (fdatasync has no narrower form). IMMED
    // (byte 1 bit 1) is not honoured: status comes once the data is committed, which only
    // makes the command slower than it could be.
    const BlockRange r = decode_block_range(cdb);
    if (!in_range(r.lba, r.blocks)) {
        return check(SENSE_LBA_OUT_OF_RANGE);
    }
    return flush(tag);
}

ScsiDisk::Handled ScsiDisk::flush(std::uint64_t tag, std::uint32_t data_out_len) noexcept
{
    // "fsyncgate": the host reports a failed write-back once, and a later fdatasync succeeds
    // although the data is gone. Once that happened every flush fails, until power on.
    if (flush_failed_) {
        return check(SENSE_WRITE_ERROR);
    }
    const std::uint32_t slot = SCSI_TRY(start(tag, Kind::flush));
    commands_[slot].data_out_len = data_out_len;
    commands_[slot].committing = true;
    block::IoRequest io;
    io.op = block::IoOp::flush;
    ++counters_.flushes;
    submit(slot, std::move(io));
    return Reply { 0, 0, true };
}

ScsiDisk::Handled ScsiDisk::unmap(std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept
{
    // SBC-3 UNMAP; supported with thin provisioning only (LBPU).
    if (!options_.thin) {
        return check(SENSE_INVALID_COMMAND_OPERATION_CODE);
    }
    if ((cdb[1] & 0x01) != 0) {
        return invalid_cdb(1, 0); // ANCHOR: there is no anchored state (ANC_SUP 0)
    }
    if (options_.read_only) {
        return check(SENSE_WRITE_PROTECTED);
    }
    const std::size_t length = load_be(cdb, 7, 2);
    if (length == 0) {
        return Reply {}; // "not an error"
    }
    if (length < UNMAP_HEADER) {
        return check(SENSE_PARAMETER_LIST_LENGTH_ERROR);
    }
    if (buf.out_bytes < length) {
        return invalid_cdb(7, 7);
    }
    // Guest-controlled: the parameter list, copied once, descriptor by descriptor, and all of
    // it checked before anything is deallocated.
    std::array<std::uint8_t, UNMAP_HEADER> header {};
    (void)copy_from_iovecs(buf.out, 0, header);
    // A descriptor cut short by either length is ignored (SBC-3 UNMAP parameter list).
    const std::size_t count = std::min<std::size_t>(load_be(header, 2, 2), length - UNMAP_HEADER) / UNMAP_DESCRIPTOR;
    if (count > options_.max_unmap_descriptors) {
        return invalid_parameter(2, 7); // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    }
    struct Extent {
        std::uint64_t lba;
        std::uint32_t blocks;
    };
    boost::container::small_vector<Extent, 8> extents;
    std::uint64_t total = 0; // at most 4095 * (2^32 - 1): no overflow
    for (std::size_t i = 0; i < count; ++i) {
        std::array<std::uint8_t, UNMAP_DESCRIPTOR> d {};
        const std::size_t at = UNMAP_HEADER + i * UNMAP_DESCRIPTOR;
        (void)copy_from_iovecs(buf.out, at, d);
        const Extent e { load_be(d, 0, 8), static_cast<std::uint32_t>(load_be(d, 8, 4)) };
        total += e.blocks;
        if (total > options_.max_unmap_blocks) {
            return invalid_parameter(static_cast<std::uint16_t>(at + 8), 7); // MAXIMUM UNMAP LBA COUNT
        }
        if (!in_range(e.lba, e.blocks)) {
            return check(SENSE_LBA_OUT_OF_RANGE);
        }
        if (e.blocks != 0) {
            extents.push_back(e);
        }
    }
    if (extents.empty()) {
        return Reply { 0, static_cast<std::uint32_t>(length), false };
    }
    const std::uint32_t slot = SCSI_TRY(start(tag, Kind::unmap));
    Command& c = commands_[slot];
    c.data_out_len = static_cast<std::uint32_t>(length);
    c.lba = extents.front().lba;
    c.then_flush = !mode_.current.wce;
    for (const Extent& e : extents) {
        // Deallocation as write zeroes with unmap allowed, not as a plain discard: the host
        // punches a hole where it can and writes zeroes where it cannot, so an unmapped block
        // always reads as zeroes, which LBPRZ promises (a discard may do nothing at all).
        block::IoRequest io;
        io.op = block::IoOp::write_zeroes;
        io.unmap = true;
        io.offset = e.lba * options_.block_size;
        io.length = std::uint64_t { e.blocks } * options_.block_size;
        submit(slot, std::move(io));
    }
    ++counters_.unmaps;
    return Reply { 0, 0, true };
}

ScsiDisk::Handled ScsiDisk::write_same(
    std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept
{
    // SBC-3 WRITE SAME (10)/(16). Byte 1: WRPROTECT 7..5, ANCHOR 4, UNMAP 3, and NDOB 0 in (16).
    const bool sixteen = cdb[0] == SCSI_OP_WRITE_SAME_16;
    const std::uint8_t flags = cdb[1];
    if ((flags & 0xe0) != 0) {
        return invalid_cdb(1, 7);
    }
    if ((flags & 0x10) != 0) {
        return invalid_cdb(1, 4);
    }
    const bool unmap_allowed = (flags & 0x08) != 0;
    if (unmap_allowed && !options_.thin) {
        return invalid_cdb(1, 3); // LBPWS 0
    }
    const bool ndob = sixteen && (flags & 0x01) != 0; // no data-out: the block is zeroes
    if (options_.read_only) {
        return check(SENSE_WRITE_PROTECTED);
    }
    const BlockRange r = decode_block_range(cdb);
    // WSNZ is reported: 0 blocks ("to the end") is refused, as is more than the limit.
    if (r.blocks == 0 || r.blocks > options_.max_write_same_blocks) {
        return invalid_cdb(r.length_byte, 7);
    }
    if (!in_range(r.lba, r.blocks)) {
        return check(SENSE_LBA_OUT_OF_RANGE);
    }
    const std::uint32_t bs = options_.block_size;
    std::vector<std::uint8_t> block(bs);
    if (!ndob) {
        if (buf.out_bytes < bs) {
            return check(SENSE_INVALID_FIELD_IN_CDB);
        }
        (void)copy_from_iovecs(buf.out, 0, block);
    }
    const std::uint32_t data_out = ndob ? 0 : bs;
    // Invariant: blocks < 2^32 and bs <= 2^16: no overflow in 64 bits.
    const std::uint64_t bytes = std::uint64_t { r.blocks } * bs;
    const std::uint64_t offset = r.lba * bs;
    if (std::all_of(block.begin(), block.end(), [](std::uint8_t b) { return b == 0; })) {
        // Zeroes: one write_zeroes. With UNMAP the host may deallocate (LBPRZ: reads stay zero).
        const std::uint32_t slot = SCSI_TRY(start(tag, Kind::write_same));
        Command& c = commands_[slot];
        c.lba = r.lba;
        c.data_out_len = data_out;
        c.then_flush = !mode_.current.wce;
        block::IoRequest io;
        io.op = block::IoOp::write_zeroes;
        io.unmap = unmap_allowed;
        io.offset = offset;
        io.length = bytes;
        ++counters_.unmaps;
        submit(slot, std::move(io));
        return Reply { 0, 0, true };
    }
    // Data: the block repeated into a pattern buffer (bounded), written over the range.
    const std::size_t per = std::min<std::uint64_t>(r.blocks, PATTERN_BYTES / bs);
    const std::size_t pattern = per * bs;
    const std::uint32_t slot = SCSI_TRY(start(tag, Kind::write_same, pattern));
    Command& c = commands_[slot];
    c.lba = r.lba;
    c.data_out_len = data_out;
    c.bounce.resize(pattern);
    for (std::size_t at = 0; at < pattern; at += bs) {
        std::copy(block.begin(), block.end(), c.bounce.begin() + static_cast<std::ptrdiff_t>(at));
    }
    ++counters_.writes;
    for (std::uint64_t done = 0; done < bytes;) {
        block::IoRequest io;
        io.op = block::IoOp::write;
        io.offset = offset + done;
        io.sync = !mode_.current.wce;
        const std::uint64_t chunk = std::min<std::uint64_t>(bytes - done, pattern * PATTERN_IOVECS);
        // Safety: the kernel only reads from these iovecs, all into the one pattern buffer,
        // which lives in the command until its last operation completes.
        for (std::uint64_t left = chunk; left > 0;) {
            const std::size_t n = std::min<std::uint64_t>(left, pattern);
            io.iov.push_back(iovec { c.bounce.data(), n });
            left -= n;
        }
        io.length = chunk;
        done += chunk;
        submit(slot, std::move(io));
    }
    return Reply { 0, 0, true };
}

void ScsiDisk::io_complete(std::uint64_t io_tag, int result) noexcept
{
    const auto slot = static_cast<std::uint32_t>(io_tag);
    VMM_ASSERT(slot < commands_.size() && commands_[slot].busy && commands_[slot].pending > 0);
    Command& c = commands_[slot];
    --c.pending;
    if (result < 0) {
        if (c.error == 0) {
            c.error = result;
        }
        // A failed commit, or a write that hit EIO (possibly a failed write-back of earlier
        // data), may have lost data the initiator was told was written: latch it.
        if (c.committing || (result == -EIO && c.kind != Kind::read && c.kind != Kind::verify)) {
            flush_failed_ = true;
        }
        VMM_LOG_GUEST(spdlog::level::err, "scsi disk {}: I/O for command {:#x} at LBA {} failed: {}",
            backend_->describe(), c.tag, c.lba, std::error_code(-result, std::system_category()).message());
    }
    if (c.pending > 0) {
        return;
    }
    if (c.then_flush && c.error == 0 && !c.aborted) {
        c.then_flush = false;
        c.committing = true;
        block::IoRequest io;
        io.op = block::IoOp::flush;
        submit(slot, std::move(io));
        return;
    }
    finish(slot);
}

void ScsiDisk::finish(std::uint32_t slot) noexcept
{
    Command& c = commands_[slot];
    const std::uint64_t tag = c.tag;
    const ScsiResult result = outcome(c);
    // Free the slot before telling the sink, which may start the next command right away.
    slot_of_tag_.erase(tag);
    bounce_bytes_ -= c.charge;
    c.bounce = {};
    c.expected = {};
    c.busy = false;
    --busy_commands_;
    free_commands_.push_back(slot);
    deliver(tag, result);
}

ScsiResult ScsiDisk::outcome(const Command& c) noexcept
{
    if (c.aborted) {
        // SAM-5 status codes: TASK ABORTED, no sense; whatever reached data-in is not reported.
        ScsiResult r;
        r.status = SCSI_STATUS_TASK_ABORTED;
        return r;
    }
    if (c.error != 0) {
        ++counters_.io_errors;
        // SBC-3 "Medium error" reporting: INFORMATION names the first block in error; the host does not say which
        // block failed, so it names the first of the command (no block counts as transferred).
        SenseInfo info { SENSE_WRITE_ERROR, {}, {} };
        switch (c.kind) {
        case Kind::read:
        case Kind::verify:
            info = SenseInfo { SENSE_UNRECOVERED_READ_ERROR, c.lba, {} };
            break;
        case Kind::write:
        case Kind::write_same:
        case Kind::unmap:
            // SBC-3 thin provisioning: a host out of space is "space allocation failed" (Linux
            // turns it into ENOSPC), any other failure a write error.
            info = SenseInfo { c.error == -ENOSPC ? SENSE_SPACE_ALLOCATION_FAILED : SENSE_WRITE_ERROR, c.lba, {} };
            break;
        case Kind::flush:
            break;
        }
        return error_result(CommandError { SCSI_STATUS_CHECK_CONDITION, info }, sense_format());
    }
    if (c.kind == Kind::verify) {
        // SBC-3 VERIFY: MISCOMPARE; INFORMATION is the offset of the first byte that differs.
        for (std::size_t at = 0; at < c.bounce.size();) {
            const std::size_t n = c.compare_block != 0 ? c.compare_block : c.bounce.size();
            const auto medium = std::mismatch(c.bounce.begin() + static_cast<std::ptrdiff_t>(at),
                c.bounce.begin() + static_cast<std::ptrdiff_t>(at + n), c.expected.begin())
                                    .first;
            if (medium != c.bounce.begin() + static_cast<std::ptrdiff_t>(at + n)) {
                const auto offset = static_cast<std::uint64_t>(medium - c.bounce.begin());
                return error_result(CommandError { SCSI_STATUS_CHECK_CONDITION,
                                        SenseInfo { SENSE_MISCOMPARE_DURING_VERIFY, offset, {} } },
                    sense_format());
            }
            at += n;
        }
    }
    ScsiResult r;
    r.data_in_len = c.data_in_len;
    r.data_out_len = c.data_out_len;
    counters_.read_bytes += c.kind == Kind::read ? c.data_in_len : 0;
    counters_.written_bytes += c.kind == Kind::write ? c.data_out_len : 0;
    return r;
}

} // namespace vmm::virtio::scsi
