// SPDX-License-Identifier: Apache-2.0
// StatusFaults rules from JSON (apart from the rest, which the fuzz targets link without the
// config code).
#include <array>
#include <string>

#include "virtio/devices/params.hpp"
#include "virtio/status_faults.hpp"

namespace vmm::virtio {

namespace {

constexpr std::array<std::string_view, 4> STATUS_FAULT_KEYS { "status", "request", "every", "count" };

} // namespace

Result<std::vector<StatusFaultRule>> StatusFaults::parse(const nlohmann::json& v, std::string_view where) const
{
    if (statuses_.empty()) {
        return fail(Errc::unsupported, "{}: this device answers no request with a status", where);
    }
    std::vector<StatusFaultRule> out;
    const auto elements = VMM_TRY(params::object_array(v, where, MAX_RULES, STATUS_FAULT_KEYS));
    std::vector<std::string_view> names;
    std::string listed;
    for (const auto& s : statuses_) {
        names.push_back(s.name);
        listed += (listed.empty() ? "" : ", ") + std::string(s.name);
    }
    for (const auto& [obj, at] : elements) {
        StatusFaultRule r;
        const auto* status = params::find(*obj, "status");
        if (status == nullptr) {
            return fail(Errc::invalid_argument, "{}: \"status\" is required: {}", at, listed);
        }
        r.status = VMM_TRY(params::as_choice(*status, params::join(at, "status"), names));
        if (const auto* k = params::find(*obj, "request")) {
            r.request = VMM_TRY(params::as_choice(*k, params::join(at, "request"), kinds_));
        }
        if (const auto* e = params::find(*obj, "every")) {
            r.every = VMM_TRY(params::as_uint(*e, params::join(at, "every"), 1, UINT32_MAX));
        }
        if (const auto* c = params::find(*obj, "count")) {
            r.count = VMM_TRY(params::as_uint(*c, params::join(at, "count"), 0, UINT64_MAX));
        }
        out.push_back(r);
    }
    return out;
}

} // namespace vmm::virtio
