// SPDX-License-Identifier: Apache-2.0
// What the data-in builders (INQUIRY, READ CAPACITY, MODE SENSE, ...) need to know of the disk,
// and the buffer they build into.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "virtio/devices/scsi/disk/scsi_disk_options.hpp"

namespace vmm::virtio::scsi {

struct DiskInfo {
    // As the disk uses them: read_only includes the backend's, max_transfer_blocks is set.
    const ScsiDiskOptions& options;
    std::uint64_t blocks = 0; // capacity in logical blocks
};

// Every response a builder makes fits; the command's allocation length and the data-in buffer
// then decide how much of it the initiator gets.
inline constexpr std::size_t RESPONSE_MAX = 2048;
using ResponseBuffer = std::array<std::uint8_t, RESPONSE_MAX>;

} // namespace vmm::virtio::scsi
