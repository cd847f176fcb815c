// SPDX-License-Identifier: Apache-2.0
// Fault injection for virtio-net: a NetBackend in front of the real one that drops, corrupts,
// duplicates, delays or reorders frames in either direction, by rate (a seeded generator: the
// same seed, the same frames) or on every Nth frame, at most `count` times; and that takes the
// link down, for good or flapping, as a pulled cable would. For testing a guest's network stack
// and driver under loss (`faults` in a net entry, the API's fault-inject).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "virtio/devices/net/net_backend.hpp"

namespace vmm {
class EventLoop;
} // namespace vmm

namespace vmm::virtio::net {

struct NetFault {
    enum class Direction : std::uint8_t { tx, rx, both }; // tx: guest to host
    enum class Action : std::uint8_t { drop, corrupt, duplicate, delay, reorder };
    Direction direction = Direction::both;
    Action action = Action::drop;
    double rate = 1.0;       // the chance a frame that reaches the rule is hit
    std::uint64_t every = 1; // of the frames the rate lets through, every Nth is hit
    std::uint64_t count = 0; // at most this many; 0: no limit
    std::chrono::milliseconds delay { 0 }; // delay: how late a hit frame arrives (1 ms to 60 s)

    std::uint64_t seen = 0;
    std::uint64_t hit = 0;
};

// A link that is down for `down`, then up for `up`, and so on, starting with down. Both 0: off.
struct LinkFlap {
    std::chrono::milliseconds down { 0 };
    std::chrono::milliseconds up { 0 };
    [[nodiscard]] bool on() const noexcept { return down.count() > 0 && up.count() > 0; }
    bool operator==(const LinkFlap&) const noexcept = default;
};

// The rules from JSON: an array of {"direction": tx|rx|both, "action": drop|corrupt|duplicate|
// delay|reorder, "rate": 0..1, "every", "count", "ms"} ("ms" for delay only, and required there).
// `where` prefixes messages.
[[nodiscard]] Result<std::vector<NetFault>> parse_net_faults(const nlohmann::json& v, std::string_view where);
[[nodiscard]] nlohmann::json net_faults_json(const std::vector<NetFault>& faults, std::uint64_t seed);
// {"down_ms": N, "up_ms": M}: both required, 0 to 60000, both 0 (off) or both more.
[[nodiscard]] Result<LinkFlap> parse_link_flap(const nlohmann::json& v, std::string_view where);
[[nodiscard]] nlohmann::json link_flap_json(const LinkFlap& flap);

class FaultNetBackend final : public NetBackend {
public:
    static constexpr std::size_t MAX_RULES = 16;
    static constexpr std::size_t MAX_FRAME = 65'536 + 64;
    // Frames a delay or reorder rule holds per queue and direction; beyond, a hit frame is
    // dropped, as by a router whose queue is full.
    static constexpr std::size_t MAX_HELD = 256;
    // How long a reordered frame waits for the next one to pass it.
    static constexpr std::chrono::milliseconds REORDER_WAIT { 20 };
    // The longest delay, and the longest phase of a link flap.
    static constexpr std::uint64_t MAX_FAULT_MS = 60'000;
    // A held frame the host had no room for is tried again this much later.
    static constexpr std::chrono::milliseconds TX_RETRY { 1 };

    struct Counters {
        std::uint64_t link_changes = 0;    // of the link the device sees
        std::uint64_t link_down_drops = 0; // frames lost while the fault side held the link down
        std::uint64_t delayed = 0;         // frames held by delay rules
        std::uint64_t reordered = 0;       // frames held by reorder rules
        std::uint64_t held_overflow = 0;   // hit frames dropped because MAX_HELD were held
        std::uint64_t held_lost = 0;       // held frames the host refused with an error
    };

    // `loop` runs the timers of held frames and link flaps, and the readiness of frames that
    // wait here rather than in the host.
    FaultNetBackend(std::unique_ptr<NetBackend> inner, EventLoop* loop, std::uint64_t seed);
    ~FaultNetBackend() override;

    // Replaces the rules and restarts the generator from the seed; frames held by the old rules
    // go on now, in order. Loop thread.
    [[nodiscard]] Result<> set_faults(std::vector<NetFault> faults, std::uint64_t seed);
    [[nodiscard]] const std::vector<NetFault>& faults() const noexcept { return faults_; }
    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

    // The link the guest sees (virtio 1.2 §5.1.4, VIRTIO_NET_S_LINK_UP) is the host's, unless
    // taken down here: held down, or flapping (`down`, `up`: each 1 to 60000 ms, or both 0 for
    // off; a new flap starts with down). While down from this side no frame gets through in
    // either direction and frames in flight are lost. Loop thread.
    [[nodiscard]] Result<> set_link_forced_down(bool down);
    [[nodiscard]] Result<> set_link_flap(std::chrono::milliseconds down, std::chrono::milliseconds up);
    [[nodiscard]] bool link_forced_down() const noexcept { return forced_down_; }
    [[nodiscard]] LinkFlap link_flap() const noexcept { return flap_; }

    [[nodiscard]] const Counters& counters() const noexcept { return counters_; }
    // Frames held by delay and reorder rules, over every queue of one direction.
    [[nodiscard]] std::size_t held(bool tx) const noexcept;

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
    void stop_watching() noexcept override;
    [[nodiscard]] bool link_up() const noexcept override { return inner_->link_up() && !fault_down(); }
    void on_link_change(std::function<void(bool)> changed) override;
    [[nodiscard]] std::string describe() const override { return inner_->describe(); }
    [[nodiscard]] nlohmann::json status() const override;

private:
    using Clock = std::chrono::steady_clock;

    struct HeldFrame {
        Clock::time_point due;
        bool until_next = false; // reorder: due as soon as the next frame has passed it
        std::vector<std::uint8_t> bytes;
    };
    // What delay and reorder rules hold for one queue and direction, in arrival order: a frame
    // goes on when it and every frame before it are due.
    struct Held {
        std::deque<HeldFrame> frames;
        std::optional<boost::asio::steady_timer> timer; // for the first frame
        std::uint64_t wait = 0;                          // the newest wait; older ones do nothing
        bool armed = false;
        Clock::time_point armed_for {};
        Clock::time_point retry_at {}; // tx: when the host, full before, is tried again
    };

    // The rule that hits this frame, if any.
    NetFault* pick(bool tx) noexcept;
    void corrupt(std::span<const iovec> iov, std::size_t bytes) noexcept;
    // Copies `frame` into `iov`; returns the frame's length, as a receive does.
    static IoResult copy_out(std::span<const std::uint8_t> frame, std::span<const iovec> iov) noexcept;

    // Held frames.
    [[nodiscard]] std::vector<Held>& held_of(bool tx) noexcept { return tx ? held_tx_ : held_rx_; }
    // Keeps a copy of the frame for a delay or reorder rule (or drops it: MAX_HELD).
    void hold(bool tx, std::size_t queue, const NetFault& f, std::span<const iovec> iov, std::size_t bytes);
    // A frame went by unheld: frames held for reordering go right after it.
    void passed(bool tx, std::size_t queue) noexcept;
    [[nodiscard]] bool rx_due(std::size_t queue) const noexcept;
    void release_tx(std::size_t queue) noexcept;
    void rx_timer(std::size_t queue) noexcept;
    void arm_held(bool tx, std::size_t queue) noexcept;
    void release_all() noexcept;

    // Receive readiness: the device's watch waits here, woken by the host or by a held frame.
    void arm_inner_readable(std::size_t queue);
    void inner_readable(std::size_t queue) noexcept;
    void post_ready(std::function<void()> ready);

    // The link.
    [[nodiscard]] bool fault_down() const noexcept { return forced_down_ || flap_down_; }
    void fault_link_changed() noexcept;
    void update_link() noexcept;
    void flap_phase(bool down) noexcept;
    void drain_rx(std::size_t queue) noexcept;
    void drop_held() noexcept;

    std::unique_ptr<NetBackend> inner_;
    EventLoop* loop_;
    std::vector<NetFault> faults_;
    std::uint64_t seed_;
    std::mt19937_64 random_;
    // A received frame to give the guest once more (rx duplicate), per queue.
    std::vector<std::optional<std::vector<std::uint8_t>>> again_;
    std::vector<Held> held_tx_;
    std::vector<Held> held_rx_;
    // The device's readable watch per queue, and whether the host's watch is armed for it.
    std::vector<std::function<void()>> rx_waiter_;
    std::vector<bool> inner_armed_;
    std::uint64_t watch_generation_ = 0; // stop_watching() voids what was posted before
    std::function<void(bool)> link_changed_;
    bool link_reported_ = true; // the link the device last heard of
    bool forced_down_ = false;
    bool flap_down_ = false;
    LinkFlap flap_;
    std::optional<boost::asio::steady_timer> flap_timer_;
    std::uint64_t flap_wait_ = 0;
    std::vector<std::uint8_t> scratch_; // frames drained while the link is down
    Counters counters_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace vmm::virtio::net
