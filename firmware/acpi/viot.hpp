// SPDX-License-Identifier: Apache-2.0
// VIOT (Virtual I/O Translation table): which endpoints sit behind the virtio-iommu.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "firmware/acpi/tables.hpp"

namespace vmm::acpi {

// ACPI 6.5 §5.2.32 (VIOT, revision 0), in the layout Linux's drivers/acpi/viot.c reads: the
// IOMMU node first, then one node per endpoint or range pointing at it. Fails without exactly
// one IOMMU.
[[nodiscard]] Result<std::vector<std::uint8_t>> build_viot(const ViotTopology& topology);

#pragma pack(push, 1)
struct ViotHeader {
    SdtHeader header;       // "VIOT"
    std::uint16_t node_count;  // 36
    std::uint16_t node_offset; // 38
    std::array<std::uint8_t, 8> reserved;
};
static_assert(sizeof(ViotHeader) == 48 && WireType<ViotHeader>);

struct ViotNodeHeader {
    std::uint8_t type;
    std::uint8_t reserved;
    std::uint16_t length;
};

inline constexpr std::uint8_t VIOT_NODE_PCI_RANGE = 1;
inline constexpr std::uint8_t VIOT_NODE_MMIO = 2;
inline constexpr std::uint8_t VIOT_NODE_VIRTIO_IOMMU_PCI = 3;
inline constexpr std::uint8_t VIOT_NODE_VIRTIO_IOMMU_MMIO = 4;

struct ViotPciRange {
    ViotNodeHeader h;
    std::uint32_t endpoint_start;
    std::uint16_t segment_start;
    std::uint16_t segment_end;
    std::uint16_t bdf_start;
    std::uint16_t bdf_end;
    std::uint16_t output_node;
    std::array<std::uint8_t, 6> reserved;
};
static_assert(sizeof(ViotPciRange) == 24 && WireType<ViotPciRange>);

struct ViotMmio {
    ViotNodeHeader h;
    std::uint32_t endpoint;
    std::uint64_t base_address;
    std::uint16_t output_node;
    std::array<std::uint8_t, 6> reserved;
};
static_assert(sizeof(ViotMmio) == 24 && WireType<ViotMmio>);

struct ViotVirtioIommuPci {
    ViotNodeHeader h;
    std::uint16_t segment;
    std::uint16_t bdf;
    std::array<std::uint8_t, 8> reserved;
};
static_assert(sizeof(ViotVirtioIommuPci) == 16 && WireType<ViotVirtioIommuPci>);

struct ViotVirtioIommuMmio {
    ViotNodeHeader h;
    std::array<std::uint8_t, 4> reserved;
    std::uint64_t base_address;
};
static_assert(sizeof(ViotVirtioIommuMmio) == 16 && WireType<ViotVirtioIommuMmio>);
#pragma pack(pop)

} // namespace vmm::acpi
