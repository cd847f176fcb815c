// SPDX-License-Identifier: Apache-2.0
// ScsiDisk: command dispatch, unit attentions, the commands answered at once, abort and reset.
#include "virtio/devices/scsi/disk/scsi_disk.hpp"

#include <algorithm>

#include "virtio/devices/scsi/disk/cdb.hpp"
#include "virtio/devices/scsi/disk/inquiry.hpp"
#include "virtio/devices/scsi/disk/lba_status.hpp"
#include "virtio/memory/iovec_copy.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio::scsi {
namespace {

bool known_opcode(std::uint8_t op) noexcept
{
    switch (op) {
    case SCSI_OP_TEST_UNIT_READY:
    case SCSI_OP_REQUEST_SENSE:
    case SCSI_OP_READ_6:
    case SCSI_OP_WRITE_6:
    case SCSI_OP_INQUIRY:
    case SCSI_OP_MODE_SELECT_6:
    case SCSI_OP_MODE_SENSE_6:
    case SCSI_OP_START_STOP_UNIT:
    case SCSI_OP_PREVENT_ALLOW_MEDIUM_REMOVAL:
    case SCSI_OP_READ_CAPACITY_10:
    case SCSI_OP_READ_10:
    case SCSI_OP_WRITE_10:
    case SCSI_OP_WRITE_AND_VERIFY_10:
    case SCSI_OP_VERIFY_10:
    case SCSI_OP_SYNCHRONIZE_CACHE_10:
    case SCSI_OP_WRITE_SAME_10:
    case SCSI_OP_UNMAP:
    case SCSI_OP_MODE_SELECT_10:
    case SCSI_OP_MODE_SENSE_10:
    case SCSI_OP_READ_16:
    case SCSI_OP_WRITE_16:
    case SCSI_OP_WRITE_AND_VERIFY_16:
    case SCSI_OP_VERIFY_16:
    case SCSI_OP_SYNCHRONIZE_CACHE_16:
    case SCSI_OP_WRITE_SAME_16:
    case SCSI_OP_SERVICE_ACTION_IN_16:
    case SCSI_OP_READ_12:
    case SCSI_OP_WRITE_12:
        return true;
    default:
        return false;
    }
}

// SAM-5 unit attention condition: these run normally with a unit attention pending (and do not clear it, except
// REQUEST SENSE, which reports it). REPORT LUNS belongs to the controller; here it is unknown.
bool ignores_unit_attention(std::uint8_t op) noexcept
{
    return op == SCSI_OP_INQUIRY || op == SCSI_OP_REPORT_LUNS || op == SCSI_OP_REQUEST_SENSE;
}

} // namespace

Result<std::unique_ptr<ScsiDisk>> ScsiDisk::create(
    std::unique_ptr<block::BlockBackend> backend, ScsiDiskOptions options)
{
    VMM_TRY(check_options(options));
    return std::make_unique<ScsiDisk>(std::move(backend), std::move(options));
}

ScsiDisk::ScsiDisk(std::unique_ptr<block::BlockBackend> backend, ScsiDiskOptions options)
    : backend_(std::move(backend))
    , options_(std::move(options))
{
    VMM_ASSERT(backend_ != nullptr && check_options(options_).has_value());
    options_.read_only = options_.read_only || backend_->read_only();
    if (options_.max_transfer_blocks == 0) {
        options_.max_transfer_blocks
            = static_cast<std::uint32_t>(ScsiDiskOptions::DEFAULT_TRANSFER_BYTES / options_.block_size);
    }
    blocks_ = backend_->size() / options_.block_size;
    mode_.defaults = ModeParameters { options_.write_cache, false };
    mode_.saved = mode_.defaults;
    mode_.current = mode_.defaults;
    if (options_.power_on_attention) {
        add_unit_attention(SENSE_POWER_ON_OCCURRED);
    }
    backend_->set_sink(this);
}

ScsiDisk::~ScsiDisk()
{
    // Nothing may write into buffers whose owner is going away; nobody hears of it either.
    sink_ = nullptr;
    for (auto& c : commands_) {
        c.aborted = c.aborted || c.busy;
    }
    backend_->drain();
    backend_->set_sink(nullptr);
}

void ScsiDisk::execute(std::uint64_t tag, std::span<const std::uint8_t> cdb, const IovecList& data_out,
    const IovecList& data_in) noexcept
{
    ++counters_.commands;
    const Buffers buf { data_out, data_in, iovecs_bytes(data_out), iovecs_bytes(data_in) };
    Handled h = [&]() -> Handled {
        if (resetting_) {
            return status_only(SCSI_STATUS_BUSY); // a completion callback sent it during reset()
        }
        // SAM-5 overlapped commands: a tag may name one command at a time. The one in flight goes on.
        if (slot_of_tag_.contains(tag)) {
            return check(SENSE_OVERLAPPED_COMMANDS_ATTEMPTED);
        }
        if (busy_commands_ >= MAX_COMMANDS) {
            return status_only(SCSI_STATUS_TASK_SET_FULL);
        }
        return dispatch(tag, cdb, buf);
    }();
    if (!h) {
        VMM_LOG_GUEST(spdlog::level::debug,
            "scsi disk {}: command {:#04x} failed: status {:#04x}, sense {:x}/{:02x}/{:02x}",
            backend_->describe(), cdb.empty() ? 0 : cdb[0], h.error().status, h.error().sense.code.key,
            h.error().sense.code.asc, h.error().sense.code.ascq);
        deliver(tag, error_result(h.error(), sense_format()));
        return;
    }
    if (h->in_flight) {
        return;
    }
    ScsiResult r;
    r.data_in_len = h->data_in_len;
    r.data_out_len = h->data_out_len;
    deliver(tag, r);
}

ScsiDisk::Handled ScsiDisk::dispatch(std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept
{
    // Guest-controlled: the CDB and its length.
    if (cdb.empty()) {
        return check(SENSE_INVALID_COMMAND_OPERATION_CODE);
    }
    const std::uint8_t op = cdb[0];
    if (!unit_attentions_.empty() && !ignores_unit_attention(op)) {
        const SenseCode ua = unit_attentions_.front();
        unit_attentions_.erase(unit_attentions_.begin());
        ++counters_.unit_attentions;
        return check(ua);
    }
    if (!known_opcode(op)) {
        return check(SENSE_INVALID_COMMAND_OPERATION_CODE);
    }
    // SPC-4 "Operation code": the length follows from the operation code; a transport hands over a
    // fixed-size CDB area (virtio-scsi: cdb_size), of which the rest is ignored.
    const std::size_t len = cdb_length(op);
    if (cdb.size() < len) {
        return check(SENSE_INVALID_FIELD_IN_CDB);
    }
    cdb = cdb.first(len);
    // SAM-5 / SPC-4 CONTROL byte: NACA asks for ACA, which this logical unit does not have.
    if ((cdb[len - 1] & 0x04) != 0) {
        return invalid_cdb(static_cast<std::uint16_t>(len - 1), 2);
    }
    switch (op) {
    case SCSI_OP_TEST_UNIT_READY:
    case SCSI_OP_PREVENT_ALLOW_MEDIUM_REMOVAL: // SBC-3: nothing to lock in
        return Reply {};
    case SCSI_OP_REQUEST_SENSE:
        return request_sense(cdb, buf);
    case SCSI_OP_INQUIRY: {
        ResponseBuffer out {};
        const std::size_t n = SCSI_TRY(inquiry(info(), cdb, out));
        return reply_data(std::span(out).first(n), load_be(cdb, 3, 2), buf);
    }
    case SCSI_OP_MODE_SENSE_6:
    case SCSI_OP_MODE_SENSE_10: {
        ResponseBuffer out {};
        const std::size_t n = SCSI_TRY(mode_sense(info(), mode_, cdb, out));
        const std::uint64_t allocation = op == SCSI_OP_MODE_SENSE_6 ? cdb[4] : load_be(cdb, 7, 2);
        return reply_data(std::span(out).first(n), allocation, buf);
    }
    case SCSI_OP_MODE_SELECT_6:
    case SCSI_OP_MODE_SELECT_10:
        return mode_select(tag, cdb, buf);
    case SCSI_OP_START_STOP_UNIT:
        return start_stop(tag, cdb);
    case SCSI_OP_READ_CAPACITY_10: {
        ResponseBuffer out {};
        const std::size_t n = SCSI_TRY(read_capacity_10(info(), cdb, out));
        return reply_data(std::span(out).first(n), n, buf);
    }
    case SCSI_OP_SERVICE_ACTION_IN_16:
        return service_action_in(cdb, buf);
    case SCSI_OP_VERIFY_10:
    case SCSI_OP_VERIFY_16:
        return verify(tag, cdb, buf);
    case SCSI_OP_SYNCHRONIZE_CACHE_10:
    case SCSI_OP_SYNCHRONIZE_CACHE_16:
        return synchronize_cache(tag, cdb);
    case SCSI_OP_UNMAP:
        return unmap(tag, cdb, buf);
    case SCSI_OP_WRITE_SAME_10:
    case SCSI_OP_WRITE_SAME_16:
        return write_same(tag, cdb, buf);
    default:
        return read_write(tag, cdb, buf); // Invariant: known_opcode() left only READ/WRITE (AND VERIFY)
    }
}

ScsiDisk::Reply ScsiDisk::reply_data(
    std::span<const std::uint8_t> response, std::uint64_t allocation, const Buffers& buf) noexcept
{
    // SPC-4 "Allocation length": it bounds what is returned; a response longer than it
    // is truncated, not an error. A data-in buffer shorter still is treated the same way (the
    // transport reports the residual): nothing beyond the caller's buffers is ever written.
    const auto allowed = static_cast<std::size_t>(std::min<std::uint64_t>(allocation, SIZE_MAX));
    const std::size_t n = std::min({ response.size(), allowed, buf.in_bytes });
    const std::size_t copied = copy_to_iovecs(buf.in, 0, response.first(n));
    return Reply { static_cast<std::uint32_t>(copied), 0, false };
}

ScsiDisk::Handled ScsiDisk::request_sense(std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept
{
    // SPC-4 REQUEST SENSE: the pending unit attention, which is cleared, or NO SENSE; in the format the
    // DESC bit asks for, whatever D_SENSE says.
    const bool desc = (cdb[1] & 0x01) != 0;
    SenseInfo info { SENSE_NO_SENSE, {}, {} };
    if (!unit_attentions_.empty()) {
        info.code = unit_attentions_.front();
        unit_attentions_.erase(unit_attentions_.begin());
        ++counters_.unit_attentions;
    }
    std::array<std::uint8_t, SCSI_SENSE_MAX> sense {};
    const std::size_t n = build_sense(info, desc ? SenseFormat::descriptor : SenseFormat::fixed, sense);
    return reply_data(std::span(sense).first(n), cdb[4], buf);
}

ScsiDisk::Handled ScsiDisk::service_action_in(std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept
{
    const std::uint8_t action = cdb[1] & 0x1f;
    const std::uint64_t allocation = load_be(cdb, 10, 4);
    ResponseBuffer out {};
    if (action == SCSI_SAI_READ_CAPACITY_16) {
        const std::size_t n = read_capacity_16(info(), out);
        return reply_data(std::span(out).first(n), allocation, buf);
    }
    if (action == SCSI_SAI_GET_LBA_STATUS) {
        // SBC-3 GET LBA STATUS: from STARTING LOGICAL BLOCK ADDRESS, which must name a block. A fully
        // provisioned disk has every block mapped (SBC-3 logical block provisioning), whatever the
        // image's holes.
        const std::uint64_t lba = load_be(cdb, 2, 8);
        if (lba >= blocks_) {
            return check(SENSE_LBA_OUT_OF_RANGE);
        }
        const int fd = options_.thin ? allocation_fd_.get() : -1;
        const std::size_t n = lba_status(fd, lba, blocks_, options_.block_size, out);
        return reply_data(std::span(out).first(n), allocation, buf);
    }
    return invalid_cdb(1, 4);
}

ScsiDisk::Handled ScsiDisk::mode_select(
    std::uint64_t tag, std::span<const std::uint8_t> cdb, const Buffers& buf) noexcept
{
    const ModeSelectCdb m = SCSI_TRY(decode_mode_select(cdb));
    if (m.length == 0) {
        return Reply {};
    }
    if (buf.out_bytes < m.length) {
        return invalid_cdb(m.length_byte, 7);
    }
    // Copied once; everything is checked before anything is applied.
    std::array<std::uint8_t, MODE_SELECT_MAX> list {};
    const auto bytes = std::span(list).first(m.length);
    (void)copy_from_iovecs(buf.out, 0, bytes);
    const ModeParameters next = SCSI_TRY(parse_mode_select(info(), mode_.current, m.ten, bytes));
    const bool cache_off = mode_.current.wce && !next.wce;
    mode_.current = next;
    if (m.save) {
        mode_.saved = next;
    }
    if (cache_off) {
        // From now on every write is committed before it completes; what the cache held so
        // far is committed before this command completes, so that write-through covers all
        // data written before it too. If that fails, so does the command (the new values
        // stay: they are what the initiator wants, and safer).
        return flush(tag, m.length);
    }
    return Reply { 0, m.length, false };
}

ScsiDisk::Handled ScsiDisk::start_stop(std::uint64_t tag, std::span<const std::uint8_t> cdb) noexcept
{
    // SBC-3 START STOP UNIT: there is no medium to spin or eject. A stop (START 0, POWER CONDITION 0)
    // without NO_FLUSH first writes the cache to the medium, as the standard asks.
    const std::uint8_t b4 = cdb[4];
    const bool stop = (b4 & 0xf0) == 0 && (b4 & 0x01) == 0;
    if (stop && (b4 & 0x04) == 0) {
        return flush(tag);
    }
    return Reply {};
}

bool ScsiDisk::abort(std::uint64_t tag) noexcept
{
    const auto it = slot_of_tag_.find(tag);
    if (it == slot_of_tag_.end()) {
        return false; // completed already, or never seen: nothing to abort (SAM-5 ABORT TASK)
    }
    commands_[it->second].aborted = true;
    return true;
}

void ScsiDisk::reset(ResetKind kind) noexcept
{
    // SAM-5 logical unit reset: every command in flight is aborted. The host still has their buffers, so wait
    // for it; each completion meanwhile reports TASK ABORTED and starts nothing further.
    resetting_ = true;
    for (auto& c : commands_) {
        c.aborted = c.aborted || c.busy;
    }
    backend_->drain();
    VMM_ASSERT(busy_commands_ == 0);
    resetting_ = false;
    // SPC-4 / SAM-5: after a reset mode parameters return to their saved values; the reset
    // unit attention supersedes whatever was pending.
    mode_.current = mode_.saved;
    unit_attentions_.clear();
    if (kind == ResetKind::logical_unit) {
        add_unit_attention(SENSE_RESET_OCCURRED);
    } else {
        flush_failed_ = false;
        if (options_.power_on_attention) {
            add_unit_attention(SENSE_POWER_ON_OCCURRED);
        }
    }
    ++counters_.resets;
    if (completed_) {
        completed_ = false;
        if (sink_ != nullptr) {
            sink_->scsi_batch_done();
        }
    }
}

std::uint64_t ScsiDisk::capacity_changed() noexcept
{
    const std::uint64_t now = backend_->size() / options_.block_size;
    if (now != blocks_) {
        blocks_ = now;
        add_unit_attention(SENSE_CAPACITY_DATA_HAS_CHANGED);
        spdlog::info("scsi disk {}: capacity now {} blocks of {} bytes", backend_->describe(), blocks_,
            options_.block_size);
    }
    return blocks_;
}

void ScsiDisk::add_unit_attention(SenseCode code) noexcept
{
    if (std::find(unit_attentions_.begin(), unit_attentions_.end(), code) != unit_attentions_.end()
        || unit_attentions_.size() == unit_attentions_.capacity()) {
        return;
    }
    unit_attentions_.push_back(code);
}

void ScsiDisk::deliver(std::uint64_t tag, const ScsiResult& result) noexcept
{
    switch (result.status) {
    case SCSI_STATUS_CHECK_CONDITION:
        ++counters_.check_conditions;
        break;
    case SCSI_STATUS_TASK_ABORTED:
        ++counters_.aborted;
        break;
    case SCSI_STATUS_BUSY:
    case SCSI_STATUS_TASK_SET_FULL:
        ++counters_.busy;
        break;
    default:
        break;
    }
    completed_ = true;
    if (sink_ != nullptr) {
        sink_->scsi_complete(tag, result);
    }
}

void ScsiDisk::flush_submissions() noexcept
{
    backend_->flush_submissions();
    if (completed_) {
        completed_ = false;
        if (sink_ != nullptr) {
            sink_->scsi_batch_done();
        }
    }
}

void ScsiDisk::io_batch_done() noexcept
{
    if (completed_) {
        completed_ = false;
        if (sink_ != nullptr) {
            sink_->scsi_batch_done();
        }
    }
}

nlohmann::json ScsiDisk::status() const
{
    const auto& c = counters_;
    return nlohmann::json {
        { "blocks", blocks_ },
        { "block_size", options_.block_size },
        { "read_only", options_.read_only },
        { "thin", options_.thin },
        { "write_cache", mode_.current.wce },
        { "descriptor_sense", mode_.current.d_sense },
        { "in_flight", busy_commands_ },
        { "pending_unit_attentions", unit_attentions_.size() },
        { "flush_failed", flush_failed_ },
        { "counters",
            { { "commands", c.commands }, { "reads", c.reads }, { "writes", c.writes }, { "read_bytes", c.read_bytes },
                { "written_bytes", c.written_bytes }, { "flushes", c.flushes }, { "unmaps", c.unmaps },
                { "check_conditions", c.check_conditions }, { "io_errors", c.io_errors },
                { "unit_attentions", c.unit_attentions }, { "aborted", c.aborted }, { "busy", c.busy },
                { "resets", c.resets } } },
        { "backend", backend_->status() },
    };
}

} // namespace vmm::virtio::scsi
