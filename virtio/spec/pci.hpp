// SPDX-License-Identifier: Apache-2.0
// virtio-pci (modern) wire structures and constants, virtio 1.2 §4.1 "Virtio Over PCI Bus".
#pragma once

#include <array>
#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio::pci_spec {

// §4.1.2: vendor 0x1AF4; a non-transitional device is 0x1040 + its virtio device ID, with
// revision 1 or more and a subsystem ID of 0x40 or more.
inline constexpr std::uint16_t VENDOR_ID = 0x1af4;
inline constexpr std::uint16_t DEVICE_ID_BASE = 0x1040;
inline constexpr std::uint8_t REVISION = 1;

// §4.1.4 cfg_type values.
inline constexpr std::uint8_t VIRTIO_PCI_CAP_COMMON_CFG = 1;
inline constexpr std::uint8_t VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
inline constexpr std::uint8_t VIRTIO_PCI_CAP_ISR_CFG = 3;
inline constexpr std::uint8_t VIRTIO_PCI_CAP_DEVICE_CFG = 4;
inline constexpr std::uint8_t VIRTIO_PCI_CAP_PCI_CFG = 5;
inline constexpr std::uint8_t VIRTIO_PCI_CAP_SHARED_MEMORY_CFG = 8;
inline constexpr std::uint8_t VIRTIO_PCI_CAP_VENDOR_CFG = 9;

// §4.1.4.5 ISR status bits.
inline constexpr std::uint8_t ISR_QUEUE = 1U << 0;
inline constexpr std::uint8_t ISR_CONFIG = 1U << 1;

// §4.1.5.1.2: no MSI-X vector.
inline constexpr std::uint16_t VIRTIO_MSI_NO_VECTOR = 0xffff;

#pragma pack(push, 1)

// §4.1.4 struct virtio_pci_cap.
struct VirtioPciCap {
    std::uint8_t cap_vndr; // 0  PCI_CAP_ID_VNDR
    std::uint8_t cap_next; // 1
    std::uint8_t cap_len;  // 2
    std::uint8_t cfg_type; // 3
    std::uint8_t bar;      // 4
    std::uint8_t id;       // 5
    std::array<std::uint8_t, 2> padding;
    le32 offset; // 8
    le32 length; // 12
};
static_assert(sizeof(VirtioPciCap) == 16 && WireType<VirtioPciCap>);

// struct virtio_pci_cap64: offsets and lengths beyond 4 GiB (shared memory regions).
struct VirtioPciCap64 {
    VirtioPciCap cap;
    le32 offset_hi; // 16
    le32 length_hi; // 20
};
static_assert(sizeof(VirtioPciCap64) == 24 && WireType<VirtioPciCap64>);

// §4.1.4.4 struct virtio_pci_notify_cap.
struct VirtioPciNotifyCap {
    VirtioPciCap cap;
    le32 notify_off_multiplier; // 16
};
static_assert(sizeof(VirtioPciNotifyCap) == 20 && WireType<VirtioPciNotifyCap>);

// §4.1.4.9 struct virtio_pci_cfg_cap: cap.bar, cap.offset, cap.length and pci_cfg_data are
// writable by the driver.
struct VirtioPciCfgCap {
    VirtioPciCap cap;
    std::array<std::uint8_t, 4> pci_cfg_data; // 16
};
static_assert(sizeof(VirtioPciCfgCap) == 20 && WireType<VirtioPciCfgCap>);

// §4.1.4.8 struct virtio_pci_vndr_data, with this VMM's data after vendor_id: its version as
// NUL-padded ASCII.
struct VirtioPciVendorCap {
    std::uint8_t cap_vndr;        // 0
    std::uint8_t cap_next;        // 1
    std::uint8_t cap_len;         // 2 a multiple of 4
    std::uint8_t cfg_type;        // 3 VIRTIO_PCI_CAP_VENDOR_CFG
    le16 vendor_id;               // 4 never 0x1AF4
    std::array<char, 10> version; // 6
};
static_assert(sizeof(VirtioPciVendorCap) == 16 && sizeof(VirtioPciVendorCap) % 4 == 0 && WireType<VirtioPciVendorCap>);

#pragma pack(pop)

// Offsets into the capability structures, for the fields a driver writes.
inline constexpr std::uint32_t CAP_BAR = 4;
inline constexpr std::uint32_t CAP_OFFSET = 8;
inline constexpr std::uint32_t CAP_LENGTH = 12;
inline constexpr std::uint32_t CFG_CAP_DATA = 16;

// §4.1.4.3 struct virtio_pci_common_cfg (with the 1.3 draft's admin queue fields, which
// Linux maps as part of the structure).
namespace common {
inline constexpr std::uint32_t DEVICE_FEATURE_SELECT = 0x00;
inline constexpr std::uint32_t DEVICE_FEATURE = 0x04;
inline constexpr std::uint32_t DRIVER_FEATURE_SELECT = 0x08;
inline constexpr std::uint32_t DRIVER_FEATURE = 0x0c;
inline constexpr std::uint32_t CONFIG_MSIX_VECTOR = 0x10;
inline constexpr std::uint32_t NUM_QUEUES = 0x12;
inline constexpr std::uint32_t DEVICE_STATUS = 0x14;
inline constexpr std::uint32_t CONFIG_GENERATION = 0x15;
inline constexpr std::uint32_t QUEUE_SELECT = 0x16;
inline constexpr std::uint32_t QUEUE_SIZE = 0x18;
inline constexpr std::uint32_t QUEUE_MSIX_VECTOR = 0x1a;
inline constexpr std::uint32_t QUEUE_ENABLE = 0x1c;
inline constexpr std::uint32_t QUEUE_NOTIFY_OFF = 0x1e;
inline constexpr std::uint32_t QUEUE_DESC = 0x20;
inline constexpr std::uint32_t QUEUE_DRIVER = 0x28;
inline constexpr std::uint32_t QUEUE_DEVICE = 0x30;
inline constexpr std::uint32_t QUEUE_NOTIFY_DATA = 0x38;
inline constexpr std::uint32_t QUEUE_RESET = 0x3a;
inline constexpr std::uint32_t ADMIN_QUEUE_INDEX = 0x3c;
inline constexpr std::uint32_t ADMIN_QUEUE_NUM = 0x3e;
inline constexpr std::uint32_t SIZE = 0x40;
} // namespace common

} // namespace vmm::virtio::pci_spec
