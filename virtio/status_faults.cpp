// SPDX-License-Identifier: Apache-2.0
#include "virtio/status_faults.hpp"

#include <string>

namespace vmm::virtio {

std::optional<std::uint8_t> StatusFaults::pick(std::size_t kind) noexcept
{
    for (auto& r : rules_) {
        if ((r.request && *r.request != kind) || (r.count != 0 && r.hit >= r.count)) {
            continue;
        }
        ++r.seen;
        if (r.seen % r.every != 0) {
            continue;
        }
        ++r.hit;
        return statuses_[r.status].value;
    }
    return std::nullopt;
}

nlohmann::json StatusFaults::to_json() const
{
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& r : rules_) {
        rules.push_back({ { "status", statuses_[r.status].name },
            { "request", r.request ? nlohmann::json(kinds_[*r.request]) : nlohmann::json("any") },
            { "every", r.every }, { "count", r.count }, { "seen", r.seen }, { "hit", r.hit } });
    }
    nlohmann::json statuses = nlohmann::json::array();
    for (const auto& s : statuses_) {
        statuses.push_back(s.name);
    }
    return { { "rules", std::move(rules) }, { "statuses", std::move(statuses) },
        { "requests", std::vector<std::string>(kinds_.begin(), kinds_.end()) } };
}

} // namespace vmm::virtio
