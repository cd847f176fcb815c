// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/iommu/iommu_fault_rules.hpp"

#include <algorithm>
#include <array>

#include "virtio/spec/iommu.hpp"

namespace vmm::virtio {

nlohmann::json iommu_faults_json(const std::vector<IommuFaultRule>& rules)
{
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rules) {
        const char* access = r.access == Access::read ? "read" : r.access == Access::write ? "write" : "any";
        nlohmann::json j = { { "first_iova", r.first }, { "last_iova", r.last }, { "access", access },
            { "count", r.count }, { "hit", r.hit } };
        j["endpoint"] = r.endpoint ? nlohmann::json(*r.endpoint) : nlohmann::json(nullptr);
        out.push_back(std::move(j));
    }
    return out;
}

std::optional<IommuFault> IommuFaultRules::check(
    std::uint32_t endpoint, std::uint64_t addr, std::uint64_t len, Access access) noexcept
{
    if (len == 0) {
        return std::nullopt;
    }
    // Invariant: the caller checked that addr + len does not wrap.
    const std::uint64_t end = addr + len - 1;
    for (auto& r : rules_) {
        const bool mine = !r.endpoint || *r.endpoint == endpoint;
        const bool overlaps = addr <= r.last && r.first <= end;
        const bool kind = (static_cast<unsigned>(r.access) & static_cast<unsigned>(access)) != 0;
        if (!mine || !overlaps || !kind || (r.count != 0 && r.hit >= r.count)) {
            continue;
        }
        ++r.hit;
        std::uint32_t flags = VIRTIO_IOMMU_FAULT_F_ADDRESS;
        if ((static_cast<unsigned>(access) & static_cast<unsigned>(Access::read)) != 0) {
            flags |= VIRTIO_IOMMU_FAULT_F_READ;
        }
        if ((static_cast<unsigned>(access) & static_cast<unsigned>(Access::write)) != 0) {
            flags |= VIRTIO_IOMMU_FAULT_F_WRITE;
        }
        return IommuFault { VIRTIO_IOMMU_FAULT_R_MAPPING, flags, endpoint, std::max(addr, r.first) };
    }
    return std::nullopt;
}

} // namespace vmm::virtio
