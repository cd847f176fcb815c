// SPDX-License-Identifier: Apache-2.0
// Device-independent feature bits and device status bits (virtio 1.2 §2.1, §6).
#pragma once

#include <cstdint>

namespace vmm::virtio {

// Feature bit numbers, not masks: test them with has_feature() or build masks with feature_bit().
// virtio 1.2 §6 "Reserved Feature Bits"; bits 0-23 and 50-127 are device-specific.
inline constexpr unsigned VIRTIO_F_NOTIFY_ON_EMPTY = 24; // legacy only
inline constexpr unsigned VIRTIO_F_ANY_LAYOUT = 27;      // legacy only
inline constexpr unsigned VIRTIO_F_INDIRECT_DESC = 28;
inline constexpr unsigned VIRTIO_F_EVENT_IDX = 29;
inline constexpr unsigned VIRTIO_F_VERSION_1 = 32;
inline constexpr unsigned VIRTIO_F_ACCESS_PLATFORM = 33;
inline constexpr unsigned VIRTIO_F_RING_PACKED = 34;
inline constexpr unsigned VIRTIO_F_IN_ORDER = 35;
inline constexpr unsigned VIRTIO_F_ORDER_PLATFORM = 36;
inline constexpr unsigned VIRTIO_F_SR_IOV = 37;
inline constexpr unsigned VIRTIO_F_NOTIFICATION_DATA = 38;
inline constexpr unsigned VIRTIO_F_NOTIF_CONFIG_DATA = 39;
inline constexpr unsigned VIRTIO_F_RING_RESET = 40;
inline constexpr unsigned VIRTIO_F_ADMIN_VQ = 41; // virtio 1.3 draft; PCI only

// Bits 24-41 as a mask: the range the virtqueue core and the transports interpret.
inline constexpr std::uint64_t TRANSPORT_FEATURES_MASK = ((std::uint64_t { 1 } << 42) - 1)
    & ~((std::uint64_t { 1 } << 24) - 1);

[[nodiscard]] constexpr std::uint64_t feature_bit(unsigned bit) noexcept
{
    return bit < 64 ? std::uint64_t { 1 } << bit : 0;
}

[[nodiscard]] constexpr bool has_feature(std::uint64_t features, unsigned bit) noexcept
{
    return (features & feature_bit(bit)) != 0;
}

// virtio 1.2 §2.1 "Device Status Field": bit values of the 8-bit status register. The spec
// calls them ACKNOWLEDGE, DRIVER, ...; the VIRTIO_CONFIG_S_ prefix (as in Linux's uapi
// headers) keeps the short names out of the namespace.
inline constexpr std::uint8_t VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_DRIVER = 2;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_DRIVER_OK = 4;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_FEATURES_OK = 8;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET = 64;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_FAILED = 128;

} // namespace vmm::virtio
