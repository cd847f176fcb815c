// SPDX-License-Identifier: Apache-2.0
// Fault injection for virtio-blk: a BlockBackend in front of the real one that fails, or delays,
// the requests a rule matches, so that a guest driver's error paths can be tested (vireo test,
// `faults` in a block entry, the API's fault-inject). Deterministic: a rule fires on every Nth
// request it matches, at most `count` times.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "virtio/devices/block/block_backend.hpp"
#include "vmm/base/result.hpp"

namespace vmm {
class EventLoop;
} // namespace vmm

namespace vmm::virtio::block {

struct BlockFault {
    enum class Op : std::uint8_t { any, read, write, flush, discard, write_zeroes };
    Op op = Op::any;
    // Requests that touch a sector in [first_sector, last_sector] match (a flush has no range
    // and matches whatever the range).
    std::uint64_t first_sector = 0;
    std::uint64_t last_sector = UINT64_MAX;
    std::uint64_t every = 1; // fires on the every-th match: 1, 2, ... ; 3 fires on 3, 6, 9
    std::uint64_t count = 0; // fires at most this often; 0: no limit
    int error = 0;           // a negative errno the request completes with; 0: none
    std::chrono::milliseconds latency { 0 }; // added before the request goes on (or fails)

    std::uint64_t matched = 0;
    std::uint64_t fired = 0;
};

// The rules from JSON: an array of objects with "op" (any, read, write, flush, discard,
// write_zeroes), "first_sector", "last_sector", "every", "count", "error" (eio, enospc) and
// "latency_ms"; each rule has an error or a latency. `where` prefixes messages ("faults").
[[nodiscard]] Result<std::vector<BlockFault>> parse_block_faults(const nlohmann::json& v, std::string_view where);
// The rules with their counters, for the API and status.
[[nodiscard]] nlohmann::json faults_json(const std::vector<BlockFault>& faults);

class FaultBackend final : public BlockBackend, private IoCompletionSink {
public:
    static constexpr std::size_t MAX_RULES = 64;

    // `loop` runs the latency timer; without one, latency rules are refused.
    FaultBackend(std::unique_ptr<BlockBackend> inner, EventLoop* loop);
    ~FaultBackend() override;

    // Replaces the rules (counters start again). Loop thread.
    [[nodiscard]] Result<> set_faults(std::vector<BlockFault> faults);
    [[nodiscard]] const std::vector<BlockFault>& faults() const noexcept { return faults_; }

    void set_sink(IoCompletionSink* sink) noexcept override { sink_ = sink; }
    [[nodiscard]] std::uint64_t size() const noexcept override { return inner_->size(); }
    [[nodiscard]] bool read_only() const noexcept override { return inner_->read_only(); }
    [[nodiscard]] Result<std::uint64_t> resize(std::uint64_t bytes) override { return inner_->resize(bytes); }
    void submit(IoRequest&& request) noexcept override;
    void flush_submissions() noexcept override;
    [[nodiscard]] std::size_t in_flight() const noexcept override
    {
        return inner_->in_flight() + failed_.size() + delayed_.size();
    }
    void drain() noexcept override;
    [[nodiscard]] std::string describe() const override { return inner_->describe(); }
    // The rules and their counters, when there are any.
    [[nodiscard]] nlohmann::json status() const override;

private:
    struct Delayed {
        std::chrono::steady_clock::time_point due;
        IoRequest request;
        int error = 0; // fail when due instead of going on
    };

    void io_complete(std::uint64_t tag, int result) noexcept override;
    void io_batch_done() noexcept override;
    // The rule that fires for this request, if any (counts the matches).
    BlockFault* fire(const IoRequest& request) noexcept;
    void deliver_failed() noexcept;
    void release_due(bool all) noexcept;
    void arm_timer() noexcept;

    std::unique_ptr<BlockBackend> inner_;
    EventLoop* loop_ = nullptr;
    IoCompletionSink* sink_ = nullptr;
    std::vector<BlockFault> faults_;
    std::vector<std::pair<std::uint64_t, int>> failed_; // tag, errno: delivered at the next flush
    std::deque<Delayed> delayed_;                       // in due order (one latency per rule)
    std::optional<boost::asio::steady_timer> timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace vmm::virtio::block
