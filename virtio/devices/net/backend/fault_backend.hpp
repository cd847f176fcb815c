// SPDX-License-Identifier: Apache-2.0
// Fault injection for virtio-net: a NetBackend in front of the real one that drops, corrupts or
// duplicates frames in either direction, by rate (a seeded generator: the same seed, the same
// frames) or on every Nth frame, at most `count` times. For testing a guest's network stack and
// driver under loss (`faults` in a net entry, the API's fault-inject).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "virtio/devices/net/net_backend.hpp"

namespace vmm {
class EventLoop;
} // namespace vmm

namespace vmm::virtio::net {

struct NetFault {
    enum class Direction : std::uint8_t { tx, rx, both }; // tx: guest to host
    enum class Action : std::uint8_t { drop, corrupt, duplicate };
    Direction direction = Direction::both;
    Action action = Action::drop;
    double rate = 1.0;       // the chance a frame that reaches the rule is hit
    std::uint64_t every = 1; // of the frames the rate lets through, every Nth is hit
    std::uint64_t count = 0; // at most this many; 0: no limit

    std::uint64_t seen = 0;
    std::uint64_t hit = 0;
};

// The rules from JSON: an array of {"direction": tx|rx|both, "action": drop|corrupt|duplicate,
// "rate": 0..1, "every", "count"}. `where` prefixes messages.
[[nodiscard]] Result<std::vector<NetFault>> parse_net_faults(const nlohmann::json& v, std::string_view where);
[[nodiscard]] nlohmann::json net_faults_json(const std::vector<NetFault>& faults, std::uint64_t seed);

class FaultNetBackend final : public NetBackend {
public:
    static constexpr std::size_t MAX_RULES = 16;
    static constexpr std::size_t MAX_FRAME = 65'536 + 64;

    // `loop` runs the readiness of duplicated frames (which wait here, not in the host).
    FaultNetBackend(std::unique_ptr<NetBackend> inner, EventLoop* loop, std::uint64_t seed);
    ~FaultNetBackend() override { *alive_ = false; }

    // Replaces the rules and restarts the generator from the seed. Loop thread.
    [[nodiscard]] Result<> set_faults(std::vector<NetFault> faults, std::uint64_t seed);
    [[nodiscard]] const std::vector<NetFault>& faults() const noexcept { return faults_; }
    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

    [[nodiscard]] std::size_t queues() const noexcept override { return inner_->queues(); }
    [[nodiscard]] bool vnet_hdr() const noexcept override { return inner_->vnet_hdr(); }
    [[nodiscard]] Offloads offloads() const noexcept override { return inner_->offloads(); }
    [[nodiscard]] Result<> set_receive_offloads(const Offloads& o) override { return inner_->set_receive_offloads(o); }
    [[nodiscard]] IoResult send(std::size_t queue, std::span<const iovec> iov) noexcept override;
    [[nodiscard]] IoResult receive(std::size_t queue, std::span<const iovec> iov) noexcept override;
    void watch_readable(std::size_t queue, std::function<void()> ready) override;
    void watch_writable(std::size_t queue, std::function<void()> ready) override
    {
        inner_->watch_writable(queue, std::move(ready));
    }
    void stop_watching() noexcept override { inner_->stop_watching(); }
    [[nodiscard]] bool link_up() const noexcept override { return inner_->link_up(); }
    void on_link_change(std::function<void(bool)> changed) override { inner_->on_link_change(std::move(changed)); }
    [[nodiscard]] std::string describe() const override { return inner_->describe(); }
    [[nodiscard]] nlohmann::json status() const override;

private:
    // The rule that hits this frame, if any.
    NetFault* pick(bool tx) noexcept;
    void corrupt(std::span<const iovec> iov, std::size_t bytes) noexcept;

    std::unique_ptr<NetBackend> inner_;
    EventLoop* loop_;
    std::vector<NetFault> faults_;
    std::uint64_t seed_;
    std::mt19937_64 random_;
    // A received frame to give the guest once more (rx duplicate), per queue.
    std::vector<std::optional<std::vector<std::uint8_t>>> again_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace vmm::virtio::net
