// SPDX-License-Identifier: Apache-2.0
// The "iommu" device kind: config keys and factory.
//
//   bypass         boolean, default false: unattached endpoints reach guest memory directly
//                  (the config `bypass` field's initial value) until the driver attaches them
//   legacy_bypass  boolean, default false: offer VIRTIO_IOMMU_F_BYPASS instead of
//                  VIRTIO_IOMMU_F_BYPASS_CONFIG, for drivers that predate the latter
//
// The full text is in configs/README.md ("iommu").
#pragma once

#include <memory>

#include "virtio/device.hpp"
#include "virtio/devices/iommu/iommu.hpp"
#include "virtio/registry.hpp"

namespace vmm::virtio {

[[nodiscard]] Result<IommuDevice::Options> parse_iommu_params(const config::DeviceConfig& entry);
[[nodiscard]] Result<> validate_iommu(const config::DeviceConfig& entry);
[[nodiscard]] Result<std::unique_ptr<Device>> make_iommu(const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio
