// SPDX-License-Identifier: Apache-2.0
// INQUIRY data, the vital product data pages and READ CAPACITY data of a SCSI disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "virtio/devices/scsi/disk/disk_info.hpp"
#include "virtio/devices/scsi/disk/sense.hpp"

namespace vmm::virtio::scsi {

// INQUIRY (SPC-4): standard data, or the VPD page the CDB asks for. `cdb` holds 6 bytes;
// returns the full length of the data (the caller truncates to the allocation length).
[[nodiscard]] ScsiExpected<std::size_t> inquiry(
    const DiskInfo& disk, std::span<const std::uint8_t> cdb, ResponseBuffer& out);

// READ CAPACITY (10) (SBC-3); `cdb` holds 10 bytes.
[[nodiscard]] ScsiExpected<std::size_t> read_capacity_10(
    const DiskInfo& disk, std::span<const std::uint8_t> cdb, ResponseBuffer& out);
// READ CAPACITY (16) parameter data (SBC-3), 32 bytes.
[[nodiscard]] std::size_t read_capacity_16(const DiskInfo& disk, ResponseBuffer& out) noexcept;

// The NAA designator of VPD page 0x83 (SPC-4 NAA designator format 3h, locally assigned): a 60-bit
// value hashed from vendor, product and serial, so that it is stable across VMM runs for the
// same serial. Only meaningful with a serial.
[[nodiscard]] std::uint64_t naa_designator(const ScsiDiskOptions& options) noexcept;

} // namespace vmm::virtio::scsi
