// SPDX-License-Identifier: Apache-2.0
#include "virtio/fault_plan.hpp"

#include <vector>

#include <spdlog/spdlog.h>

#include "virtio/devices/params.hpp"
#include "virtio/status_faults.hpp"
#include "virtio/transport/timing_faults.hpp"
#include "virtio/transport/transport_core.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio {

namespace {

using std::chrono::milliseconds;

constexpr std::array<std::string_view, 8> PLAN_CONFIG_KEYS { "delay_interrupts_ms", "config_interrupt_every_ms",
    "delay_used_ms", "reorder_used_every", "drop_interrupts_every", "duplicate_interrupts_every",
    "refuse_features_ok", "status_faults" };
constexpr std::array<std::string_view, 10> PLAN_API_KEYS { "delay_interrupts_ms", "config_interrupt_every_ms",
    "delay_used_ms", "reorder_used_every", "drop_interrupts_every", "duplicate_interrupts_every",
    "refuse_features_ok", "status_faults", "stall_queue", "needs_reset" };
constexpr std::array<std::string_view, 2> PLAN_STALL_KEYS { "queue", "ms" };

constexpr std::uint64_t PLAN_MAX_MS = TimingFaults::MAX_DELAY.count();
constexpr std::uint64_t PLAN_MAX_EVERY = TimingFaults::MAX_EVERY;

// The value under `key`, as milliseconds from `least` (when not 0, which turns it off).
Result<std::optional<milliseconds>> plan_ms(
    const nlohmann::json& obj, std::string_view where, std::string_view key, std::uint64_t least)
{
    const auto* v = params::find(obj, key);
    if (v == nullptr) {
        return std::optional<milliseconds> {};
    }
    const std::string at = params::join(where, key);
    const std::uint64_t n = VMM_TRY(params::as_uint(*v, at, 0, PLAN_MAX_MS));
    if (n != 0 && n < least) {
        return fail(Errc::invalid_argument, "{}: must be 0 (off) or {} to {}", at, least, PLAN_MAX_MS);
    }
    return std::optional<milliseconds>(milliseconds(n));
}

// An every-Nth count: 0 (off), or `least` up to MAX_EVERY.
Result<std::optional<std::uint32_t>> plan_every(
    const nlohmann::json& obj, std::string_view where, std::string_view key, std::uint64_t least)
{
    const auto* v = params::find(obj, key);
    if (v == nullptr) {
        return std::optional<std::uint32_t> {};
    }
    const std::string at = params::join(where, key);
    const std::uint64_t n = VMM_TRY(params::as_uint(*v, at, 0, PLAN_MAX_EVERY));
    if (n != 0 && n < least) {
        return fail(Errc::invalid_argument, "{}: must be 0 (off) or {} to {}", at, least, PLAN_MAX_EVERY);
    }
    return std::optional<std::uint32_t>(static_cast<std::uint32_t>(n));
}

} // namespace

bool FaultPlan::empty() const noexcept
{
    return !delay_interrupts && !config_interrupt_every && !delay_used && !reorder_used_every && !drop_interrupts_every
        && !duplicate_interrupts_every && !stall_queue && !refuse_features_ok && !status_faults && !needs_reset;
}

std::span<const std::string_view> fault_plan_keys(FaultPlanSource source) noexcept
{
    if (source == FaultPlanSource::api) {
        return PLAN_API_KEYS;
    }
    return PLAN_CONFIG_KEYS;
}

Result<FaultPlan> parse_fault_plan(const nlohmann::json& obj, std::string_view where, FaultPlanSource source,
    std::span<const std::string_view> other_keys)
{
    if (!obj.is_object()) {
        return fail(Errc::invalid_argument, "{}: expected an object, got {}", where, obj.type_name());
    }
    const auto own = fault_plan_keys(source);
    std::vector<std::string_view> allowed(own.begin(), own.end());
    allowed.insert(allowed.end(), other_keys.begin(), other_keys.end());
    for (const auto& [key, value] : obj.items()) {
        const bool run_time_only = source == FaultPlanSource::config && (key == "needs_reset" || key == "stall_queue");
        if (run_time_only) {
            return fail(Errc::invalid_argument,
                "{}: a one-time event, for the API's fault-inject while the VM runs, not the config",
                params::join(where, key));
        }
    }
    VMM_TRY(params::check_keys(obj, where, allowed));
    FaultPlan plan;
    plan.delay_interrupts = VMM_TRY(plan_ms(obj, where, "delay_interrupts_ms", 1));
    // A configuration interrupt more often than every 10 ms would be a flood, not a test.
    plan.config_interrupt_every = VMM_TRY(plan_ms(obj, where, "config_interrupt_every_ms", 10));
    plan.delay_used = VMM_TRY(plan_ms(obj, where, "delay_used_ms", 1));
    plan.reorder_used_every = VMM_TRY(plan_every(obj, where, "reorder_used_every", 2));
    plan.drop_interrupts_every = VMM_TRY(plan_every(obj, where, "drop_interrupts_every", 2));
    plan.duplicate_interrupts_every = VMM_TRY(plan_every(obj, where, "duplicate_interrupts_every", 1));
    if (const auto* r = params::find(obj, "refuse_features_ok")) {
        plan.refuse_features_ok = VMM_TRY(params::as_bool(*r, params::join(where, "refuse_features_ok")));
    }
    if (const auto* sf = params::find(obj, "status_faults")) {
        if (!sf->is_array()) {
            return fail(Errc::invalid_argument, "{}: expected an array of rules, got {}",
                params::join(where, "status_faults"), sf->type_name());
        }
        plan.status_faults = *sf;
    }
    if (const auto* n = params::find(obj, "needs_reset")) {
        const std::string at = params::join(where, "needs_reset");
        if (!VMM_TRY(params::as_bool(*n, at))) {
            return fail(Errc::invalid_argument, "{}: expected true (false does nothing)", at);
        }
        plan.needs_reset = true;
    }
    if (const auto* s = params::find(obj, "stall_queue")) {
        const std::string at = params::join(where, "stall_queue");
        if (!s->is_object() || params::find(*s, "queue") == nullptr || params::find(*s, "ms") == nullptr) {
            return fail(Errc::invalid_argument, "{}: expected {{\"queue\": INDEX, \"ms\": MILLISECONDS}}", at);
        }
        VMM_TRY(params::check_keys(*s, at, PLAN_STALL_KEYS));
        const auto q = VMM_TRY(params::as_uint(*params::find(*s, "queue"), params::join(at, "queue"), 0, 0xffff));
        const auto ms = VMM_TRY(params::as_uint(*params::find(*s, "ms"), params::join(at, "ms"), 1, PLAN_MAX_MS));
        plan.stall_queue.emplace(static_cast<std::uint16_t>(q), milliseconds(ms));
    }
    return plan;
}

Result<> apply_fault_plan(const FaultPlan& plan, TransportCore& core, std::string_view where)
{
    if (core.timing() == nullptr) {
        return fail(Errc::unsupported, "{}: the transport is not initialised", core.name());
    }
    TimingFaults& t = *core.timing();
    const bool timed = plan.delay_interrupts || plan.config_interrupt_every || plan.delay_used
        || plan.reorder_used_every || plan.drop_interrupts_every || plan.duplicate_interrupts_every || plan.stall_queue;
    if (timed && !t.has_loop()) {
        return fail(Errc::unsupported, "{}: timing faults need the event loop", core.name());
    }
    if (plan.stall_queue && plan.stall_queue->first >= core.num_queues()) {
        return fail(Errc::invalid_argument, "stall_queue: queue {} does not exist (the device has {})",
            plan.stall_queue->first, core.num_queues());
    }
    std::optional<std::vector<StatusFaultRule>> status_rules;
    if (plan.status_faults) {
        const std::string at = params::join(where, "status_faults");
        StatusFaults* sf = core.device().status_faults();
        if (sf == nullptr) {
            return fail(Errc::unsupported, "{}: this device's requests end in no status (devices with statuses: "
                "iommu, net's control queue)", at);
        }
        status_rules = VMM_TRY(sf->parse(*plan.status_faults, at));
    }
    // Checked above and in parse_fault_plan: from here nothing fails.
    if (status_rules) {
        core.device().status_faults()->set(std::move(*status_rules));
    }
    auto must = [](const Result<>& r) { VMM_ASSERT(r.has_value()); };
    if (plan.stall_queue) {
        must(t.stall_queue(plan.stall_queue->first, plan.stall_queue->second));
    }
    if (plan.delay_interrupts) {
        must(t.delay_interrupts(*plan.delay_interrupts));
    }
    if (plan.config_interrupt_every) {
        must(t.config_interrupts_every(*plan.config_interrupt_every));
    }
    if (plan.delay_used) {
        must(t.delay_used(*plan.delay_used));
    }
    if (plan.reorder_used_every) {
        must(t.reorder_used_every(*plan.reorder_used_every));
    }
    if (plan.drop_interrupts_every) {
        must(t.drop_interrupts_every(*plan.drop_interrupts_every));
    }
    if (plan.duplicate_interrupts_every) {
        must(t.duplicate_interrupts_every(*plan.duplicate_interrupts_every));
    }
    if (plan.refuse_features_ok) {
        core.set_refuse_features_ok(*plan.refuse_features_ok);
    }
    if (plan.needs_reset) {
        spdlog::info("{}: DEVICE_NEEDS_RESET (injected fault)", core.name());
        core.signal_needs_reset();
    }
    return {};
}

nlohmann::json timing_json(const TimingFaults& t)
{
    return { { "delay_interrupts_ms", t.interrupt_delay().count() },
        { "config_interrupt_every_ms", t.config_period().count() }, { "delay_used_ms", t.used_delay().count() },
        { "reorder_used_every", t.reorder_every() }, { "drop_interrupts_every", t.drop_every() },
        { "duplicate_interrupts_every", t.duplicate_every() }, { "held_notifies", t.held_notifies() },
        { "delayed_interrupts", t.delayed_interrupts() }, { "config_interrupts", t.config_interrupts() },
        { "delayed_used", t.delayed_used() }, { "reordered_used", t.reordered_used() },
        { "dropped_interrupts", t.dropped_interrupts() }, { "duplicated_interrupts", t.duplicated_interrupts() } };
}

} // namespace vmm::virtio
