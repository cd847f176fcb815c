// SPDX-License-Identifier: Apache-2.0
// The driver's violations of the spec's driver requirements that a transport can see, counted
// per device, for the API's status and vireo test's results (and --strict).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "virtio/queue/queue_fault.hpp"

namespace vmm::virtio {

enum class DriverRule : std::uint8_t {
    status_bit_cleared,        // §2.1.1
    reinit_after_failed,       // §2.1.1
    feature_not_offered,       // §2.2.1
    version_1_not_accepted,    // §6.1
    features_after_features_ok, // §3.1.1
    driver_ok_without_features_ok, // §3.1.1
    notify_before_driver_ok,   // §3.1.1
    notify_unknown_queue,      // §4.1.4.4 / §4.2.2.2: the queue index must name a queue
    queue_changed_while_enabled, // §4.1.4.3.2
    reset_not_awaited,         // §4.1.4.3.2 (virtio-pci)
    config_write_read_only,    // the device's own section (e.g. §5.1.4, §5.13.4)
    // Ring rules, seen by the queues (each a QueueFault, see rule_for()).
    more_buffers_than_queue_size, // §2.6
    ring_entry_invalid,        // §2.7.6, §2.8.6
    buffer_reused_before_used, // §2.7.13, §2.8.21
    chain_too_long,            // §2.7.5.2, §2.7.5.3.1
    indirect_misused,          // §2.7.5.3.1, §2.8.7.1
    writable_before_readable,  // §2.7.4.2
    buffer_not_reachable,      // §2.6, §6.1 (ACCESS_PLATFORM)
    count,
};

// The driver rule a queue fault shows broken.
[[nodiscard]] DriverRule rule_for(QueueFault fault) noexcept;

struct DriverRuleInfo {
    std::string_view name;
    std::string_view section;
    std::string_view text; // the requirement, as the spec words it
};

[[nodiscard]] const DriverRuleInfo& rule_info(DriverRule rule) noexcept;

// Any thread (vCPUs record register-level violations, the loop notify ones).
class ConformanceLog {
public:
    void record(DriverRule rule) noexcept
    {
        counts_[static_cast<std::size_t>(rule)].fetch_add(1, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t count(DriverRule rule) const noexcept
    {
        return counts_[static_cast<std::size_t>(rule)].load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t total() const noexcept;
    // [{"rule", "section", "text", "count"}] for each rule broken at least once.
    [[nodiscard]] nlohmann::json to_json() const;

private:
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(DriverRule::count)> counts_ {};
};

} // namespace vmm::virtio
