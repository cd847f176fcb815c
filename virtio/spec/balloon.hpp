// SPDX-License-Identifier: Apache-2.0
// virtio-balloon wire format: feature bits, configuration layout, statistics tags (virtio 1.2 §5.5).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "virtio/spec/wire.hpp"

namespace vmm::virtio {

// §5.5.3
inline constexpr unsigned VIRTIO_BALLOON_F_MUST_TELL_HOST = 0;
inline constexpr unsigned VIRTIO_BALLOON_F_STATS_VQ = 1;
inline constexpr unsigned VIRTIO_BALLOON_F_DEFLATE_ON_OOM = 2;
inline constexpr unsigned VIRTIO_BALLOON_F_FREE_PAGE_HINT = 3;
inline constexpr unsigned VIRTIO_BALLOON_F_PAGE_POISON = 4;
inline constexpr unsigned VIRTIO_BALLOON_F_PAGE_REPORTING = 5;

// §5.5.6: page frame numbers are in 4 KiB units whatever the guest's page size.
inline constexpr std::uint64_t VIRTIO_BALLOON_PFN_SHIFT = 12;
inline constexpr std::uint64_t VIRTIO_BALLOON_PAGE_SIZE = std::uint64_t { 1 } << VIRTIO_BALLOON_PFN_SHIFT;

// §5.5.6.4 free page hinting: command ids 0 and 1 are STOP and DONE; a round uses 2 and up.
inline constexpr std::uint32_t VIRTIO_BALLOON_CMD_ID_STOP = 0;
inline constexpr std::uint32_t VIRTIO_BALLOON_CMD_ID_DONE = 1;
inline constexpr std::uint32_t VIRTIO_BALLOON_CMD_ID_MIN = 2;

// §5.5.4. free_page_hint_cmd_id is valid with FREE_PAGE_HINT, poison_val with PAGE_POISON;
// `actual` and `poison_val` are written by the driver.
struct VirtioBalloonConfig {
    le32 num_pages;
    le32 actual;
    le32 free_page_hint_cmd_id;
    le32 poison_val;
};
static_assert(sizeof(VirtioBalloonConfig) == 16 && WireType<VirtioBalloonConfig>);

// §5.5.6.3: the statistics queue carries packed 10-byte entries {le16 tag; le64 val}.
inline constexpr std::size_t VIRTIO_BALLOON_STAT_SIZE = 10;
inline constexpr std::array<std::string_view, 16> VIRTIO_BALLOON_STAT_NAMES {
    "swap_in", "swap_out", "major_faults", "minor_faults", "free_memory", "total_memory", "available_memory",
    "disk_caches", "hugetlb_allocations", "hugetlb_failures",
    // Tags Linux sends beyond the 1.2 list (include/uapi/linux/virtio_balloon.h); named the same.
    "oom_kills", "alloc_stalls", "async_scans", "direct_scans", "async_reclaims", "direct_reclaims",
};

} // namespace vmm::virtio
