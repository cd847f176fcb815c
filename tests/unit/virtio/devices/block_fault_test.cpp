// SPDX-License-Identifier: Apache-2.0
// FaultBackend: which requests a rule fails or delays, in what order completions come, and the
// rules' JSON with its messages.
#include <cerrno>
#include <chrono>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/fake_block_backend.hpp"
#include "virtio/devices/block/fault_backend.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm::virtio;
using namespace vmm::virtio::block;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

struct Sink final : IoCompletionSink {
    void io_complete(std::uint64_t tag, int result) noexcept override { done.emplace_back(tag, result); }
    void io_batch_done() noexcept override { ++batches; }
    std::vector<std::pair<std::uint64_t, int>> done;
    int batches = 0;
};

struct Rig {
    explicit Rig(vmm::EventLoop* loop = nullptr)
    {
        auto fake = std::make_unique<test::FakeBlockBackend>(1 << 20);
        inner = fake.get();
        backend = std::make_unique<FaultBackend>(std::move(fake), loop);
        backend->set_sink(&sink);
    }
    void io(IoOp op, std::uint64_t sector, std::uint64_t sectors, std::uint64_t tag)
    {
        IoRequest r;
        r.op = op;
        r.offset = sector * 512;
        r.length = sectors * 512;
        buffers.emplace_back(r.length);
        if (r.length > 0) {
            r.iov.push_back(iovec { buffers.back().data(), r.length });
        }
        r.tag = tag;
        backend->submit(std::move(r));
    }
    test::FakeBlockBackend* inner = nullptr;
    std::unique_ptr<FaultBackend> backend;
    Sink sink;
    std::deque<std::vector<std::byte>> buffers;
};

std::vector<BlockFault> rules(const json& j)
{
    auto r = parse_block_faults(j, "faults");
    REQUIRE(r);
    return *r;
}

} // namespace

TEST_CASE("an error rule fails the requests it matches, by op and sector range, and lets others through",
    "[virtio][blk][faults]")
{
    Rig rig;
    REQUIRE(rig.backend->set_faults(rules(json::parse(R"([{"op": "read", "first_sector": 2048, "last_sector": 2055, "error": "eio"}])"))));
    rig.io(IoOp::read, 0, 8, 1);      // below the range
    rig.io(IoOp::read, 2040, 16, 2);  // overlaps it
    rig.io(IoOp::write, 2048, 8, 3);  // a write: another op
    rig.io(IoOp::read, 2056, 8, 4);   // just above
    CHECK(rig.backend->in_flight() == 4);
    rig.backend->flush_submissions();
    // The failure is delivered at the end of the batch it came in, with its own batch end.
    REQUIRE(rig.sink.done == std::vector<std::pair<std::uint64_t, int>> { { 2, -EIO } });
    CHECK(rig.sink.batches == 1);
    rig.inner->complete_all();
    CHECK(rig.sink.done.size() == 4);
    CHECK(rig.inner->records().size() == 3); // the failed read never reached the image
    CHECK(rig.backend->faults()[0].matched == 1);
    CHECK(rig.backend->faults()[0].fired == 1);
}

TEST_CASE("every and count make a rule fire on the Nth match, a limited number of times", "[virtio][blk][faults]")
{
    Rig rig;
    REQUIRE(rig.backend->set_faults(rules(json::parse(R"([{"op": "write", "every": 2, "count": 2, "error": "enospc"}])"))));
    for (std::uint64_t t = 1; t <= 8; ++t) {
        rig.io(IoOp::write, t * 8, 8, t);
    }
    rig.backend->flush_submissions();
    CHECK(rig.sink.done == std::vector<std::pair<std::uint64_t, int>> { { 2, -ENOSPC }, { 4, -ENOSPC } });
    CHECK(rig.backend->faults()[0].matched == 8);
    CHECK(rig.backend->faults()[0].fired == 2);
}

TEST_CASE("a flush rule fails flushes whatever the range; clearing the rules stops it", "[virtio][blk][faults]")
{
    Rig rig;
    REQUIRE(rig.backend->set_faults(rules(json::parse(R"([{"op": "flush", "first_sector": 7, "last_sector": 7, "error": "eio"}])"))));
    rig.io(IoOp::flush, 0, 0, 1);
    rig.backend->flush_submissions();
    CHECK(rig.sink.done == std::vector<std::pair<std::uint64_t, int>> { { 1, -EIO } });
    REQUIRE(rig.backend->set_faults({}));
    rig.io(IoOp::flush, 0, 0, 2);
    rig.backend->flush_submissions();
    rig.inner->complete_all();
    CHECK(rig.sink.done.back() == std::pair<std::uint64_t, int> { 2, 0 });
}

TEST_CASE("a latency rule holds requests on the loop, then passes or fails them", "[virtio][blk][faults]")
{
    vmm::EventLoop loop;
    Rig rig(&loop);
    REQUIRE(rig.backend->set_faults(rules(json::parse(
        R"([{"op": "read", "latency_ms": 30}, {"op": "write", "latency_ms": 10, "error": "eio"}])"))));
    const auto start = std::chrono::steady_clock::now();
    rig.io(IoOp::read, 0, 8, 1);
    rig.io(IoOp::write, 0, 8, 2);
    rig.backend->flush_submissions();
    CHECK(rig.sink.done.empty());
    CHECK(rig.backend->in_flight() == 2);
    // Run the loop until the read reached the image, completing it as it arrives.
    while (rig.inner->records().empty()) {
        loop.io().run_one_for(std::chrono::milliseconds(100));
        REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    }
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(30));
    REQUIRE(rig.sink.done.size() == 1);
    CHECK(rig.sink.done[0] == std::pair<std::uint64_t, int> { 2, -EIO }); // the shorter wait first
    rig.inner->complete_all();
    CHECK(rig.sink.done.back() == std::pair<std::uint64_t, int> { 1, 0 });
}

TEST_CASE("drain releases held requests and delivers every completion", "[virtio][blk][faults]")
{
    vmm::EventLoop loop;
    Rig rig(&loop);
    REQUIRE(rig.backend->set_faults(rules(json::parse(
        R"([{"op": "read", "latency_ms": 60000}, {"op": "write", "error": "eio"}])"))));
    rig.io(IoOp::read, 0, 8, 1);
    rig.io(IoOp::write, 0, 8, 2);
    rig.backend->drain();
    CHECK(rig.backend->in_flight() == 0);
    CHECK(rig.sink.done.size() == 2);
}

TEST_CASE("fault rules from JSON: keys, bounds and messages", "[virtio][blk][faults]")
{
    const auto all = rules(json::parse(R"([{"op": "write_zeroes", "first_sector": 1, "last_sector": 2, "every": 3,
        "count": 4, "error": "eio", "latency_ms": 5}])"));
    CHECK(all[0].op == BlockFault::Op::write_zeroes);
    CHECK(all[0].every == 3);
    CHECK(all[0].latency == std::chrono::milliseconds(5));
    const auto j = faults_json(all);
    CHECK(j[0]["op"] == "write_zeroes");
    CHECK(j[0]["error"] == "eio");
    CHECK(j[0]["latency_ms"] == 5);
    CHECK(j[0]["fired"] == 0);

    auto error_of = [](const char* text) { return parse_block_faults(json::parse(text), "faults").error().describe(); };
    CHECK_THAT(error_of(R"({"op": "read"})"), Contains("faults: expected an array"));
    CHECK_THAT(error_of(R"([{"op": "read"}])"), Contains("faults[0]: the rule does nothing"));
    CHECK_THAT(error_of(R"([{"op": "reed", "error": "eio"}])"), Contains("faults[0].op"));
    CHECK_THAT(error_of(R"([{"error": "eagain"}])"), Contains("faults[0].error"));
    CHECK_THAT(error_of(R"([{"error": "eio", "evry": 2}])"), Contains("evry"));
    CHECK_THAT(error_of(R"([{"error": "eio", "every": 0}])"), Contains("faults[0].every"));
    CHECK_THAT(error_of(R"([{"error": "eio", "first_sector": 9, "last_sector": 3}])"), Contains("below first_sector"));
    CHECK_THAT(error_of(R"([{"latency_ms": 600000}])"), Contains("faults[0].latency_ms"));
    json many = json::array();
    for (int i = 0; i < 65; ++i) {
        many.push_back({ { "error", "eio" } });
    }
    CHECK_THAT(parse_block_faults(many, "faults").error().describe(), Contains("at most 64"));

    Rig no_loop;
    CHECK_FALSE(no_loop.backend->set_faults(rules(json::parse(R"([{"latency_ms": 1}])"))));
}
