// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/iommu/iommu_fault_rules.hpp"

#include <algorithm>
#include <array>

#include "virtio/devices/params.hpp"
#include "virtio/spec/iommu.hpp"

namespace vmm::virtio {

namespace {

constexpr std::array<std::string_view, 5> IOMMU_FAULT_KEYS { "endpoint", "first_iova", "last_iova", "access",
    "count" };
constexpr std::array<std::string_view, 3> IOMMU_FAULT_ACCESS { "read", "write", "any" };

} // namespace

Result<std::vector<IommuFaultRule>> parse_iommu_faults(const nlohmann::json& v, std::string_view where)
{
    std::vector<IommuFaultRule> out;
    const auto elements
        = VMM_TRY(params::object_array(v, where, IommuFaultRules::MAX_RULES, IOMMU_FAULT_KEYS));
    for (const auto& [obj, at] : elements) {
        IommuFaultRule r;
        if (const auto* e = params::find(*obj, "endpoint")) {
            r.endpoint = static_cast<std::uint32_t>(VMM_TRY(params::as_uint(*e, params::join(at, "endpoint"), 0, UINT32_MAX)));
        }
        if (const auto* f = params::find(*obj, "first_iova")) {
            r.first = VMM_TRY(params::as_uint(*f, params::join(at, "first_iova"), 0, UINT64_MAX));
        }
        if (const auto* l = params::find(*obj, "last_iova")) {
            r.last = VMM_TRY(params::as_uint(*l, params::join(at, "last_iova"), 0, UINT64_MAX));
        }
        if (r.last < r.first) {
            return fail(Errc::invalid_argument, "{}: last_iova {:#x} is below first_iova {:#x}", at, r.last, r.first);
        }
        if (const auto* a = params::find(*obj, "access")) {
            constexpr std::array<Access, 3> ACCESS { Access::read, Access::write, Access::read_write };
            r.access = ACCESS[VMM_TRY(params::as_choice(*a, params::join(at, "access"), IOMMU_FAULT_ACCESS))];
        }
        if (const auto* c = params::find(*obj, "count")) {
            r.count = VMM_TRY(params::as_uint(*c, params::join(at, "count"), 0, UINT64_MAX));
        }
        out.push_back(r);
    }
    return out;
}

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
