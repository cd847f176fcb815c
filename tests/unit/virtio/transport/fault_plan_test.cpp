// SPDX-License-Identifier: Apache-2.0
// The fault plan any device takes: the keys from the config and the API, their limits, and a
// plan that is refused whole.
#include <catch2/catch.hpp>

#include "tests/support/echo_device.hpp"
#include "tests/support/transport_rig.hpp"
#include "virtio/fault_plan.hpp"
#include "virtio/status_faults.hpp"

namespace vmm::virtio::test {
namespace {

using Catch::Matchers::Contains;
using nlohmann::json;

std::string plan_error(const json& j, FaultPlanSource source = FaultPlanSource::config)
{
    auto plan = parse_fault_plan(j, "virtio_faults", source);
    REQUIRE_FALSE(plan.has_value());
    return plan.error().describe();
}

} // namespace

TEST_CASE("a config plan reads the lasting settings", "[virtio][faults]")
{
    const auto plan = parse_fault_plan(json::parse(R"({"delay_used_ms": 100, "reorder_used_every": 3,
        "drop_interrupts_every": 50, "duplicate_interrupts_every": 1, "delay_interrupts_ms": 0,
        "config_interrupt_every_ms": 10, "refuse_features_ok": false})"),
        "virtio_faults", FaultPlanSource::config);
    REQUIRE(plan.has_value());
    CHECK(plan->delay_used == std::chrono::milliseconds(100));
    CHECK(plan->reorder_used_every == 3u);
    CHECK(plan->drop_interrupts_every == 50u);
    CHECK(plan->duplicate_interrupts_every == 1u);
    CHECK(plan->delay_interrupts == std::chrono::milliseconds(0));
    CHECK(plan->config_interrupt_every == std::chrono::milliseconds(10));
    CHECK(plan->refuse_features_ok == false);
    CHECK_FALSE(plan->needs_reset);
    CHECK_FALSE(plan->stall_queue);
    CHECK_FALSE(plan->empty());
    CHECK(parse_fault_plan(json::object(), "v", FaultPlanSource::config)->empty());
}

TEST_CASE("a plan's bad values are refused with the key and the range", "[virtio][faults]")
{
    CHECK_THAT(plan_error(json::parse(R"({"reorder_used_every": 1})")),
        Contains("virtio_faults.reorder_used_every: must be 0 (off) or 2 to 1000000"));
    CHECK_THAT(plan_error(json::parse(R"({"drop_interrupts_every": 1})")), Contains("or 2 to"));
    CHECK_THAT(plan_error(json::parse(R"({"config_interrupt_every_ms": 5})")),
        Contains("config_interrupt_every_ms: must be 0 (off) or 10 to 60000"));
    CHECK_THAT(plan_error(json::parse(R"({"delay_used_ms": 60001})")), Contains("delay_used_ms"));
    CHECK_THAT(plan_error(json::parse(R"({"delay_used_ms": -1})")), Contains("delay_used_ms"));
    CHECK_THAT(plan_error(json::parse(R"({"delay_used_ms": "100"})")), Contains("delay_used_ms"));
    CHECK_THAT(plan_error(json::parse(R"({"refuse_features_ok": 1})")), Contains("refuse_features_ok"));
    CHECK_THAT(plan_error(json::parse(R"({"delay_used": 5})")), Contains("did you mean \"delay_used_ms\""));
    CHECK_THAT(plan_error(json::parse("[1]")), Contains("virtio_faults: expected an object"));
}

TEST_CASE("one-time events come from the API, not the config", "[virtio][faults]")
{
    CHECK_THAT(plan_error(json::parse(R"({"needs_reset": true})")), Contains("a one-time event"));
    CHECK_THAT(plan_error(json::parse(R"({"stall_queue": {"queue": 0, "ms": 5}})")), Contains("a one-time event"));
    const auto plan = parse_fault_plan(json::parse(R"({"needs_reset": true, "stall_queue": {"queue": 1, "ms": 5},
        "id": "x", "command": "fault-inject"})"), "", FaultPlanSource::api,
        std::array<std::string_view, 2> { "id", "command" });
    REQUIRE(plan.has_value());
    CHECK(plan->needs_reset);
    REQUIRE(plan->stall_queue);
    CHECK(plan->stall_queue->first == 1);
    CHECK(plan->stall_queue->second == std::chrono::milliseconds(5));
    CHECK_THAT(plan_error(json::parse(R"({"needs_reset": false})"), FaultPlanSource::api),
        Contains("expected true"));
    CHECK_THAT(plan_error(json::parse(R"({"stall_queue": {"queue": 0}})"), FaultPlanSource::api),
        Contains("expected {\"queue\": INDEX, \"ms\": MILLISECONDS}"));
    CHECK_THAT(plan_error(json::parse(R"({"stall_queue": {"queue": 0, "ms": 0}})"), FaultPlanSource::api),
        Contains("stall_queue.ms"));
    CHECK_THAT(plan_error(json::parse(R"({"stall_queue": {"queue": 70000, "ms": 5}})"), FaultPlanSource::api),
        Contains("stall_queue.queue"));
    CHECK_THAT(plan_error(json::parse(R"({"stall_queue": {"queue": 0, "ms": 5, "x": 1}})"), FaultPlanSource::api),
        Contains("stall_queue.x: unknown key"));
    CHECK_THAT(plan_error(json::parse(R"({"id": "x"})"), FaultPlanSource::api), Contains("id: unknown key"));
}

TEST_CASE("a plan applies whole or not at all", "[virtio][faults]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = make_rig(t, std::make_unique<EchoDevice>());
        // The rig has no event loop: a timing fault is refused, and the rest of the plan with it.
        FaultPlan timed;
        timed.delay_used = std::chrono::milliseconds(5);
        timed.refuse_features_ok = true;
        timed.needs_reset = true;
        const auto refused = apply_fault_plan(timed, rig->core());
        REQUIRE_FALSE(refused.has_value());
        CHECK_THAT(refused.error().describe(), Contains("timing faults need the event loop"));
        CHECK_FALSE(rig->core().refuses_features_ok());
        CHECK_FALSE(rig->driver().needs_reset());

        FaultPlan plain;
        plain.refuse_features_ok = true;
        REQUIRE(apply_fault_plan(plain, rig->core()).has_value());
        CHECK(rig->core().refuses_features_ok());
        CHECK_FALSE(rig->driver().negotiate(0));
    }
}


TEST_CASE("status fault rules pick requests by kind, every Nth and up to a count", "[virtio][faults]")
{
    static constexpr std::array<ErrorStatus, 2> STATUSES { { { "ioerr", 1 }, { "deverr", 3 } } };
    static constexpr std::array<std::string_view, 3> KINDS { "zero", "read", "write" };
    StatusFaults faults(STATUSES, KINDS);
    auto rules = faults.parse(nlohmann::json::parse(R"([{"status": "deverr", "request": "write", "every": 2, "count": 2},
        {"status": "ioerr", "request": "read"}])"), "faults");
    REQUIRE(rules.has_value());
    CHECK(faults.empty());
    faults.set(*rules);
    CHECK_FALSE(faults.empty());

    CHECK(faults.pick(2) == std::nullopt); // the first write: not the 2nd
    CHECK(faults.pick(2) == std::uint8_t { 3 });
    CHECK(faults.pick(1) == std::uint8_t { 1 });
    CHECK(faults.pick(0) == std::nullopt); // no rule for this kind
    CHECK(faults.pick(2) == std::nullopt);
    CHECK(faults.pick(2) == std::uint8_t { 3 });
    CHECK(faults.pick(2) == std::nullopt); // count spent
    CHECK(faults.pick(2) == std::nullopt);
    CHECK(faults.pick(7) == std::nullopt); // a kind the table does not name matches no named rule
    const auto j = faults.to_json();
    CHECK(j["rules"][0]["hit"] == 2);
    CHECK(j["rules"][1]["hit"] == 1);
    CHECK(j["statuses"] == nlohmann::json::parse(R"(["ioerr", "deverr"])"));
}

TEST_CASE("status fault rules are checked against the device's table", "[virtio][faults]")
{
    static constexpr std::array<ErrorStatus, 1> STATUSES { { { "err", 1 } } };
    static constexpr std::array<std::string_view, 1> KINDS { "rx" };
    StatusFaults faults(STATUSES, KINDS);
    auto error = [&](const char* text) {
        auto r = faults.parse(nlohmann::json::parse(text), "status_faults");
        REQUIRE_FALSE(r.has_value());
        return r.error().describe();
    };
    CHECK_THAT(error(R"([{"request": "rx"}])"), Contains("status_faults[0]: \"status\" is required: err"));
    CHECK_THAT(error(R"([{"status": "eio"}])"), Contains("status_faults[0].status"));
    CHECK_THAT(error(R"([{"status": "err", "request": "tx"}])"), Contains("status_faults[0].request"));
    CHECK_THAT(error(R"([{"status": "err", "every": 0}])"), Contains("status_faults[0].every"));
    CHECK_THAT(error(R"([{"status": "err", "when": 1}])"), Contains("unknown key"));
    StatusFaults none({}, {});
    auto refused = none.parse(nlohmann::json::parse("[]"), "status_faults");
    REQUIRE_FALSE(refused.has_value());
    CHECK_THAT(refused.error().describe(), Contains("answers no request with a status"));
}

TEST_CASE("a plan's status rules need a device with statuses", "[virtio][faults]")
{
    auto rig = make_rig(RigTransport::mmio, std::make_unique<EchoDevice>());
    const auto plan = parse_fault_plan(nlohmann::json::parse(R"({"status_faults": [{"status": "x"}],
        "refuse_features_ok": true})"), "virtio_faults", FaultPlanSource::config);
    REQUIRE(plan.has_value());
    const auto applied = apply_fault_plan(*plan, rig->core(), "virtio_faults");
    REQUIRE_FALSE(applied.has_value());
    CHECK_THAT(applied.error().describe(), Contains("virtio_faults.status_faults: this device's requests end in no status"));
    CHECK_FALSE(rig->core().refuses_features_ok());
    CHECK_THAT(plan_error(json::parse(R"({"status_faults": {}})")), Contains("status_faults: expected an array"));
}

} // namespace vmm::virtio::test
