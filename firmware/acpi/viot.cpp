// SPDX-License-Identifier: Apache-2.0
// VIOT builder.
#include "firmware/acpi/viot.hpp"

namespace vmm::acpi {

Result<std::vector<std::uint8_t>> build_viot(const ViotTopology& t)
{
    if (t.iommu_pci_bdf.has_value() == t.iommu_mmio_base.has_value()) {
        return fail(Errc::invalid_argument, "VIOT: expected exactly one virtio-iommu (PCI or MMIO)");
    }
    const std::size_t nodes = 1 + t.pci_ranges.size() + t.mmio_endpoints.size();
    if (nodes > 0xffff) {
        return fail(Errc::out_of_range, "VIOT: {} nodes do not fit", nodes);
    }
    std::vector<std::uint8_t> out;
    ViotHeader h {};
    h.header = make_header("VIOT", 0);
    h.node_count = static_cast<std::uint16_t>(nodes);
    h.node_offset = sizeof(ViotHeader);
    append_struct(out, h);

    // Endpoint nodes name the IOMMU by its node's offset from the start of the table.
    const auto iommu_offset = static_cast<std::uint16_t>(out.size());
    if (t.iommu_pci_bdf) {
        append_struct(out, ViotVirtioIommuPci { { VIOT_NODE_VIRTIO_IOMMU_PCI, 0, sizeof(ViotVirtioIommuPci) }, 0,
                               *t.iommu_pci_bdf, {} });
    } else {
        append_struct(out, ViotVirtioIommuMmio { { VIOT_NODE_VIRTIO_IOMMU_MMIO, 0, sizeof(ViotVirtioIommuMmio) }, {},
                               *t.iommu_mmio_base });
    }
    for (const auto& r : t.pci_ranges) {
        if (r.bdf_end < r.bdf_start) {
            return fail(Errc::invalid_argument, "VIOT: PCI range {:#x}..{:#x} is inverted", r.bdf_start, r.bdf_end);
        }
        append_struct(out, ViotPciRange { { VIOT_NODE_PCI_RANGE, 0, sizeof(ViotPciRange) }, r.endpoint_start, 0, 0,
                               r.bdf_start, r.bdf_end, iommu_offset, {} });
    }
    for (const auto& m : t.mmio_endpoints) {
        append_struct(
            out, ViotMmio { { VIOT_NODE_MMIO, 0, sizeof(ViotMmio) }, m.endpoint, m.base, iommu_offset, {} });
    }
    finish_table(out);
    return out;
}

} // namespace vmm::acpi
