// SPDX-License-Identifier: Apache-2.0
// Driver notification data (VIRTIO_F_NOTIFICATION_DATA): decoding and checks.
#pragma once

#include <cstdint>

namespace vmm::virtio {

// virtio 1.2 §2.9: with VIRTIO_F_NOTIFICATION_DATA a notification is a le32:
// bits 0-15 vqn (the queue index, or the queue's notify config data with
// VIRTIO_F_NOTIF_CONFIG_DATA), bits 16-30 next_off, bit 31 next_wrap.
struct NotificationData {
    std::uint16_t vqn = 0;
    std::uint16_t next_off = 0; // split: avail idx bits 0-14; packed: next descriptor's offset
    bool next_wrap = false;     // split: avail idx bit 15; packed: driver wrap counter

    // Split rings: the avail idx the driver says it has published.
    [[nodiscard]] constexpr std::uint16_t split_avail_idx() const noexcept
    {
        return static_cast<std::uint16_t>(next_off | (next_wrap ? 0x8000U : 0U));
    }
};

[[nodiscard]] constexpr NotificationData decode_notification_data(std::uint32_t raw) noexcept
{
    return NotificationData {
        static_cast<std::uint16_t>(raw & 0xffffU),
        static_cast<std::uint16_t>((raw >> 16) & 0x7fffU),
        (raw >> 31) != 0,
    };
}

[[nodiscard]] constexpr std::uint32_t encode_notification_data(const NotificationData& d) noexcept
{
    return std::uint32_t { d.vqn } | (std::uint32_t { d.next_off } & 0x7fffU) << 16
        | (d.next_wrap ? 0x80000000U : 0U);
}

} // namespace vmm::virtio
