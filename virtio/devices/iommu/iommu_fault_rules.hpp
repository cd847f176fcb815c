// SPDX-License-Identifier: Apache-2.0
// Injected translation faults: accesses of chosen endpoints to chosen IOVA ranges fail as if
// nothing were mapped there, mapped or not, and are reported on the event queue like any other
// fault (virtio 1.2 §5.13.6.9). For testing how a guest's drivers and its IOMMU driver handle
// a device whose DMA is refused (`faults` in the API's fault-inject on the iommu device).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "virtio/devices/iommu/iommu_domains.hpp"
#include "virtio/memory/dma_space.hpp"
#include "vmm/base/result.hpp"

namespace vmm::virtio {

struct IommuFaultRule {
    std::optional<std::uint32_t> endpoint; // none: every endpoint
    std::uint64_t first = 0;               // the IOVA range, inclusive
    std::uint64_t last = UINT64_MAX;
    Access access = Access::read_write; // the accesses it hits: read, write or both
    std::uint64_t count = 0;            // at most this many hits; 0: no limit

    std::uint64_t hit = 0;
};

// The rules from JSON: an array of {"endpoint", "first_iova", "last_iova", "access":
// read|write|any, "count"}. `where` prefixes messages.
[[nodiscard]] Result<std::vector<IommuFaultRule>> parse_iommu_faults(const nlohmann::json& v, std::string_view where);
[[nodiscard]] nlohmann::json iommu_faults_json(const std::vector<IommuFaultRule>& rules);

class IommuFaultRules {
public:
    static constexpr std::size_t MAX_RULES = 16;

    void set(std::vector<IommuFaultRule> rules) noexcept { rules_ = std::move(rules); }
    [[nodiscard]] const std::vector<IommuFaultRule>& rules() const noexcept { return rules_; }

    // The fault to report when a rule hits this access of `endpoint` to [addr, addr + len).
    [[nodiscard]] std::optional<IommuFault> check(
        std::uint32_t endpoint, std::uint64_t addr, std::uint64_t len, Access access) noexcept;

private:
    std::vector<IommuFaultRule> rules_;
};

} // namespace vmm::virtio
