// SPDX-License-Identifier: Apache-2.0
// Injected error statuses: a device whose requests end in a status byte (virtio-iommu's
// VIRTIO_IOMMU_S_*, virtio-net's control acks, and each later device's own) names its error
// statuses and its request kinds in a table, and a rule makes chosen requests answer with one
// of those statuses instead of being carried out. One mechanism for every such device: a new
// device gets fault injection by filling in its table.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/base/result.hpp"

namespace vmm::virtio {

// One error status of a device's spec, by the name users give it ("ioerr" for
// VIRTIO_IOMMU_S_IOERR).
struct ErrorStatus {
    std::string_view name;
    std::uint8_t value;
};

struct StatusFaultRule {
    std::size_t status = 0;                // index into the device's statuses
    std::optional<std::size_t> request;    // index into its request kinds; none: any request
    std::uint64_t every = 1;               // of the matching requests, every Nth is hit
    std::uint64_t count = 0;               // at most this many hits; 0: no limit

    std::uint64_t seen = 0;
    std::uint64_t hit = 0;
};

class StatusFaults {
public:
    static constexpr std::size_t MAX_RULES = 16;

    // The tables live as long as the device (static arrays in its source).
    StatusFaults(std::span<const ErrorStatus> statuses, std::span<const std::string_view> request_kinds) noexcept
        : statuses_(statuses)
        , kinds_(request_kinds)
    {
    }

    // Rules from JSON: an array of {"status": NAME, "request": KIND, "every": N, "count": N}.
    // `where` prefixes messages. Nothing changes until set().
    [[nodiscard]] Result<std::vector<StatusFaultRule>> parse(const nlohmann::json& v, std::string_view where) const;
    void set(std::vector<StatusFaultRule> rules) noexcept { rules_ = std::move(rules); }
    [[nodiscard]] bool empty() const noexcept { return rules_.empty(); }

    // For a request of kind `kind` (an index into the request kinds): the status to answer with
    // instead of carrying it out, when a rule hits it. The device's loop thread.
    [[nodiscard]] std::optional<std::uint8_t> pick(std::size_t kind) noexcept;

    // The rules with their counters, and the names a rule may use.
    [[nodiscard]] nlohmann::json to_json() const;

private:
    std::span<const ErrorStatus> statuses_;
    std::span<const std::string_view> kinds_;
    std::vector<StatusFaultRule> rules_;
};

} // namespace vmm::virtio
