// SPDX-License-Identifier: Apache-2.0
// virtio-scsi wire format: feature bits, configuration layout, requests and events (virtio 1.2
// §5.6). The SCSI commands themselves are in virtio/spec/scsi.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// §5.6.3 feature bits.
inline constexpr unsigned VIRTIO_SCSI_F_INOUT = 0;
inline constexpr unsigned VIRTIO_SCSI_F_HOTPLUG = 1;
inline constexpr unsigned VIRTIO_SCSI_F_CHANGE = 2;
inline constexpr unsigned VIRTIO_SCSI_F_T10_PI = 3;

// §5.6.2: controlq, eventq, then the request queues.
inline constexpr std::uint16_t VIRTIO_SCSI_CONTROLQ = 0;
inline constexpr std::uint16_t VIRTIO_SCSI_EVENTQ = 1;
inline constexpr std::uint16_t VIRTIO_SCSI_FIRST_REQUESTQ = 2;

// §5.6.4: the defaults of the two fields the driver may write.
inline constexpr std::uint32_t VIRTIO_SCSI_CDB_DEFAULT_SIZE = 32;
inline constexpr std::uint32_t VIRTIO_SCSI_SENSE_DEFAULT_SIZE = 96;

struct VirtioScsiConfig {
    le32 num_queues;
    le32 seg_max;
    le32 max_sectors;
    le32 cmd_per_lun;
    le32 event_info_size;
    le32 sense_size; // driver-writable
    le32 cdb_size;   // driver-writable
    le16 max_channel;
    le16 max_target;
    le32 max_lun;
};
static_assert(sizeof(VirtioScsiConfig) == 36 && WireType<VirtioScsiConfig>);

// §5.6.6.1 request: the readable header (then cdb_size CDB bytes, then data-out) ... Its 64-bit
// id sits at offset 8 of a 19-byte structure: held as bytes, so that the structure needs no
// packing and no member is ever accessed misaligned.
struct VirtioScsiReqHeader {
    std::array<std::uint8_t, 8> lun;
    std::array<std::uint8_t, 8> id;
    std::uint8_t task_attr;
    std::uint8_t prio;
    std::uint8_t crn;

    [[nodiscard]] std::uint64_t id_value() const noexcept
    {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < id.size(); ++i) {
            v |= std::uint64_t { id[i] } << (8 * i);
        }
        return v;
    }
    void set_id(std::uint64_t v) noexcept
    {
        for (std::size_t i = 0; i < id.size(); ++i) {
            id[i] = static_cast<std::uint8_t>(v >> (8 * i));
        }
    }
};
static_assert(sizeof(VirtioScsiReqHeader) == 19 && WireType<VirtioScsiReqHeader>);

// ... and the writable response (then sense_size sense bytes, then data-in).
struct VirtioScsiRespHeader {
    le32 sense_len;
    le32 residual;
    le16 status_qualifier;
    std::uint8_t status;
    std::uint8_t response;
};
static_assert(sizeof(VirtioScsiRespHeader) == 12 && WireType<VirtioScsiRespHeader>);

// §5.6.6.2 control requests.
struct VirtioScsiCtrlTmfReq {
    le32 type;
    le32 subtype;
    std::array<std::uint8_t, 8> lun;
    le64 id;
};
static_assert(sizeof(VirtioScsiCtrlTmfReq) == 24 && WireType<VirtioScsiCtrlTmfReq>);

struct VirtioScsiCtrlAnReq {
    le32 type;
    std::array<std::uint8_t, 8> lun;
    le32 event_requested;
};
static_assert(sizeof(VirtioScsiCtrlAnReq) == 16 && WireType<VirtioScsiCtrlAnReq>);

struct VirtioScsiCtrlAnResp {
    std::array<std::uint8_t, 4> event_actual; // le32 at offset 0 of a 5-byte structure
    std::uint8_t response;
};
static_assert(sizeof(VirtioScsiCtrlAnResp) == 5 && WireType<VirtioScsiCtrlAnResp>);

// §5.6.6.3 events.
struct VirtioScsiEvent {
    le32 event;
    std::array<std::uint8_t, 8> lun;
    le32 reason;
};
static_assert(sizeof(VirtioScsiEvent) == 16 && WireType<VirtioScsiEvent>);

// §5.6.6.1.1 response values.
inline constexpr std::uint8_t VIRTIO_SCSI_S_OK = 0;
inline constexpr std::uint8_t VIRTIO_SCSI_S_OVERRUN = 1;
inline constexpr std::uint8_t VIRTIO_SCSI_S_ABORTED = 2;
inline constexpr std::uint8_t VIRTIO_SCSI_S_BAD_TARGET = 3;
inline constexpr std::uint8_t VIRTIO_SCSI_S_RESET = 4;
inline constexpr std::uint8_t VIRTIO_SCSI_S_BUSY = 5;
inline constexpr std::uint8_t VIRTIO_SCSI_S_TRANSPORT_FAILURE = 6;
inline constexpr std::uint8_t VIRTIO_SCSI_S_TARGET_FAILURE = 7;
inline constexpr std::uint8_t VIRTIO_SCSI_S_NEXUS_FAILURE = 8;
inline constexpr std::uint8_t VIRTIO_SCSI_S_FAILURE = 9;
inline constexpr std::uint8_t VIRTIO_SCSI_S_FUNCTION_COMPLETE = 0;
inline constexpr std::uint8_t VIRTIO_SCSI_S_FUNCTION_SUCCEEDED = 10;
inline constexpr std::uint8_t VIRTIO_SCSI_S_FUNCTION_REJECTED = 11;
inline constexpr std::uint8_t VIRTIO_SCSI_S_INCORRECT_LUN = 12;

// §5.6.6.2 control request types and task management functions.
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF = 0;
inline constexpr std::uint32_t VIRTIO_SCSI_T_AN_QUERY = 1;
inline constexpr std::uint32_t VIRTIO_SCSI_T_AN_SUBSCRIBE = 2;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF_ABORT_TASK = 0;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF_ABORT_TASK_SET = 1;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF_CLEAR_ACA = 2;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET = 3;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET = 4;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET = 5;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF_QUERY_TASK = 6;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TMF_QUERY_TASK_SET = 7;

// §5.6.6.3 events and reasons.
inline constexpr std::uint32_t VIRTIO_SCSI_T_NO_EVENT = 0;
inline constexpr std::uint32_t VIRTIO_SCSI_T_TRANSPORT_RESET = 1;
inline constexpr std::uint32_t VIRTIO_SCSI_T_ASYNC_NOTIFY = 2;
inline constexpr std::uint32_t VIRTIO_SCSI_T_PARAM_CHANGE = 3;
inline constexpr std::uint32_t VIRTIO_SCSI_T_EVENTS_MISSED = 0x8000'0000;
inline constexpr std::uint32_t VIRTIO_SCSI_EVT_RESET_HARD = 0;
inline constexpr std::uint32_t VIRTIO_SCSI_EVT_RESET_RESCAN = 1;
inline constexpr std::uint32_t VIRTIO_SCSI_EVT_RESET_REMOVED = 2;

} // namespace vmm::virtio
