// SPDX-License-Identifier: Apache-2.0
// Injected IOMMU fault rules from JSON (apart from the rest, which the fuzz targets link
// without the config code).
#include <array>

#include "virtio/devices/iommu/iommu_fault_rules.hpp"
#include "virtio/devices/params.hpp"

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

} // namespace vmm::virtio
