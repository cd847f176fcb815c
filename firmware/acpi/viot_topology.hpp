// SPDX-License-Identifier: Apache-2.0
// ViotTopology: what sits behind the virtio-iommu, as the VIOT table describes it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace vmm::acpi {

// The topology, as plain values. The IOMMU itself is a virtio-pci function (segment 0) or a
// virtio-mmio window; endpoints are ranges of PCI functions (endpoint ID = endpoint_start +
// BDF - bdf_start) or single virtio-mmio windows.
struct ViotTopology {
    struct PciRange {
        std::uint32_t endpoint_start = 0;
        std::uint16_t bdf_start = 0;
        std::uint16_t bdf_end = 0;
    };
    struct MmioEndpoint {
        std::uint32_t endpoint = 0;
        std::uint64_t base = 0;
    };
    std::optional<std::uint16_t> iommu_pci_bdf;
    std::optional<std::uint64_t> iommu_mmio_base;
    std::vector<PciRange> pci_ranges;
    std::vector<MmioEndpoint> mmio_endpoints;
};

} // namespace vmm::acpi
