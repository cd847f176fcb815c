// SPDX-License-Identifier: Apache-2.0
// virtio-mmio (version 2) register offsets, virtio 1.2 §4.2.2 "MMIO Device Register Layout".
#pragma once

#include <cstdint>

namespace vmm::virtio::mmio {

inline constexpr std::uint32_t MAGIC_VALUE = 0x000;
inline constexpr std::uint32_t VERSION = 0x004;
inline constexpr std::uint32_t DEVICE_ID = 0x008;
inline constexpr std::uint32_t VENDOR_ID = 0x00c;
inline constexpr std::uint32_t DEVICE_FEATURES = 0x010;
inline constexpr std::uint32_t DEVICE_FEATURES_SEL = 0x014;
inline constexpr std::uint32_t DRIVER_FEATURES = 0x020;
inline constexpr std::uint32_t DRIVER_FEATURES_SEL = 0x024;
inline constexpr std::uint32_t QUEUE_SEL = 0x030;
inline constexpr std::uint32_t QUEUE_NUM_MAX = 0x034;
inline constexpr std::uint32_t QUEUE_NUM = 0x038;
inline constexpr std::uint32_t QUEUE_READY = 0x044;
inline constexpr std::uint32_t QUEUE_NOTIFY = 0x050;
inline constexpr std::uint32_t INTERRUPT_STATUS = 0x060;
inline constexpr std::uint32_t INTERRUPT_ACK = 0x064;
inline constexpr std::uint32_t STATUS = 0x070;
inline constexpr std::uint32_t QUEUE_DESC_LOW = 0x080;
inline constexpr std::uint32_t QUEUE_DESC_HIGH = 0x084;
inline constexpr std::uint32_t QUEUE_DRIVER_LOW = 0x090;
inline constexpr std::uint32_t QUEUE_DRIVER_HIGH = 0x094;
inline constexpr std::uint32_t QUEUE_DEVICE_LOW = 0x0a0;
inline constexpr std::uint32_t QUEUE_DEVICE_HIGH = 0x0a4;
inline constexpr std::uint32_t SHM_SEL = 0x0ac;
inline constexpr std::uint32_t SHM_LEN_LOW = 0x0b0;
inline constexpr std::uint32_t SHM_LEN_HIGH = 0x0b4;
inline constexpr std::uint32_t SHM_BASE_LOW = 0x0b8;
inline constexpr std::uint32_t SHM_BASE_HIGH = 0x0bc;
inline constexpr std::uint32_t QUEUE_RESET = 0x0c0;
inline constexpr std::uint32_t CONFIG_GENERATION = 0x0fc;
inline constexpr std::uint32_t CONFIG = 0x100;

inline constexpr std::uint32_t MAGIC = 0x74726976; // "virt"
inline constexpr std::uint32_t VERSION_MODERN = 2;
// VendorID: "VIRE" read as a little-endian word.
inline constexpr std::uint32_t VENDOR = 0x45524956;

// InterruptStatus bits (§4.2.2).
inline constexpr std::uint32_t INT_VRING = 1;
inline constexpr std::uint32_t INT_CONFIG = 2;

} // namespace vmm::virtio::mmio
