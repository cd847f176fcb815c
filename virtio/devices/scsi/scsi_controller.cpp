// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/scsi/scsi_controller.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <spdlog/spdlog.h>

#include "virtio/devices/scsi/disk/report_luns.hpp"
#include "virtio/memory/iovec_copy.hpp"
#include "virtio/spec/virtio_scsi.hpp"
#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::scsi {
namespace {

// SPC-4: the unit addressed does not exist on this target.
constexpr SenseCode SENSE_LOGICAL_UNIT_NOT_SUPPORTED { SCSI_SENSE_ILLEGAL_REQUEST, 0x25, 0x00 };
// Bounds on what the driver may write into the configuration (§5.6.4): a CDB field of at most
// 255 bytes (the longest CDB is 260 with variable length, which Linux never sends here), and
// sense of at most what a ScsiResult holds.
constexpr std::uint32_t MAX_CDB_SIZE = 255;
constexpr std::uint32_t MIN_CDB_SIZE = 16;

std::uint64_t offered_features() noexcept
{
    return feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX) | feature_bit(VIRTIO_F_RING_PACKED)
        | feature_bit(VIRTIO_F_RING_RESET) | feature_bit(VIRTIO_SCSI_F_HOTPLUG) | feature_bit(VIRTIO_SCSI_F_CHANGE);
}

std::vector<std::uint16_t> queue_sizes(const ControllerOptions& o)
{
    // The control and event queues need few slots; the request queues take the configured size.
    std::vector<std::uint16_t> sizes { 64, 64 };
    sizes.insert(sizes.end(), o.num_queues, o.queue_size);
    return sizes;
}

} // namespace

std::optional<LunAddress> decode_lun(const std::array<std::uint8_t, 8>& f) noexcept
{
    if (f[0] != 1 || f[4] != 0 || f[5] != 0 || f[6] != 0 || f[7] != 0) {
        return std::nullopt;
    }
    const std::uint8_t method = f[2] >> 6;
    if (method == 1) { // flat space addressing, what Linux's driver sends
        return LunAddress { f[1], static_cast<std::uint16_t>((f[2] & 0x3f) << 8 | f[3]) };
    }
    if (method == 0 && f[2] == 0) { // peripheral device addressing, bus 0
        return LunAddress { f[1], f[3] };
    }
    return std::nullopt;
}

std::array<std::uint8_t, 8> encode_lun_field(LunAddress at) noexcept
{
    // As REPORT LUNS encodes it: peripheral addressing below 256, flat above. Linux's driver
    // takes bytes 2-3 of an event as the LUN number itself.
    const auto hi = static_cast<std::uint8_t>(at.lun >= 256 ? 0x40 | (at.lun >> 8 & 0x3f) : 0);
    return { 1, static_cast<std::uint8_t>(at.target), hi, static_cast<std::uint8_t>(at.lun & 0xff), 0, 0, 0, 0 };
}

ScsiController::ScsiController(std::map<LunAddress, std::unique_ptr<ScsiDisk>> luns, ControllerOptions options)
    : DeviceBase(DeviceType::scsi, queue_sizes(options), offered_features(), sizeof(VirtioScsiConfig))
    , luns_(std::move(luns))
    , options_(options)
    , cdb_size_(VIRTIO_SCSI_CDB_DEFAULT_SIZE)
    , sense_size_(VIRTIO_SCSI_SENSE_DEFAULT_SIZE)
{
    for (auto& [at, disk] : luns_) {
        disk->set_sink(this);
    }
    VirtioScsiConfig c {};
    c.num_queues = le32(options_.num_queues);
    c.seg_max = le32(options_.queue_size - 2u);
    c.max_sectors = le32(0xffff);
    c.cmd_per_lun = le32(options_.queue_size);
    c.event_info_size = le32(sizeof(VirtioScsiEvent));
    c.sense_size = le32(sense_size_);
    c.cdb_size = le32(cdb_size_);
    c.max_channel = le16(0);
    c.max_target = le16(options_.max_target);
    c.max_lun = le32(options_.max_lun);
    set_config_obj(0, c);
    const std::size_t n = VIRTIO_SCSI_FIRST_REQUESTQ + std::size_t { options_.num_queues };
    queues_.resize(n);
    touched_.assign(n, false);
}

ScsiController::~ScsiController()
{
    for (auto& q : queues_) {
        q.reset();
    }
    for (auto& [at, disk] : luns_) {
        disk->reset(ResetKind::power_on);
    }
}

bool ScsiController::on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    // Guest-controlled: offset, length and value. Only sense_size and cdb_size are writable
    // (§5.6.4), as whole 32-bit fields, within what the device can honour.
    std::uint32_t v = 0;
    if (in.size() != sizeof(v)) {
        return false;
    }
    std::memcpy(&v, in.data(), sizeof(v));
    if (offset == offsetof(VirtioScsiConfig, sense_size) && v <= SCSI_SENSE_MAX) {
        sense_size_ = v;
    } else if (offset == offsetof(VirtioScsiConfig, cdb_size) && v >= MIN_CDB_SIZE && v <= MAX_CDB_SIZE) {
        cdb_size_ = v;
    } else {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-scsi: config write of {} at {:#x} refused", v, offset);
        return false;
    }
    set_config(offset, in);
    return true;
}

Result<> ScsiController::activate(ActivationContext ctx)
{
    for (auto& q : queues_) {
        q.reset();
    }
    for (auto& q : ctx.queues) {
        const std::uint16_t i = q.index();
        if (i >= queues_.size()) {
            return fail(Errc::invalid_argument, "virtio-scsi has {} queues, not {}", queues_.size(), i + 1);
        }
        queues_[i].emplace(std::move(q));
    }
    interrupt_ = &ctx.interrupt;
    set_interrupt(&ctx.interrupt);
    if (ctx.loop != nullptr && options_.coalesce && coalescers_.empty()) {
        for (std::uint16_t i = 0; i < queues_.size(); ++i) {
            coalescers_.push_back(i < VIRTIO_SCSI_FIRST_REQUESTQ
                    ? nullptr
                    : std::make_unique<NotifyCoalescer>(&ctx.loop->io(), [this, i] { hold_expired(i); }));
        }
    }
    return {};
}

void ScsiController::reset() noexcept
{
    // §2.4: the queues first, so that the completions the disks deliver while they drain find
    // no queue and write nothing; then every unit powers on again.
    for (auto& q : queues_) {
        q.reset();
    }
    for (auto& c : coalescers_) {
        if (c) {
            c->reset(); // the next driver may run at another depth
        }
    }
    for (auto& [at, disk] : luns_) {
        disk->reset(ResetKind::power_on);
    }
    for (auto& t : tmfs_) {
        t = Tmf {};
    }
    events_missed_ = false;
    interrupt_ = nullptr;
    cdb_size_ = VIRTIO_SCSI_CDB_DEFAULT_SIZE;
    sense_size_ = VIRTIO_SCSI_SENSE_DEFAULT_SIZE;
    set_config_obj(offsetof(VirtioScsiConfig, sense_size), le32(sense_size_));
    set_config_obj(offsetof(VirtioScsiConfig, cdb_size), le32(cdb_size_));
    reset_base();
}

void ScsiController::reset_queue(std::uint16_t queue_index) noexcept
{
    if (queue_index >= queues_.size()) {
        return;
    }
    queues_[queue_index].reset();
    if (queue_index < coalescers_.size() && coalescers_[queue_index]) {
        coalescers_[queue_index]->cancel();
    }
    if (queue_index >= VIRTIO_SCSI_FIRST_REQUESTQ) {
        // §2.6.1: nothing of the queue's may be used after this returns; the disks' in-flight
        // commands are waited for (their completions find the queue gone).
        for (auto& [at, disk] : luns_) {
            disk->backend().drain();
        }
    }
}

Result<> ScsiController::enable_queue(Queue queue)
{
    const std::uint16_t i = queue.index();
    if (i >= queues_.size()) {
        return fail(Errc::invalid_argument, "virtio-scsi has {} queues, not {}", queues_.size(), i + 1);
    }
    queues_[i].emplace(std::move(queue));
    return {};
}

void ScsiController::on_queue_notify(std::uint16_t queue_index) noexcept
{
    Queue* q = queue(queue_index);
    if (q == nullptr) {
        return; // before activation, or a queue the driver did not enable
    }
    if (queue_index == VIRTIO_SCSI_EVENTQ) {
        deliver_missed(); // buffers only wait for events; a missed one may go now
        return;
    }
    bool arrived = false;
    do {
        q->disable_notification();
        while (auto chain = q->pop()) {
            if (queue_index == VIRTIO_SCSI_CONTROLQ) {
                handle_control(*q, std::move(*chain));
            } else {
                handle_request(*q, std::move(*chain));
            }
            arrived = true;
        }
    } while (q->enable_notification());
    if (arrived && queue_index < coalescers_.size() && coalescers_[queue_index]) {
        coalescers_[queue_index]->arrived(*q);
    }
    // One submission for everything this notification brought; completions that finish
    // inside it arrive through scsi_batch_done() before it returns.
    for (auto& [at, disk] : luns_) {
        disk->flush_submissions();
    }
    touched_[queue_index] = true;
    notify_touched();
}

void ScsiController::notify_touched() noexcept
{
    for (std::uint16_t i = 0; i < queues_.size(); ++i) {
        if (touched_[i]) {
            signal(i);
        }
    }
}

void ScsiController::signal(std::uint16_t i) noexcept
{
    touched_[i] = false;
    if (!queues_[i]) {
        return;
    }
    notify_used(i < coalescers_.size() ? coalescers_[i].get() : nullptr, *queues_[i]);
}

void ScsiController::hold_expired(std::uint16_t i) noexcept
{
    // Only request queues have coalescers, so only they get here.
    if (i < queues_.size() && queues_[i]) {
        notify_if_hold_over(*coalescers_[i], *queues_[i]);
    }
}

void ScsiController::respond(Queue& queue, DescriptorChain&& chain, const IovecList& response,
    const ScsiResult& result, std::uint8_t virtio_response, std::uint32_t data_in_capacity,
    std::uint32_t data_out_capacity) noexcept
{
    // §5.6.6.1: residual is what the command did not transfer of the buffer in its direction.
    const std::uint32_t residual = result.data_in_len > 0 || data_out_capacity == 0
        ? data_in_capacity - std::min(result.data_in_len, data_in_capacity)
        : data_out_capacity - std::min(result.data_out_len, data_out_capacity);
    const std::uint32_t sense_len = std::min<std::uint32_t>(result.sense_len, sense_size_);
    VirtioScsiRespHeader h {};
    h.sense_len = le32(sense_len);
    h.residual = le32(residual);
    h.status = result.status;
    h.response = virtio_response;
    copy_to_iovecs(response, 0, std::span(reinterpret_cast<const std::uint8_t*>(&h), sizeof(h)));
    copy_to_iovecs(response, sizeof(h), result.sense_data().first(sense_len));
    queue.add_used(std::move(chain), response_size() + std::min(result.data_in_len, data_in_capacity));
    touched_[queue.index()] = true;
}

void ScsiController::handle_request(Queue& queue, DescriptorChain&& chain) noexcept
{
    // Guest-controlled: the chain's layout, the LUN, the tag and the CDB. Without room for the
    // response nothing can be answered: the chain goes back empty and the device needs a reset.
    Writer& w = chain.writer();
    if (w.available() < response_size()) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-scsi: request without room for its {}-byte response",
            response_size());
        ++bad_requests_;
        queue.add_used(std::move(chain), 0);
        touched_[queue.index()] = true;
        if (interrupt_ != nullptr) {
            interrupt_->signal_needs_reset();
        }
        return;
    }
    const IovecList response = w.iovecs(response_size());
    (void)w.skip(response_size());
    const auto in_cap = static_cast<std::uint32_t>(std::min<std::size_t>(w.available(), UINT32_MAX));
    const IovecList data_in = w.iovecs(in_cap);
    Reader& r = chain.reader();
    auto header = r.read_obj<VirtioScsiReqHeader>();
    // On the stack: cdb_size_ is at most MAX_CDB_SIZE (checked where the driver writes it).
    std::array<std::uint8_t, MAX_CDB_SIZE> cdb_bytes {};
    const std::span<std::uint8_t> cdb(cdb_bytes.data(), cdb_size_);
    if (!header || !r.read(std::as_writable_bytes(cdb))) {
        ++bad_requests_;
        respond(queue, std::move(chain), response, ScsiResult {}, VIRTIO_SCSI_S_FAILURE, in_cap, 0);
        return;
    }
    const auto out_cap = static_cast<std::uint32_t>(std::min<std::size_t>(r.available(), UINT32_MAX));
    const IovecList data_out = r.iovecs(out_cap);
    const auto at = decode_lun(header->lun);
    if (!at || !target_exists(at->target)) {
        respond(queue, std::move(chain), response, ScsiResult {}, VIRTIO_SCSI_S_BAD_TARGET, in_cap, out_cap);
        return;
    }
    ScsiDisk* disk = lun(*at);
    if (disk == nullptr || cdb[0] == SCSI_OP_REPORT_LUNS) {
        target_command(queue, std::move(chain), *at, cdb, response, data_in, in_cap, out_cap);
        return;
    }
    const std::uint32_t slot = requests_.acquire();
    Request& req = requests_[slot];
    req.chain.emplace(std::move(chain));
    // The buffers stay in use across loop turns: an IOMMU unmap of them waits.
    req.pin = queue.dma().pin();
    req.queue = queue.index();
    req.at = *at;
    req.id = header->id_value();
    req.response = response;
    req.data_in_capacity = in_cap;
    req.data_out_capacity = out_cap;
    req.tmf.reset();
    req.aborted_as = 0;
    disk->execute(slot, cdb, data_out, data_in);
}

void ScsiController::target_command(Queue& queue, DescriptorChain&& chain, LunAddress at,
    std::span<const std::uint8_t> cdb, const IovecList& response, const IovecList& data_in, std::uint32_t in_cap,
    std::uint32_t out_cap) noexcept
{
    ScsiResult result;
    if (cdb[0] == SCSI_OP_REPORT_LUNS) {
        const auto luns = target_luns(at.target);
        result = report_luns(luns, cdb, data_in, SenseFormat::fixed);
    } else if (cdb[0] == SCSI_OP_INQUIRY && (cdb[1] & 0x01) == 0) {
        // SPC-4 §6.6.2: peripheral qualifier 011b, type 1Fh: no unit can be here.
        std::array<std::uint8_t, 36> inquiry {};
        inquiry[0] = 0x7f;
        inquiry[2] = SCSI_VERSION_SPC4;
        inquiry[3] = SCSI_INQUIRY_RDF;
        inquiry[4] = inquiry.size() - 5;
        const std::size_t alloc = std::size_t { cdb[3] } << 8 | cdb[4];
        const std::size_t n = std::min({ inquiry.size(), alloc, std::size_t { in_cap } });
        result.data_in_len = static_cast<std::uint32_t>(copy_to_iovecs(data_in, 0, std::span(inquiry).first(n)));
    } else if (cdb[0] == SCSI_OP_REQUEST_SENSE) {
        const bool desc = (cdb[1] & 0x01) != 0;
        std::array<std::uint8_t, SCSI_SENSE_MAX> sense {};
        const std::size_t len = build_sense(SenseInfo { SENSE_LOGICAL_UNIT_NOT_SUPPORTED, {}, {} },
            desc ? SenseFormat::descriptor : SenseFormat::fixed, sense);
        const std::size_t n = std::min({ len, std::size_t { cdb[4] }, std::size_t { in_cap } });
        result.data_in_len = static_cast<std::uint32_t>(copy_to_iovecs(data_in, 0, std::span(sense).first(n)));
    } else {
        result = error_result(CommandError { SCSI_STATUS_CHECK_CONDITION, SenseInfo { SENSE_LOGICAL_UNIT_NOT_SUPPORTED, {}, {} } },
            SenseFormat::fixed);
    }
    respond(queue, std::move(chain), response, result, VIRTIO_SCSI_S_OK, in_cap, out_cap);
}

void ScsiController::scsi_complete(std::uint64_t tag, const ScsiResult& result) noexcept
{
    VMM_ASSERT(requests_.in_use(tag));
    Request& req = requests_[tag];
    Queue* q = queue(req.queue);
    // A chain of a queue that was reset meanwhile is stale: its buffers may be reused.
    if (q != nullptr && q->owns(*req.chain)) {
        std::uint8_t response = VIRTIO_SCSI_S_OK;
        if (result.status == SCSI_STATUS_TASK_ABORTED) {
            response = req.aborted_as != 0 ? req.aborted_as : VIRTIO_SCSI_S_RESET;
        }
        respond(*q, std::move(*req.chain), req.response, result, response, req.data_in_capacity,
            req.data_out_capacity);
    }
    const auto tmf = req.tmf;
    req.chain.reset();
    req.pin.reset();
    req.response.clear();
    requests_.release(static_cast<std::uint32_t>(tag));
    if (tmf) {
        finish_tmf(*tmf);
    }
}

void ScsiController::scsi_batch_done() noexcept
{
    notify_touched();
}

bool ScsiController::target_exists(std::uint16_t target) const noexcept
{
    const auto it = luns_.lower_bound(LunAddress { target, 0 });
    return it != luns_.end() && it->first.target == target;
}

std::vector<std::uint16_t> ScsiController::target_luns(std::uint16_t target) const
{
    std::vector<std::uint16_t> out;
    for (auto it = luns_.lower_bound(LunAddress { target, 0 }); it != luns_.end() && it->first.target == target; ++it) {
        out.push_back(it->first.lun);
    }
    return out;
}

ScsiDisk* ScsiController::lun(LunAddress at) const noexcept
{
    const auto it = luns_.find(at);
    return it == luns_.end() ? nullptr : it->second.get();
}

nlohmann::json ScsiController::status() const
{
    nlohmann::json luns = nlohmann::json::array();
    for (const auto& [at, disk] : luns_) {
        nlohmann::json l = disk->status();
        l["target"] = at.target;
        l["lun"] = at.lun;
        luns.push_back(std::move(l));
    }
    std::uint64_t held = 0;
    for (const auto& c : coalescers_) {
        held += c ? c->policy().stats().holds : 0;
    }
    return { { "luns", std::move(luns) }, { "requests_in_flight", requests_.in_use_count() }, { "bad_requests", bad_requests_ },
        { "interrupts_held", held },
        { "task_management", tmf_count_ }, { "events", events_sent_ }, { "events_missed", events_missed_ },
        { "cdb_size", cdb_size_ }, { "sense_size", sense_size_ } };
}

} // namespace vmm::virtio::scsi
