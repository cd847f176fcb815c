// SPDX-License-Identifier: Apache-2.0
// FaultNetBackend: drop, corrupt and duplicate in both directions, seeded rates, limits, JSON.
#include <chrono>
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
    vmm::EventLoop loop;
    test::FakeNetBackend* inner = nullptr;
    std::unique_ptr<FaultNetBackend> backend;
};

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
