// SPDX-License-Identifier: Apache-2.0
// REPORT LUNS (SPC-4), for the controller that owns the logical units: in virtio-scsi the
// target answers it, not any one logical unit.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "virtio/devices/scsi/disk/sense.hpp"
#include "virtio/memory/guest_slice.hpp"

namespace vmm::virtio::scsi {

// The highest LUN the flat space addressing method can hold (SAM-5: 14 bits). It is
// also the largest max_lun a virtio-scsi device may report.
inline constexpr std::uint16_t SCSI_MAX_FLAT_LUN = 0x3fff;

// A single-level LUN structure (SAM-5) as Linux's virtio_scsi driver expects it: LUNs
// below 256 with peripheral device addressing (bus 0), the others with flat space addressing.
// Linux's scsilun_to_int() turns the latter into 0x4000 | lun, and virtio_scsi puts that back
// into the request's LUN field unchanged. Invariant: lun <= SCSI_MAX_FLAT_LUN.
[[nodiscard]] std::array<std::uint8_t, 8> encode_lun(std::uint16_t lun) noexcept;

// Answers REPORT LUNS with `luns` (in the order given; those above SCSI_MAX_FLAT_LUN left out):
// `cdb` is the whole CDB, the response goes to the front of `data_in`, truncated to the
// allocation length and the buffer. Errors (a short CDB, NACA, an unknown SELECT REPORT) are
// CHECK CONDITION with sense in `format`.
[[nodiscard]] ScsiResult report_luns(std::span<const std::uint16_t> luns, std::span<const std::uint8_t> cdb,
    const IovecList& data_in, SenseFormat format) noexcept;

} // namespace vmm::virtio::scsi
