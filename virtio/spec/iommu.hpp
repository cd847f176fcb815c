// SPDX-License-Identifier: Apache-2.0
// virtio-iommu wire formats (virtio 1.2 §5.13): features, configuration, requests, properties,
// fault reports.
#pragma once

#include <array>
#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// §5.13.3.
inline constexpr unsigned VIRTIO_IOMMU_F_INPUT_RANGE = 0;
inline constexpr unsigned VIRTIO_IOMMU_F_DOMAIN_RANGE = 1;
inline constexpr unsigned VIRTIO_IOMMU_F_MAP_UNMAP = 2;
inline constexpr unsigned VIRTIO_IOMMU_F_BYPASS = 3;
inline constexpr unsigned VIRTIO_IOMMU_F_PROBE = 4;
inline constexpr unsigned VIRTIO_IOMMU_F_MMIO = 5;
inline constexpr unsigned VIRTIO_IOMMU_F_BYPASS_CONFIG = 6;

// §5.13.4.
struct VirtioIommuConfig {
    le64 page_size_mask;    // 0x00
    le64 input_start;       // 0x08
    le64 input_end;         // 0x10
    le32 domain_start;      // 0x18
    le32 domain_end;        // 0x1c
    le32 probe_size;        // 0x20
    std::uint8_t bypass;    // 0x24 driver-writable with BYPASS_CONFIG
    std::array<std::uint8_t, 3> reserved;
};
static_assert(sizeof(VirtioIommuConfig) == 40 && WireType<VirtioIommuConfig>);
inline constexpr std::uint32_t IOMMU_CONFIG_BYPASS_OFFSET = 0x24;

// §5.13.6: request types and status codes.
inline constexpr std::uint8_t VIRTIO_IOMMU_T_ATTACH = 1;
inline constexpr std::uint8_t VIRTIO_IOMMU_T_DETACH = 2;
inline constexpr std::uint8_t VIRTIO_IOMMU_T_MAP = 3;
inline constexpr std::uint8_t VIRTIO_IOMMU_T_UNMAP = 4;
inline constexpr std::uint8_t VIRTIO_IOMMU_T_PROBE = 5;

inline constexpr std::uint8_t VIRTIO_IOMMU_S_OK = 0;
inline constexpr std::uint8_t VIRTIO_IOMMU_S_IOERR = 1;
inline constexpr std::uint8_t VIRTIO_IOMMU_S_UNSUPP = 2;
inline constexpr std::uint8_t VIRTIO_IOMMU_S_DEVERR = 3;
inline constexpr std::uint8_t VIRTIO_IOMMU_S_INVAL = 4;
inline constexpr std::uint8_t VIRTIO_IOMMU_S_RANGE = 5;
inline constexpr std::uint8_t VIRTIO_IOMMU_S_NOENT = 6;
inline constexpr std::uint8_t VIRTIO_IOMMU_S_FAULT = 7;
inline constexpr std::uint8_t VIRTIO_IOMMU_S_NOMEM = 8;

inline constexpr std::uint32_t VIRTIO_IOMMU_ATTACH_F_BYPASS = 1U << 0;
inline constexpr std::uint32_t VIRTIO_IOMMU_MAP_F_READ = 1U << 0;
inline constexpr std::uint32_t VIRTIO_IOMMU_MAP_F_WRITE = 1U << 1;
inline constexpr std::uint32_t VIRTIO_IOMMU_MAP_F_MMIO = 1U << 2;

struct VirtioIommuReqHead {
    std::uint8_t type;
    std::array<std::uint8_t, 3> reserved;
};
struct VirtioIommuReqTail {
    std::uint8_t status;
    std::array<std::uint8_t, 3> reserved;
};
static_assert(sizeof(VirtioIommuReqHead) == 4 && sizeof(VirtioIommuReqTail) == 4);

// The device-readable part of each request, head included, by spec offset (§5.13.6.2-6). The
// tail (status + 3 reserved bytes) is the device-writable part that follows; PROBE puts its
// properties in front of the tail.
namespace iommu_req {
inline constexpr std::size_t HEAD = 4;
// ATTACH and DETACH: domain@4, endpoint@8, then flags@0xc + reserved[4] (ATTACH) or
// reserved[8] (DETACH).
inline constexpr std::size_t DOMAIN = 4;
inline constexpr std::size_t ENDPOINT = 8;
inline constexpr std::size_t ATTACH_FLAGS = 0x0c;
inline constexpr std::size_t ATTACH_RESERVED = 0x10;
inline constexpr std::size_t ATTACH_SIZE = 0x14;
inline constexpr std::size_t DETACH_SIZE = 0x14;
// MAP: domain@4, virt_start@8, virt_end@0x10 (inclusive), phys_start@0x18, flags@0x20.
// UNMAP: domain@4, virt_start@8, virt_end@0x10, reserved[4]@0x18.
inline constexpr std::size_t VIRT_START = 0x08;
inline constexpr std::size_t VIRT_END = 0x10;
inline constexpr std::size_t PHYS_START = 0x18;
inline constexpr std::size_t MAP_FLAGS = 0x20;
inline constexpr std::size_t MAP_SIZE = 0x24;
inline constexpr std::size_t UNMAP_RESERVED = 0x18;
inline constexpr std::size_t UNMAP_SIZE = 0x1c;
// PROBE: endpoint@4, reserved[64]@8; then probe_size bytes of properties (device-writable).
inline constexpr std::size_t PROBE_ENDPOINT = 4;
inline constexpr std::size_t PROBE_SIZE = 0x48;
inline constexpr std::size_t MAX = PROBE_SIZE;
} // namespace iommu_req

// §5.13.6.8: properties.
inline constexpr std::uint16_t VIRTIO_IOMMU_PROBE_T_RESV_MEM = 1;
inline constexpr std::uint8_t VIRTIO_IOMMU_RESV_MEM_T_RESERVED = 0;
inline constexpr std::uint8_t VIRTIO_IOMMU_RESV_MEM_T_MSI = 1;

struct VirtioIommuProbeResvMem {
    le16 type;   // type:12, reserved:4
    le16 length; // of what follows this 4-byte header
    std::uint8_t subtype;
    std::array<std::uint8_t, 3> reserved;
    le64 start;
    le64 end; // inclusive
};
static_assert(sizeof(VirtioIommuProbeResvMem) == 24 && WireType<VirtioIommuProbeResvMem>);

// §5.13.6.9: fault reports on the event queue.
inline constexpr std::uint8_t VIRTIO_IOMMU_FAULT_R_UNKNOWN = 0;
inline constexpr std::uint8_t VIRTIO_IOMMU_FAULT_R_DOMAIN = 1;
inline constexpr std::uint8_t VIRTIO_IOMMU_FAULT_R_MAPPING = 2;
inline constexpr std::uint32_t VIRTIO_IOMMU_FAULT_F_READ = 1U << 0;
inline constexpr std::uint32_t VIRTIO_IOMMU_FAULT_F_WRITE = 1U << 1;
inline constexpr std::uint32_t VIRTIO_IOMMU_FAULT_F_ADDRESS = 1U << 8;

struct VirtioIommuFault {
    std::uint8_t reason;
    std::array<std::uint8_t, 3> reserved;
    le32 flags;
    le32 endpoint;
    le32 reserved1;
    le64 address;
};
static_assert(sizeof(VirtioIommuFault) == 24 && WireType<VirtioIommuFault>);

} // namespace vmm::virtio
