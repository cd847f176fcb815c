// SPDX-License-Identifier: Apache-2.0
// FaultNetBackend: drop, corrupt, duplicate, delay and reorder in both directions, seeded rates,
// limits, JSON; the link held down or flapping.
#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/fake_net_backend.hpp"
#include "virtio/devices/net/backend/fault_backend.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm::virtio;
using namespace vmm::virtio::net;
using Catch::Matchers::Contains;
using nlohmann::json;
using Frame = std::vector<std::uint8_t>;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

struct Rig {
    explicit Rig(const char* rules, std::uint64_t seed = 1)
    {
        auto fake = std::make_unique<test::FakeNetBackend>(1, false);
        inner = fake.get();
        backend = std::make_unique<FaultNetBackend>(std::move(fake), &loop, seed);
        auto parsed = parse_net_faults(json::parse(rules), "faults");
        REQUIRE(parsed);
        REQUIRE(backend->set_faults(*parsed, seed));
    }
    IoResult send(Frame f)
    {
        const iovec v { f.data(), f.size() };
        return backend->send(0, std::span(&v, 1));
    }
    std::optional<Frame> receive()
    {
        Frame buf(2048);
        const iovec v { buf.data(), buf.size() };
        const IoResult r = backend->receive(0, std::span(&v, 1));
        if (r.status != IoResult::Status::done) {
            return std::nullopt;
        }
        buf.resize(r.bytes);
        return buf;
    }
    // Runs the loop until `done` or `limit` has passed; whether `done`.
    template <class Done>
    bool run_until(Done done, milliseconds limit = milliseconds(2000))
    {
        const auto end = Clock::now() + limit;
        while (!done()) {
            if (Clock::now() >= end) {
                return false;
            }
            run_a_little(end);
        }
        return true;
    }
    // Runs the loop for `span`, whatever happens.
    void run_for(milliseconds span)
    {
        const auto end = Clock::now() + span;
        while (Clock::now() < end) {
            run_a_little(end);
        }
    }
    void run_a_little(Clock::time_point end)
    {
        auto& io = loop.io();
        if (io.stopped()) {
            io.restart(); // ran out of work before: timers armed since count again
        }
        if (io.run_one_until(std::min(end, Clock::now() + milliseconds(10))) == 0 && io.stopped()) {
            std::this_thread::sleep_for(milliseconds(1)); // nothing to wait for
        }
    }
    // Watches queue 0 for the device: how often its callback has run.
    void watch() { backend->watch_readable(0, [this] { ++woken; }); }

    vmm::EventLoop loop;
    test::FakeNetBackend* inner = nullptr;
    std::unique_ptr<FaultNetBackend> backend;
    int woken = 0;
};

Frame numbered(std::size_t i)
{
    return Frame { static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i & 0xff) };
}

} // namespace

TEST_CASE("tx faults: a dropped frame is reported sent, a duplicate goes twice, a corrupt copy goes out",
    "[virtio][net][faults]")
{
    Rig drop(R"([{"direction": "tx", "action": "drop", "count": 1}])");
    CHECK(drop.send({ 1, 2, 3 }).status == IoResult::Status::done);
    CHECK(drop.inner->sent.empty());
    CHECK(drop.send({ 4, 5 }).bytes == 2);
    CHECK(drop.inner->sent == std::vector<Frame> { { 4, 5 } }); // count 1: the second goes through

    Rig dup(R"([{"direction": "tx", "action": "duplicate"}])");
    CHECK(dup.send({ 7 }).bytes == 1);
    CHECK(dup.inner->sent == std::vector<Frame> { { 7 }, { 7 } });

    Rig bad(R"([{"direction": "tx", "action": "corrupt"}])");
    Frame guest { 1, 2, 3 };
    const iovec v { guest.data(), guest.size() };
    CHECK(bad.backend->send(0, std::span(&v, 1)).bytes == 3);
    CHECK(bad.inner->sent == std::vector<Frame> { { 1, 2, 2 } }); // last byte's low bit flipped
    CHECK(guest == Frame { 1, 2, 3 });                              // the guest's buffer untouched
}

TEST_CASE("rx faults: a dropped frame is skipped, a duplicate comes twice, corruption flips a bit",
    "[virtio][net][faults]")
{
    Rig drop(R"([{"direction": "rx", "action": "drop", "every": 2}])");
    for (std::uint8_t i = 1; i <= 4; ++i) {
        drop.inner->inbound[0].push_back({ i });
    }
    CHECK(drop.receive() == Frame { 1 });
    CHECK(drop.receive() == Frame { 3 }); // 2 was the second: dropped
    CHECK(drop.receive() == std::nullopt); // 4 dropped too, nothing left
    CHECK(drop.backend->faults()[0].hit == 2);

    Rig dup(R"([{"direction": "rx", "action": "duplicate", "count": 1}])");
    dup.inner->inbound[0].push_back({ 9, 8 });
    dup.inner->inbound[0].push_back({ 7 });
    CHECK(dup.receive() == Frame { 9, 8 });
    bool ready = false;
    dup.backend->watch_readable(0, [&] { ready = true; }); // the copy waits here: ready at once
    CHECK_FALSE(ready);                                     // posted, not called inside
    dup.loop.io().run_one_for(std::chrono::milliseconds(100));
    CHECK(ready);
    CHECK(dup.receive() == Frame { 9, 8 });
    CHECK(dup.receive() == Frame { 7 });

    Rig bad(R"([{"direction": "rx", "action": "corrupt"}])");
    bad.inner->inbound[0].push_back({ 0x10, 0x20 });
    CHECK(bad.receive() == Frame { 0x10, 0x21 });
}

TEST_CASE("a rate draws from the seed: the same seed hits the same frames", "[virtio][net][faults]")
{
    auto pattern = [](std::uint64_t seed) {
        Rig r(R"([{"direction": "tx", "action": "drop", "rate": 0.3}])", seed);
        std::vector<bool> dropped;
        for (int i = 0; i < 200; ++i) {
            const std::size_t before = r.inner->sent.size();
            (void)r.send({ 1 });
            dropped.push_back(r.inner->sent.size() == before);
        }
        return dropped;
    };
    const auto a = pattern(42);
    CHECK(a == pattern(42));
    CHECK(a != pattern(43));
    const auto hits = std::count(a.begin(), a.end(), true);
    CHECK(hits > 30);
    CHECK(hits < 90);
}

TEST_CASE("net fault rules from JSON: keys, bounds and messages", "[virtio][net][faults]")
{
    auto error_of = [](const char* text) { return parse_net_faults(json::parse(text), "faults").error().describe(); };
    CHECK_THAT(error_of(R"({})"), Contains("expected an array"));
    CHECK_THAT(error_of(R"([{"direction": "tx"}])"), Contains("\"action\" is required"));
    CHECK_THAT(error_of(R"([{"action": "dorp"}])"), Contains("faults[0].action"));
    CHECK_THAT(error_of(R"([{"action": "drop", "direction": "up"}])"), Contains("faults[0].direction"));
    CHECK_THAT(error_of(R"([{"action": "drop", "rate": 1.5}])"), Contains("faults[0].rate"));
    CHECK_THAT(error_of(R"([{"action": "drop", "every": 0}])"), Contains("faults[0].every"));
    CHECK_THAT(error_of(R"([{"action": "drop", "speed": 1}])"), Contains("speed"));
    const auto ok = parse_net_faults(json::parse(R"([{"action": "corrupt", "direction": "rx", "rate": 0.5}])"), "faults");
    REQUIRE(ok);
    const auto j = net_faults_json(*ok, 7);
    CHECK(j["seed"] == 7);
    CHECK(j["rules"][0]["action"] == "corrupt");
    CHECK(j["rules"][0]["rate"] == 0.5);
}

TEST_CASE("tx delay: a copy goes out ms late, and frames not hit pass it", "[virtio][net][faults]")
{
    Rig r(R"([{"direction": "tx", "action": "delay", "ms": 40, "count": 1}])");
    Frame guest { 1, 2, 3 };
    const iovec v { guest.data(), guest.size() };
    const auto start = Clock::now();
    const IoResult sent = r.backend->send(0, std::span(&v, 1));
    CHECK(sent.status == IoResult::Status::done); // done for the guest: its buffers go back
    CHECK(sent.bytes == 3);
    guest = { 9, 9, 9 };                           // and it reuses them at once
    CHECK(r.inner->sent.empty());
    CHECK(r.backend->held(true) == 1);
    CHECK(r.send({ 4 }).status == IoResult::Status::done); // count 1: not hit, goes at once
    CHECK(r.inner->sent == std::vector<Frame> { { 4 } });
    REQUIRE(r.run_until([&] { return r.inner->sent.size() == 2; }));
    CHECK(Clock::now() - start >= milliseconds(40));
    CHECK(r.inner->sent == std::vector<Frame> { { 4 }, { 1, 2, 3 } });
    CHECK(r.backend->held(true) == 0);
    CHECK(r.backend->counters().delayed == 1);
}

TEST_CASE("rx delay: held frames keep their order, come before newer ones, and wake the watch",
    "[virtio][net][faults]")
{
    Rig r(R"([{"direction": "rx", "action": "delay", "ms": 30, "count": 2}])");
    for (std::uint8_t i = 1; i <= 3; ++i) {
        r.inner->inbound[0].push_back({ i });
    }
    const auto start = Clock::now();
    CHECK(r.receive() == Frame { 3 }); // 1 and 2 held, 3 not hit
    CHECK(r.receive() == std::nullopt);
    CHECK(r.backend->held(false) == 2);
    r.watch();
    CHECK(r.woken == 0);
    REQUIRE(r.run_until([&] { return r.woken > 0; })); // the timer, not the host, wakes it
    CHECK(Clock::now() - start >= milliseconds(30));
    r.inner->inbound[0].push_back({ 4 });
    CHECK(r.receive() == Frame { 1 }); // before 4, which came later
    std::vector<Frame> rest;
    while (rest.size() < 2) {
        if (auto f = r.receive()) {
            rest.push_back(*f);
            continue;
        }
        r.woken = 0;
        r.watch();
        REQUIRE(r.run_until([&] { return r.woken > 0; }));
    }
    CHECK(std::find(rest.begin(), rest.end(), Frame { 2 }) != rest.end());
    CHECK(std::find(rest.begin(), rest.end(), Frame { 4 }) != rest.end());
    CHECK(r.receive() == std::nullopt);
    CHECK(r.backend->counters().delayed == 2);
}

TEST_CASE("reorder: a frame goes right after the next one, or alone after REORDER_WAIT", "[virtio][net][faults]")
{
    Rig tx(R"([{"direction": "tx", "action": "reorder", "count": 1}])");
    CHECK(tx.send({ 1 }).status == IoResult::Status::done);
    CHECK(tx.inner->sent.empty());
    CHECK(tx.send({ 2 }).status == IoResult::Status::done);
    CHECK(tx.inner->sent == std::vector<Frame> { { 2 }, { 1 } });
    CHECK(tx.backend->counters().reordered == 1);

    Rig lone(R"([{"direction": "tx", "action": "reorder", "count": 1}])");
    const auto start = Clock::now();
    CHECK(lone.send({ 1 }).status == IoResult::Status::done);
    CHECK(lone.inner->sent.empty());
    REQUIRE(lone.run_until([&] { return !lone.inner->sent.empty(); }));
    CHECK(Clock::now() - start >= FaultNetBackend::REORDER_WAIT);
    CHECK(lone.inner->sent == std::vector<Frame> { { 1 } });

    Rig rx(R"([{"direction": "rx", "action": "reorder", "count": 1}])");
    for (std::uint8_t i = 1; i <= 3; ++i) {
        rx.inner->inbound[0].push_back({ i });
    }
    CHECK(rx.receive() == Frame { 2 });
    CHECK(rx.receive() == Frame { 1 });
    CHECK(rx.receive() == Frame { 3 });

    Rig rx_lone(R"([{"direction": "rx", "action": "reorder"}])");
    rx_lone.inner->inbound[0].push_back({ 7 });
    const auto rx_start = Clock::now();
    CHECK(rx_lone.receive() == std::nullopt);
    rx_lone.watch();
    REQUIRE(rx_lone.run_until([&] { return rx_lone.woken > 0; }));
    CHECK(Clock::now() - rx_start >= FaultNetBackend::REORDER_WAIT);
    CHECK(rx_lone.receive() == Frame { 7 });
}

TEST_CASE("held frames are capped, and new rules let what is held go at once, in order", "[virtio][net][faults]")
{
    Rig r(R"([{"direction": "tx", "action": "delay", "ms": 60000}])");
    for (std::size_t i = 0; i < 300; ++i) {
        CHECK(r.send(numbered(i)).status == IoResult::Status::done);
    }
    CHECK(r.inner->sent.empty());
    CHECK(r.backend->held(true) == FaultNetBackend::MAX_HELD);
    CHECK(r.backend->counters().held_overflow == 300 - FaultNetBackend::MAX_HELD);
    const json s = r.backend->status();
    CHECK(s["held"]["tx"] == FaultNetBackend::MAX_HELD);
    CHECK(s["held"]["overflow"] == 300 - FaultNetBackend::MAX_HELD);
    CHECK(s["held"]["delayed"] == FaultNetBackend::MAX_HELD);
    REQUIRE(r.backend->set_faults({}, 1));
    REQUIRE(r.inner->sent.size() == FaultNetBackend::MAX_HELD);
    for (std::size_t i = 0; i < FaultNetBackend::MAX_HELD; ++i) {
        CHECK(r.inner->sent[i] == numbered(i));
    }
    CHECK(r.backend->held(true) == 0);

    Rig rx(R"([{"direction": "rx", "action": "delay", "ms": 60000}])");
    rx.inner->inbound[0].push_back({ 1 });
    rx.inner->inbound[0].push_back({ 2 });
    CHECK(rx.receive() == std::nullopt);
    CHECK(rx.backend->held(false) == 2);
    rx.watch();
    REQUIRE(rx.backend->set_faults({}, 1));
    REQUIRE(rx.run_until([&] { return rx.woken > 0; }, milliseconds(500)));
    CHECK(rx.receive() == Frame { 1 });
    CHECK(rx.receive() == Frame { 2 });
    CHECK(rx.receive() == std::nullopt);
}

TEST_CASE("a due tx frame waits while the host is full, and goes before newer frames", "[virtio][net][faults]")
{
    Rig r(R"([{"direction": "tx", "action": "delay", "ms": 5, "count": 1}])");
    r.inner->send_again = true;
    CHECK(r.send({ 1 }).status == IoResult::Status::done);
    r.run_for(milliseconds(30));
    CHECK(r.backend->held(true) == 1);                         // due, but the host had no room
    CHECK(r.send({ 2 }).status == IoResult::Status::again);    // so the newer one waits too
    r.inner->send_again = false;
    REQUIRE(r.run_until([&] { return !r.inner->sent.empty(); })); // the retry
    CHECK(r.send({ 2 }).status == IoResult::Status::done);
    CHECK(r.inner->sent == std::vector<Frame> { { 1 }, { 2 } });
}

TEST_CASE("the link forced down: reported once, tx dropped, rx drained, the device's watch kept",
    "[virtio][net][faults][link]")
{
    Rig r("[]");
    std::vector<bool> calls;
    r.backend->on_link_change([&](bool up) { calls.push_back(up); });
    CHECK(r.backend->link_up());
    REQUIRE(r.backend->set_link_forced_down(true));
    REQUIRE(r.backend->set_link_forced_down(true));
    CHECK(calls == std::vector<bool> { false });
    CHECK_FALSE(r.backend->link_up());
    CHECK(r.backend->link_forced_down());

    const IoResult sent = r.send({ 1, 2 });
    CHECK(sent.status == IoResult::Status::done);
    CHECK(sent.bytes == 2);
    CHECK(r.inner->sent.empty());
    r.inner->inbound[0].push_back({ 1 });
    r.inner->inbound[0].push_back({ 2 });
    CHECK(r.receive() == std::nullopt);
    CHECK(r.inner->inbound[0].empty());

    // Frames that reach the host meanwhile are drained by a watch of the back end's own, and
    // a watch the device armed does not fire for them.
    r.watch();
    r.inner->inbound[0].push_back({ 3 });
    REQUIRE(r.inner->fire_readable());
    CHECK(r.inner->inbound[0].empty());
    CHECK(r.woken == 0);
    CHECK(r.backend->counters().link_down_drops == 4);
    json s = r.backend->status();
    CHECK(s["link"]["forced_down"] == true);
    CHECK(s["link"]["up"] == false);
    CHECK(s["link"]["dropped"] == 4);
    CHECK(s["link"]["changes"] == 1);

    REQUIRE(r.backend->set_link_forced_down(false));
    CHECK(calls == std::vector<bool> { false, true });
    r.inner->inbound[0].push_back({ 4 });
    REQUIRE(r.inner->fire_readable());
    CHECK(r.woken == 1); // the device's watch survived the pulled cable
    CHECK(r.receive() == Frame { 4 });
    CHECK(r.send({ 5 }).status == IoResult::Status::done);
    CHECK(r.inner->sent == std::vector<Frame> { { 5 } });
}

TEST_CASE("the link forced down loses what delay rules hold", "[virtio][net][faults][link]")
{
    Rig r(R"([{"action": "delay", "ms": 60000}])");
    CHECK(r.send({ 1 }).status == IoResult::Status::done);
    r.inner->inbound[0].push_back({ 2 });
    CHECK(r.receive() == std::nullopt);
    CHECK(r.backend->held(true) + r.backend->held(false) == 2);
    REQUIRE(r.backend->set_link_forced_down(true));
    CHECK(r.backend->held(true) + r.backend->held(false) == 0);
    CHECK(r.backend->counters().link_down_drops == 2);
    REQUIRE(r.backend->set_link_forced_down(false));
    REQUIRE(r.backend->set_faults({}, 1));
    CHECK(r.inner->sent.empty());
    CHECK(r.receive() == std::nullopt);
}

TEST_CASE("host link changes merge with the forced state: each change reported once", "[virtio][net][faults][link]")
{
    Rig r("[]");
    std::vector<bool> calls;
    r.backend->on_link_change([&](bool up) { calls.push_back(up); });
    auto host = [&](bool up) {
        r.inner->up = up;
        REQUIRE(r.inner->link_changed);
        r.inner->link_changed(up);
    };
    REQUIRE(r.backend->set_link_forced_down(true));
    host(false); // already down for the device
    host(true);  // still forced down
    CHECK(calls == std::vector<bool> { false });
    REQUIRE(r.backend->set_link_forced_down(false));
    CHECK(calls == std::vector<bool> { false, true });
    host(false);
    REQUIRE(r.backend->set_link_forced_down(true)); // down already
    REQUIRE(r.backend->set_link_forced_down(false)); // the host is still down
    CHECK(calls == std::vector<bool> { false, true, false });
    host(true);
    CHECK(calls == std::vector<bool> { false, true, false, true });
    CHECK(r.backend->counters().link_changes == 4);
    CHECK(r.backend->link_up());
}

TEST_CASE("a link flap cycles down and up on timers, and stops", "[virtio][net][faults][link]")
{
    Rig r("[]");
    std::vector<bool> calls;
    r.backend->on_link_change([&](bool up) { calls.push_back(up); });
    REQUIRE(r.backend->set_link_flap(milliseconds(5), milliseconds(5)));
    CHECK(calls == std::vector<bool> { false }); // starts with down
    CHECK(r.backend->link_flap() == LinkFlap { milliseconds(5), milliseconds(5) });
    REQUIRE(r.run_until([&] { return calls.size() >= 5; }));
    for (std::size_t i = 0; i < calls.size(); ++i) {
        CHECK(calls[i] == (i % 2 == 1));
    }
    CHECK(r.backend->status()["link"]["flap_down_ms"] == 5);
    REQUIRE(r.backend->set_link_flap(milliseconds(0), milliseconds(0)));
    CHECK(r.backend->link_up());
    CHECK(calls.back() == true);
    const std::size_t n = calls.size();
    r.run_for(milliseconds(30));
    CHECK(calls.size() == n);
    CHECK(r.backend->status()["link"]["flap_up_ms"] == 0);
    CHECK_FALSE(r.backend->set_link_flap(milliseconds(0), milliseconds(5)));
    CHECK_FALSE(r.backend->set_link_flap(milliseconds(5), milliseconds(60001)));
    CHECK_FALSE(r.backend->link_flap().on());
}

TEST_CASE("timers of held frames and flaps do nothing once the back end is gone", "[virtio][net][faults]")
{
    Rig r(R"([{"action": "delay", "ms": 5}])");
    CHECK(r.send({ 1 }).status == IoResult::Status::done);
    REQUIRE(r.backend->set_link_flap(milliseconds(5), milliseconds(5)));
    r.backend.reset(); // with the inner fake
    r.inner = nullptr;
    r.run_for(milliseconds(30)); // ASan: nothing touches the freed back end
    SUCCEED();
}

TEST_CASE("delay, reorder and link flap settings from JSON: keys, bounds and messages", "[virtio][net][faults]")
{
    auto error_of = [](const char* text) { return parse_net_faults(json::parse(text), "faults").error().describe(); };
    CHECK_THAT(error_of(R"([{"action": "delay"}])"), Contains("faults[0]: a delay needs \"ms\""));
    CHECK_THAT(error_of(R"([{"action": "drop", "ms": 5}])"), Contains("faults[0].ms: only a delay"));
    CHECK_THAT(error_of(R"([{"action": "reorder", "ms": 5}])"), Contains("faults[0].ms"));
    CHECK_THAT(error_of(R"([{"action": "delay", "ms": 0}])"), Contains("faults[0].ms"));
    CHECK_THAT(error_of(R"([{"action": "delay", "ms": 60001}])"), Contains("out of range"));
    CHECK_THAT(error_of(R"([{"action": "delay", "ms": "5"}])"), Contains("faults[0].ms"));
    const auto ok = parse_net_faults(
        json::parse(R"([{"action": "delay", "ms": 250, "direction": "rx"}, {"action": "reorder", "rate": 0.5}])"),
        "faults");
    REQUIRE(ok);
    CHECK((*ok)[0].action == NetFault::Action::delay);
    CHECK((*ok)[0].delay == milliseconds(250));
    CHECK((*ok)[1].action == NetFault::Action::reorder);
    const auto j = net_faults_json(*ok, 3);
    CHECK(j["rules"][0]["action"] == "delay");
    CHECK(j["rules"][0]["ms"] == 250);
    CHECK(j["rules"][1]["action"] == "reorder");
    CHECK_FALSE(j["rules"][1].contains("ms"));

    // Rules built in code are checked too.
    Rig r("[]");
    NetFault zero;
    zero.action = NetFault::Action::delay;
    CHECK_FALSE(r.backend->set_faults({ zero }, 1));

    auto flap_error = [](const char* text) { return parse_link_flap(json::parse(text), "flap").error().describe(); };
    CHECK_THAT(flap_error(R"({"down_ms": 5})"), Contains("\"up_ms\" is missing"));
    CHECK_THAT(flap_error(R"({"up_ms": 5})"), Contains("\"down_ms\" is missing"));
    CHECK_THAT(flap_error(R"({"down_ms": 5, "up_ms": 0})"), Contains("both 0"));
    CHECK_THAT(flap_error(R"({"down_ms": 60001, "up_ms": 5})"), Contains("flap.down_ms"));
    CHECK_THAT(flap_error(R"({"down_ms": 5, "up_ms": -1})"), Contains("flap.up_ms"));
    CHECK_THAT(flap_error(R"({"down_ms": 1.5, "up_ms": 5})"), Contains("flap.down_ms"));
    CHECK_THAT(flap_error(R"({"down_ms": 5, "up_ms": 5, "jitter": 1})"), Contains("flap.jitter"));
    CHECK_THAT(flap_error(R"([5, 5])"), Contains("expected an object"));
    const auto flap = parse_link_flap(json::parse(R"({"down_ms": 100, "up_ms": 2000})"), "flap");
    REQUIRE(flap);
    CHECK(*flap == LinkFlap { milliseconds(100), milliseconds(2000) });
    CHECK(flap->on());
    CHECK(link_flap_json(*flap) == json::parse(R"({"down_ms": 100, "up_ms": 2000})"));
    const auto off = parse_link_flap(json::parse(R"({"down_ms": 0, "up_ms": 0})"), "flap");
    REQUIRE(off);
    CHECK_FALSE(off->on());
}
