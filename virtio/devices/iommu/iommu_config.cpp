// SPDX-License-Identifier: Apache-2.0
// The "iommu" device kind.
#include "virtio/devices/iommu/iommu_config.hpp"

#include <array>
#include <string_view>

#include "virtio/devices/params.hpp"
#include "virtio/spec/iommu.hpp"

namespace vmm::virtio {
namespace {

constexpr std::array<std::string_view, 2> IOMMU_KEYS { "bypass", "legacy_bypass" };

} // namespace

Result<IommuDevice::Options> parse_iommu_params(const config::DeviceConfig& entry)
{
    const nlohmann::json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", IOMMU_KEYS));
    IommuDevice::Options out;
    if (const auto* v = params::find(p, "bypass")) {
        out.bypass = VMM_TRY(params::as_bool(*v, "bypass"));
    }
    if (const auto* v = params::find(p, "legacy_bypass")) {
        out.legacy_bypass = VMM_TRY(params::as_bool(*v, "legacy_bypass"));
    }
    if (entry.iommu) {
        return fail(Errc::invalid_argument, "iommu: an IOMMU cannot sit behind an IOMMU; remove \"iommu\": true");
    }
    out.limits.reserved.push_back(msi_doorbell_range());
    return out;
}

Result<> validate_iommu(const config::DeviceConfig& entry)
{
    VMM_TRY(parse_iommu_params(entry));
    return {};
}

Result<std::unique_ptr<Device>> make_iommu(const config::DeviceConfig& entry, DeviceResources& /*resources*/)
{
    auto options = VMM_TRY(parse_iommu_params(entry));
    return std::unique_ptr<Device>(std::make_unique<IommuDevice>(std::move(options)));
}

} // namespace vmm::virtio
