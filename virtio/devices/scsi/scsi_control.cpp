// SPDX-License-Identifier: Apache-2.0
// virtio-scsi's control queue (task management, asynchronous notification) and event queue
// (hot-plug, parameter changes), and the host's unit changes that raise those events.
#include <spdlog/spdlog.h>

#include "virtio/devices/scsi/scsi_controller.hpp"
#include "virtio/spec/virtio_scsi.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio::scsi {

void ScsiController::handle_control(Queue& queue, DescriptorChain&& chain) noexcept
{
    // Guest-controlled: the type and everything after it. §5.6.6.2: the type comes first.
    auto type = chain.reader().read_obj<le32>();
    if (!type) {
        ++bad_requests_;
        queue.add_used(std::move(chain), 0);
        touched_[queue.index()] = true;
        return;
    }
    if (type->get() == VIRTIO_SCSI_T_TMF) {
        handle_tmf(queue, std::move(chain));
        return;
    }
    if (type->get() == VIRTIO_SCSI_T_AN_QUERY || type->get() == VIRTIO_SCSI_T_AN_SUBSCRIBE) {
        // No asynchronous notification classes are supported: event_actual 0, answered OK.
        VirtioScsiCtrlAnResp resp {};
        resp.response = VIRTIO_SCSI_S_OK;
        const bool fits = chain.writer().write_obj(resp).has_value();
        queue.add_used(std::move(chain), fits ? sizeof(resp) : 0);
        touched_[queue.index()] = true;
        return;
    }
    VMM_LOG_GUEST(spdlog::level::warn, "virtio-scsi: unknown control request type {}", type->get());
    ++bad_requests_;
    answer_tmf(queue, std::move(chain), VIRTIO_SCSI_S_FAILURE);
}

void ScsiController::answer_tmf(Queue& queue, DescriptorChain&& chain, std::uint8_t response) noexcept
{
    const bool fits = chain.writer().write_obj(response).has_value();
    queue.add_used(std::move(chain), fits ? 1 : 0);
    touched_[queue.index()] = true;
}

void ScsiController::handle_tmf(Queue& queue, DescriptorChain&& chain) noexcept
{
    // The rest of virtio_scsi_ctrl_tmf_req after the type already read, field by field: the
    // id is at offset 16 of the request, not 8-byte aligned after the type.
    ++tmf_count_;
    Reader& in = chain.reader();
    auto subtype_field = in.read_obj<le32>();
    auto lun_field = in.read_obj<std::array<std::uint8_t, 8>>();
    auto id_field = in.read_obj<std::array<std::uint8_t, 8>>();
    if (!subtype_field || !lun_field || !id_field || chain.writer().available() < 1) {
        ++bad_requests_;
        answer_tmf(queue, std::move(chain), VIRTIO_SCSI_S_FAILURE);
        return;
    }
    VirtioScsiReqHeader decoded {};
    decoded.id = *id_field;
    const std::uint64_t id = decoded.id_value();
    const auto at = decode_lun(*lun_field);
    if (!at || !target_exists(at->target)) {
        answer_tmf(queue, std::move(chain), VIRTIO_SCSI_S_BAD_TARGET);
        return;
    }
    ScsiDisk* disk = lun(*at);
    const std::uint32_t subtype = subtype_field->get();
    if (disk == nullptr && subtype != VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET) {
        answer_tmf(queue, std::move(chain), VIRTIO_SCSI_S_INCORRECT_LUN);
        return;
    }
    switch (subtype) {
    case VIRTIO_SCSI_T_TMF_ABORT_TASK:
    case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
    case VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET: {
        // Answered once the aborted commands have completed (their buffers are free then).
        std::uint32_t slot = 0;
        while (slot < tmfs_.size() && tmfs_[slot].busy) {
            ++slot;
        }
        if (slot == tmfs_.size()) {
            tmfs_.emplace_back();
        }
        const std::optional<std::uint64_t> only
            = subtype == VIRTIO_SCSI_T_TMF_ABORT_TASK ? std::optional(id) : std::nullopt;
        const std::uint32_t waiting = abort_where(*at, only, slot);
        if (waiting == 0) {
            answer_tmf(queue, std::move(chain), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
            return;
        }
        Tmf& t = tmfs_[slot];
        t.chain.emplace(std::move(chain));
        t.pin = queue.dma().pin();
        t.waiting = waiting;
        t.busy = true;
        return;
    }
    case VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET:
        // Completes every command in flight (as reset) before it returns.
        disk->reset(ResetKind::logical_unit);
        answer_tmf(queue, std::move(chain), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
        return;
    case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET:
        for (auto it = luns_.lower_bound(LunAddress { at->target, 0 }); it != luns_.end() && it->first.target == at->target;
             ++it) {
            it->second->reset(ResetKind::logical_unit);
        }
        answer_tmf(queue, std::move(chain), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
        return;
    case VIRTIO_SCSI_T_TMF_QUERY_TASK:
    case VIRTIO_SCSI_T_TMF_QUERY_TASK_SET: {
        bool found = false;
        requests_.for_each_in_use([&](std::uint32_t, const Request& r) {
            if (r.at == *at && r.aborted_as == 0 && (subtype == VIRTIO_SCSI_T_TMF_QUERY_TASK_SET || r.id == id)) {
                found = true;
            }
        });
        answer_tmf(queue, std::move(chain), found ? VIRTIO_SCSI_S_FUNCTION_SUCCEEDED : VIRTIO_SCSI_S_FUNCTION_COMPLETE);
        return;
    }
    default: // CLEAR ACA (no ACA is ever established) and anything unknown
        answer_tmf(queue, std::move(chain), VIRTIO_SCSI_S_FUNCTION_REJECTED);
        return;
    }
}

std::uint32_t ScsiController::abort_where(LunAddress at, std::optional<std::uint64_t> id, std::uint32_t tmf) noexcept
{
    ScsiDisk* disk = lun(at);
    std::uint32_t waiting = 0;
    requests_.for_each_in_use([&](std::uint32_t i, Request& r) {
        if (r.at != at || r.aborted_as != 0 || (id && r.id != *id)) {
            return;
        }
        r.aborted_as = VIRTIO_SCSI_S_ABORTED;
        if (disk->abort(i)) {
            r.tmf = tmf;
            ++waiting;
        }
    });
    return waiting;
}

void ScsiController::finish_tmf(std::uint32_t tmf) noexcept
{
    Tmf& t = tmfs_[tmf];
    if (!t.busy || --t.waiting > 0) {
        return;
    }
    Queue* q = queue(VIRTIO_SCSI_CONTROLQ);
    if (q != nullptr && q->owns(*t.chain)) {
        answer_tmf(*q, std::move(*t.chain), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
    }
    t = Tmf {};
}

void ScsiController::post_event(std::uint32_t event, LunAddress at, std::uint32_t reason) noexcept
{
    Queue* q = queue(VIRTIO_SCSI_EVENTQ);
    if (q == nullptr) {
        return; // the driver is not running: it scans afresh when it starts
    }
    auto chain = q->pop();
    if (!chain) {
        events_missed_ = true; // §5.6.6.3: reported with the next event that has room
        return;
    }
    VirtioScsiEvent e {};
    e.event = le32(event | (events_missed_ ? VIRTIO_SCSI_T_EVENTS_MISSED : 0));
    e.lun = encode_lun_field(at);
    e.reason = le32(reason);
    if (chain->writer().write_obj(e)) {
        events_missed_ = false;
        ++events_sent_;
        q->add_used(std::move(*chain), sizeof(e));
    } else {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-scsi: event buffer smaller than {} bytes", sizeof(e));
        events_missed_ = true;
        q->add_used(std::move(*chain), 0);
    }
    touched_[VIRTIO_SCSI_EVENTQ] = true;
    notify_touched();
}

void ScsiController::deliver_missed() noexcept
{
    if (events_missed_) {
        post_event(VIRTIO_SCSI_T_NO_EVENT, LunAddress {}, 0);
    }
}

Result<> ScsiController::add_lun(LunAddress at, std::unique_ptr<ScsiDisk> disk)
{
    if (at.target > options_.max_target || at.lun > options_.max_lun) {
        return fail(Errc::invalid_argument, "target {} LUN {} is beyond max_target {} / max_lun {}", at.target, at.lun,
            options_.max_target, options_.max_lun);
    }
    if (luns_.contains(at)) {
        return fail(Errc::busy, "target {} LUN {} is already there", at.target, at.lun);
    }
    disk->set_sink(this);
    luns_.emplace(at, std::move(disk));
    if (acked(VIRTIO_SCSI_F_HOTPLUG)) {
        post_event(VIRTIO_SCSI_T_TRANSPORT_RESET, at, VIRTIO_SCSI_EVT_RESET_RESCAN);
    }
    spdlog::info("virtio-scsi: target {} LUN {} added", at.target, at.lun);
    return {};
}

Result<> ScsiController::remove_lun(LunAddress at)
{
    const auto it = luns_.find(at);
    if (it == luns_.end()) {
        return fail(Errc::not_found, "there is no target {} LUN {}", at.target, at.lun);
    }
    // Its commands in flight complete as reset before it goes (the host is done with them).
    it->second->reset(ResetKind::logical_unit);
    luns_.erase(it);
    notify_touched();
    if (acked(VIRTIO_SCSI_F_HOTPLUG)) {
        post_event(VIRTIO_SCSI_T_TRANSPORT_RESET, at, VIRTIO_SCSI_EVT_RESET_REMOVED);
    }
    spdlog::info("virtio-scsi: target {} LUN {} removed", at.target, at.lun);
    return {};
}

Result<std::uint64_t> ScsiController::resize_lun(LunAddress at, std::uint64_t bytes)
{
    ScsiDisk* disk = lun(at);
    if (disk == nullptr) {
        return fail(Errc::not_found, "there is no target {} LUN {}", at.target, at.lun);
    }
    if (bytes == 0 || bytes % disk->block_size() != 0) {
        return fail(Errc::invalid_argument, "size {} is not a positive multiple of the {}-byte block", bytes,
            disk->block_size());
    }
    static_cast<void>(VMM_TRY(disk->backend().resize(bytes)));
    const std::uint64_t blocks = disk->capacity_changed();
    // §5.6.6.3.3: the unit attention's ASC and ASCQ, CAPACITY DATA HAS CHANGED.
    if (acked(VIRTIO_SCSI_F_CHANGE)) {
        post_event(VIRTIO_SCSI_T_PARAM_CHANGE, at, 0x2a | 0x09 << 8);
    }
    return blocks;
}

} // namespace vmm::virtio::scsi
