// SPDX-License-Identifier: Apache-2.0
// GET LBA STATUS parameter data (SBC-3) from the image's allocation map.
#pragma once

#include <cstddef>
#include <cstdint>

#include "virtio/devices/scsi/disk/disk_info.hpp"

namespace vmm::virtio::scsi {

// At most this many LBA status descriptors per command; the initiator asks again from where
// the last one ends (SBC-3 GET LBA STATUS allows fewer than the whole range).
inline constexpr std::size_t LBA_STATUS_MAX_DESCRIPTORS = 64;

// Describes [lba, blocks) as extents of mapped and deallocated blocks, using SEEK_DATA and
// SEEK_HOLE on `fd` (a block is mapped when any byte of it is data). With fd < 0, or where
// the host cannot say, the rest reads as mapped: that is never wrong, since a mapped block
// may hold zeroes. Invariant: lba < blocks. Returns the full length of the data.
[[nodiscard]] std::size_t lba_status(
    int fd, std::uint64_t lba, std::uint64_t blocks, std::uint32_t block_size, ResponseBuffer& out) noexcept;

} // namespace vmm::virtio::scsi
