// SPDX-License-Identifier: Apache-2.0
// SCSI constants a direct-access logical unit needs: operation codes, status, sense keys and
// additional sense codes (SAM-5, SPC-4, SBC-3). SCSI only; the virtio-scsi wire format is not here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmm::virtio::scsi {

// ---- Operation codes (SPC-4 annex D, SBC-3 clause 5) ----
inline constexpr std::uint8_t SCSI_OP_TEST_UNIT_READY = 0x00;
inline constexpr std::uint8_t SCSI_OP_REQUEST_SENSE = 0x03;
inline constexpr std::uint8_t SCSI_OP_READ_6 = 0x08;
inline constexpr std::uint8_t SCSI_OP_WRITE_6 = 0x0a;
inline constexpr std::uint8_t SCSI_OP_INQUIRY = 0x12;
inline constexpr std::uint8_t SCSI_OP_MODE_SELECT_6 = 0x15;
inline constexpr std::uint8_t SCSI_OP_MODE_SENSE_6 = 0x1a;
inline constexpr std::uint8_t SCSI_OP_START_STOP_UNIT = 0x1b;
inline constexpr std::uint8_t SCSI_OP_PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1e;
inline constexpr std::uint8_t SCSI_OP_READ_CAPACITY_10 = 0x25;
inline constexpr std::uint8_t SCSI_OP_READ_10 = 0x28;
inline constexpr std::uint8_t SCSI_OP_WRITE_10 = 0x2a;
inline constexpr std::uint8_t SCSI_OP_WRITE_AND_VERIFY_10 = 0x2e;
inline constexpr std::uint8_t SCSI_OP_VERIFY_10 = 0x2f;
inline constexpr std::uint8_t SCSI_OP_SYNCHRONIZE_CACHE_10 = 0x35;
inline constexpr std::uint8_t SCSI_OP_WRITE_SAME_10 = 0x41;
inline constexpr std::uint8_t SCSI_OP_UNMAP = 0x42;
inline constexpr std::uint8_t SCSI_OP_MODE_SELECT_10 = 0x55;
inline constexpr std::uint8_t SCSI_OP_MODE_SENSE_10 = 0x5a;
inline constexpr std::uint8_t SCSI_OP_READ_16 = 0x88;
inline constexpr std::uint8_t SCSI_OP_WRITE_16 = 0x8a;
inline constexpr std::uint8_t SCSI_OP_WRITE_AND_VERIFY_16 = 0x8e;
inline constexpr std::uint8_t SCSI_OP_VERIFY_16 = 0x8f;
inline constexpr std::uint8_t SCSI_OP_SYNCHRONIZE_CACHE_16 = 0x91;
inline constexpr std::uint8_t SCSI_OP_WRITE_SAME_16 = 0x93;
inline constexpr std::uint8_t SCSI_OP_SERVICE_ACTION_IN_16 = 0x9e;
inline constexpr std::uint8_t SCSI_OP_REPORT_LUNS = 0xa0;
inline constexpr std::uint8_t SCSI_OP_READ_12 = 0xa8;
inline constexpr std::uint8_t SCSI_OP_WRITE_12 = 0xaa;

// SERVICE ACTION IN(16) service actions (SBC-3), in bits 4..0 of CDB byte 1.
inline constexpr std::uint8_t SCSI_SAI_READ_CAPACITY_16 = 0x10;
inline constexpr std::uint8_t SCSI_SAI_GET_LBA_STATUS = 0x12;

// ---- Status (SAM-5 status codes) ----
inline constexpr std::uint8_t SCSI_STATUS_GOOD = 0x00;
inline constexpr std::uint8_t SCSI_STATUS_CHECK_CONDITION = 0x02;
inline constexpr std::uint8_t SCSI_STATUS_CONDITION_MET = 0x04;
inline constexpr std::uint8_t SCSI_STATUS_BUSY = 0x08;
inline constexpr std::uint8_t SCSI_STATUS_RESERVATION_CONFLICT = 0x18;
inline constexpr std::uint8_t SCSI_STATUS_TASK_SET_FULL = 0x28;
inline constexpr std::uint8_t SCSI_STATUS_ACA_ACTIVE = 0x30;
inline constexpr std::uint8_t SCSI_STATUS_TASK_ABORTED = 0x40;

// ---- Sense keys (SPC-4 §4.5.6) ----
inline constexpr std::uint8_t SCSI_SENSE_NO_SENSE = 0x0;
inline constexpr std::uint8_t SCSI_SENSE_RECOVERED_ERROR = 0x1;
inline constexpr std::uint8_t SCSI_SENSE_NOT_READY = 0x2;
inline constexpr std::uint8_t SCSI_SENSE_MEDIUM_ERROR = 0x3;
inline constexpr std::uint8_t SCSI_SENSE_HARDWARE_ERROR = 0x4;
inline constexpr std::uint8_t SCSI_SENSE_ILLEGAL_REQUEST = 0x5;
inline constexpr std::uint8_t SCSI_SENSE_UNIT_ATTENTION = 0x6;
inline constexpr std::uint8_t SCSI_SENSE_DATA_PROTECT = 0x7;
inline constexpr std::uint8_t SCSI_SENSE_ABORTED_COMMAND = 0xb;
inline constexpr std::uint8_t SCSI_SENSE_MISCOMPARE = 0xe;

// A sense key with its additional sense code and qualifier (SPC-4 §4.5.6).
struct SenseCode {
    std::uint8_t key = SCSI_SENSE_NO_SENSE;
    std::uint8_t asc = 0;
    std::uint8_t ascq = 0;
    constexpr bool operator==(const SenseCode&) const noexcept = default;
};

inline constexpr SenseCode SENSE_NO_SENSE { SCSI_SENSE_NO_SENSE, 0x00, 0x00 };
inline constexpr SenseCode SENSE_UNRECOVERED_READ_ERROR { SCSI_SENSE_MEDIUM_ERROR, 0x11, 0x00 };
inline constexpr SenseCode SENSE_WRITE_ERROR { SCSI_SENSE_MEDIUM_ERROR, 0x0c, 0x00 };
inline constexpr SenseCode SENSE_PARAMETER_LIST_LENGTH_ERROR { SCSI_SENSE_ILLEGAL_REQUEST, 0x1a, 0x00 };
inline constexpr SenseCode SENSE_INVALID_COMMAND_OPERATION_CODE { SCSI_SENSE_ILLEGAL_REQUEST, 0x20, 0x00 };
inline constexpr SenseCode SENSE_LBA_OUT_OF_RANGE { SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00 };
inline constexpr SenseCode SENSE_INVALID_FIELD_IN_CDB { SCSI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00 };
inline constexpr SenseCode SENSE_INVALID_FIELD_IN_PARAMETER_LIST { SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0x00 };
inline constexpr SenseCode SENSE_POWER_ON_OCCURRED { SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x01 };
inline constexpr SenseCode SENSE_RESET_OCCURRED { SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x00 };
inline constexpr SenseCode SENSE_CAPACITY_DATA_HAS_CHANGED { SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x09 };
inline constexpr SenseCode SENSE_WRITE_PROTECTED { SCSI_SENSE_DATA_PROTECT, 0x27, 0x00 };
// SBC-3 thin provisioning: a write that found no space. Linux maps it to ENOSPC.
inline constexpr SenseCode SENSE_SPACE_ALLOCATION_FAILED { SCSI_SENSE_DATA_PROTECT, 0x27, 0x07 };
inline constexpr SenseCode SENSE_MISCOMPARE_DURING_VERIFY { SCSI_SENSE_MISCOMPARE, 0x1d, 0x00 };
inline constexpr SenseCode SENSE_OVERLAPPED_COMMANDS_ATTEMPTED { SCSI_SENSE_ABORTED_COMMAND, 0x4e, 0x00 };

// ---- Sense data (SPC-4 §4.5) ----
inline constexpr std::uint8_t SCSI_SENSE_FIXED_CURRENT = 0x70;      // §4.5.3
inline constexpr std::uint8_t SCSI_SENSE_DESCRIPTOR_CURRENT = 0x72; // §4.5.2
inline constexpr std::size_t SCSI_SENSE_FIXED_LEN = 18;
// SPC-4 §4.5.1: sense data is at most 252 bytes (ADDITIONAL SENSE LENGTH is at most 244).
inline constexpr std::size_t SCSI_SENSE_MAX = 252;
inline constexpr std::uint8_t SCSI_SENSE_DESC_INFORMATION = 0x00;  // §4.5.2.2
inline constexpr std::uint8_t SCSI_SENSE_DESC_KEY_SPECIFIC = 0x02; // §4.5.2.4

// ---- INQUIRY and VPD pages (SPC-4, SBC-3) ----
inline constexpr std::uint8_t SCSI_TYPE_DISK = 0x00;       // peripheral device type: direct access block
inline constexpr std::uint8_t SCSI_VERSION_SPC4 = 0x06;    // standard INQUIRY VERSION field
inline constexpr std::uint8_t SCSI_INQUIRY_RDF = 0x02;     // RESPONSE DATA FORMAT
inline constexpr std::uint8_t SCSI_INQUIRY_CMDQUE = 0x02;  // byte 7
inline constexpr std::uint16_t SCSI_VERSION_DESC_SAM5 = 0x00a0; // SPC-4 version descriptor values
inline constexpr std::uint16_t SCSI_VERSION_DESC_SPC4 = 0x0460;
inline constexpr std::uint16_t SCSI_VERSION_DESC_SBC3 = 0x04c0;
inline constexpr std::uint8_t SCSI_VPD_SUPPORTED_PAGES = 0x00;
inline constexpr std::uint8_t SCSI_VPD_UNIT_SERIAL_NUMBER = 0x80;
inline constexpr std::uint8_t SCSI_VPD_DEVICE_IDENTIFICATION = 0x83;
inline constexpr std::uint8_t SCSI_VPD_BLOCK_LIMITS = 0xb0;
inline constexpr std::uint8_t SCSI_VPD_BLOCK_DEVICE_CHARACTERISTICS = 0xb1;
inline constexpr std::uint8_t SCSI_VPD_LOGICAL_BLOCK_PROVISIONING = 0xb2;
// Designation descriptors (SPC-4 Device Identification page): code sets, designator types.
inline constexpr std::uint8_t SCSI_CODE_SET_BINARY = 0x1;
inline constexpr std::uint8_t SCSI_CODE_SET_ASCII = 0x2;
inline constexpr std::uint8_t SCSI_DESIGNATOR_T10_VENDOR_ID = 0x1;
inline constexpr std::uint8_t SCSI_DESIGNATOR_NAA = 0x3;
inline constexpr std::uint8_t SCSI_NAA_LOCALLY_ASSIGNED = 0x3;

// ---- Mode pages (SPC-4, SBC-3) ----
inline constexpr std::uint8_t SCSI_MODE_PAGE_CACHING = 0x08;
inline constexpr std::uint8_t SCSI_MODE_PAGE_CONTROL = 0x0a;
inline constexpr std::uint8_t SCSI_MODE_PAGE_ALL = 0x3f;
inline constexpr std::uint8_t SCSI_MODE_SUBPAGE_ALL = 0xff;
inline constexpr std::uint8_t SCSI_MODE_PAGE_CACHING_LEN = 0x12; // PAGE LENGTH field
inline constexpr std::uint8_t SCSI_MODE_PAGE_CONTROL_LEN = 0x0a;
// Page control, bits 7..6 of MODE SENSE byte 2 (SPC-4 MODE SENSE).
inline constexpr std::uint8_t SCSI_MODE_PC_CURRENT = 0;
inline constexpr std::uint8_t SCSI_MODE_PC_CHANGEABLE = 1;
inline constexpr std::uint8_t SCSI_MODE_PC_DEFAULT = 2;
inline constexpr std::uint8_t SCSI_MODE_PC_SAVED = 3;
// Device-specific parameter of the mode parameter header for direct access (SBC-3).
inline constexpr std::uint8_t SCSI_MODE_DSP_WP = 0x80;
inline constexpr std::uint8_t SCSI_MODE_DSP_DPOFUA = 0x10;
inline constexpr std::uint8_t SCSI_CACHING_WCE = 0x04;  // caching page byte 2
inline constexpr std::uint8_t SCSI_CONTROL_D_SENSE = 0x04; // control page byte 2

// ---- GET LBA STATUS provisioning status (SBC-3) ----
inline constexpr std::uint8_t SCSI_LBA_MAPPED = 0x0;
inline constexpr std::uint8_t SCSI_LBA_DEALLOCATED = 0x1;

} // namespace vmm::virtio::scsi
