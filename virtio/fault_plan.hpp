// SPDX-License-Identifier: Apache-2.0
// The faults any virtio device takes, whatever its type: late, reordered or lost used buffers
// and interrupts, configuration change interrupts, a refused FEATURES_OK, a stalled queue,
// DEVICE_NEEDS_RESET. One reader for the config's `virtio_faults` object and the API's
// fault-inject request, so both accept the same keys with the same limits; a plan is checked
// whole before any of it is applied, so a bad request changes nothing.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "vmm/base/result.hpp"

namespace vmm::virtio {

class TimingFaults;
class TransportCore;

struct FaultPlan {
    std::optional<std::chrono::milliseconds> delay_interrupts;
    std::optional<std::chrono::milliseconds> config_interrupt_every;
    std::optional<std::chrono::milliseconds> delay_used;
    std::optional<std::uint32_t> reorder_used_every;
    std::optional<std::uint32_t> drop_interrupts_every;
    std::optional<std::uint32_t> duplicate_interrupts_every;
    std::optional<std::pair<std::uint16_t, std::chrono::milliseconds>> stall_queue;
    std::optional<bool> refuse_features_ok;
    // Rules for the device's own error statuses (virtio/status_faults.hpp), read against its
    // table when the plan is applied.
    std::optional<nlohmann::json> status_faults;
    bool needs_reset = false;

    [[nodiscard]] bool empty() const noexcept;
};

// Where a plan comes from. The config holds settings that last (delays, every-Nth faults,
// refuse_features_ok); one-shot events (needs_reset, stall_queue, which runs from "now") only
// make sense at run time, from the API.
enum class FaultPlanSource : std::uint8_t { config, api };

// The plan's keys in `obj`; keys in `other_keys` are the caller's and skipped, any other key is
// refused with a suggestion. `where` prefixes messages ("virtio_faults").
[[nodiscard]] Result<FaultPlan> parse_fault_plan(const nlohmann::json& obj, std::string_view where,
    FaultPlanSource source, std::span<const std::string_view> other_keys = {});

// Every key a plan may have (for messages listing them).
[[nodiscard]] std::span<const std::string_view> fault_plan_keys(FaultPlanSource source) noexcept;

// Checks the plan against the device (its queues, its error statuses, the loop that timing
// faults need), then applies it. An error changes nothing; `where` prefixes messages about
// the status rules ("virtio_faults").
[[nodiscard]] Result<> apply_fault_plan(const FaultPlan& plan, TransportCore& core, std::string_view where = "");

// The settings and counters of a device's timing faults, for status and fault-inject's reply.
[[nodiscard]] nlohmann::json timing_json(const TimingFaults& t);

} // namespace vmm::virtio
