// SPDX-License-Identifier: Apache-2.0
// NotifyCoalescer: holds a queue's used-buffer notification while its driver is still adding
// requests, so that one interrupt covers a batch.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace vmm::virtio {

class Queue;

// The decision, without clock or timer (unit-testable). A device that completes requests
// within the loop turn that brought them (page-cached reads through io_uring) would otherwise
// interrupt the driver once per request even at queue depth 32: it is never busy long enough
// for completions to pile up. Every interrupt costs the guest an exit, an injection and an
// EOI, which dominates inside nested virtualisation.
//
// `outstanding` is Queue::driver_outstanding(): what the driver has made available since it
// last looked at the used ring. The rules:
// - Unknown (no EVENT_IDX, or a value out of range): notify at once.
// - As many outstanding as the most the driver has had (its depth, `peak`): it cannot add
//   more, so it is waiting; notify at once. At queue depth 1 that is every time, so latency
//   there is unchanged.
// - Fewer: the driver may add more. (Even one: after the interrupt for a whole batch the
//   driver has nothing outstanding, and its first new request must not get an interrupt of
//   its own, or the batch never forms again.) Hold, until it reaches its peak, or adds nothing for
//   WINDOW of its recent inter-arrival times, or the hold has lasted (peak + 2) inter-arrival
//   times twice over (at most MAX_HOLD). A hold that ends by time lowers the peak by a
//   quarter (not below what was outstanding): a driver that lowered its depth is soon not
//   held any more, and one late arrival does not undo what was learned.
// Virtio 1.2 §2.7.7 sets no deadline for a used buffer notification (EVENT_IDX only says when
// the driver wants none); what bounds the delay here is the timer.
class NotifyHoldPolicy {
public:
    using TimePoint = std::chrono::steady_clock::time_point;
    using Duration = std::chrono::nanoseconds;

    static constexpr Duration MIN_INTERVAL = std::chrono::microseconds(1);
    static constexpr Duration MAX_INTERVAL = std::chrono::milliseconds(2);
    static constexpr Duration INITIAL_INTERVAL = std::chrono::microseconds(50);
    static constexpr Duration MAX_HOLD = std::chrono::milliseconds(50);
    // Gaps longer than this are pauses, not the driver's submission rate.
    static constexpr Duration MAX_SAMPLE = std::chrono::milliseconds(10);
    // Inter-arrival times without an arrival before a hold ends: arrivals are bursty (the
    // driver's CPU takes other interrupts), so a few times the mean is not yet quiet.
    static constexpr int WINDOW = 8;

    struct Stats {
        std::uint64_t holds = 0;         // notifications held
        std::uint64_t at_depth = 0;      // holds ended by the driver reaching its peak
        std::uint64_t by_time = 0;       // holds ended by the timer
    };

    enum class Expiry : std::uint8_t {
        notify, // the hold is over: notify now
        rearm,  // still within the window: wait until due()
        idle,   // nothing was held
    };

    // The device took new requests; `outstanding` counts them.
    void arrival(TimePoint now, std::optional<std::uint16_t> outstanding) noexcept;
    // The device added used entries: true to hold the notification (then wait until due()),
    // false to notify now.
    [[nodiscard]] bool hold(TimePoint now, std::optional<std::uint16_t> outstanding) noexcept;
    // The timer set for due() fired.
    [[nodiscard]] Expiry expired(TimePoint now, std::optional<std::uint16_t> outstanding) noexcept;
    // Forgets the hold (queue reset); the learned rate and depth stay.
    void clear() noexcept { holding_ = false; }
    // Forgets everything but the statistics (device reset: another driver may come).
    void forget() noexcept
    {
        const Stats kept = stats_;
        *this = NotifyHoldPolicy {};
        stats_ = kept;
    }

    [[nodiscard]] bool holding() const noexcept { return holding_; }
    [[nodiscard]] TimePoint due() const noexcept;
    [[nodiscard]] std::uint16_t peak() const noexcept { return peak_; }
    [[nodiscard]] Duration interval() const noexcept { return interval_; }
    [[nodiscard]] const Stats& stats() const noexcept { return stats_; }

private:
    // The driver is at its depth (or deeper, which becomes the depth): any hold ends.
    [[nodiscard]] bool at_depth(std::optional<std::uint16_t> outstanding) noexcept;

    Stats stats_;
    std::uint16_t peak_ = 0;
    bool holding_ = false;
    bool arrived_ = false; // last_arrival_ is set
    TimePoint hold_start_ {};
    TimePoint last_arrival_ {};
    Duration interval_ = INITIAL_INTERVAL; // moving average of the time between arrivals
};

// The policy with the loop's clock and a timer, for one queue. Loop thread only. Without an
// io_context (unit tests of devices) it never holds.
class NotifyCoalescer {
public:
    // `on_expiry` runs on the loop when a held notification may be due: the device calls
    // expired() and notifies if that says so.
    NotifyCoalescer(boost::asio::io_context* io, std::function<void()> on_expiry);
    NotifyCoalescer(const NotifyCoalescer&) = delete;
    NotifyCoalescer& operator=(const NotifyCoalescer&) = delete;
    ~NotifyCoalescer();

    void arrived(const Queue& queue) noexcept;
    // True: do not notify now, a timer is set. False: notify now.
    [[nodiscard]] bool hold(const Queue& queue) noexcept;
    // From on_expiry: true when the device should notify now.
    [[nodiscard]] bool expired(const Queue& queue) noexcept;
    // Drops a hold and its timer (queue reset): nothing fires afterwards.
    void cancel() noexcept;
    // cancel(), and the driver's depth and rate are learned afresh (device reset).
    void reset() noexcept
    {
        cancel();
        policy_.forget();
    }
    [[nodiscard]] const NotifyHoldPolicy& policy() const noexcept { return policy_; }

private:
    void arm() noexcept;

    NotifyHoldPolicy policy_;
    std::function<void()> on_expiry_;
    std::optional<boost::asio::steady_timer> timer_;
    bool armed_ = false;
    std::uint64_t generation_ = 0; // a wait from before cancel() does nothing
    std::shared_ptr<NotifyCoalescer*> self_ = std::make_shared<NotifyCoalescer*>(this);
};

// The device added used entries to `queue`: notify the driver now, unless `coalescer` (null:
// none) holds the notification for later.
void notify_used(NotifyCoalescer* coalescer, Queue& queue) noexcept;
// From a coalescer's on_expiry: notify if its hold is over.
void notify_if_hold_over(NotifyCoalescer& coalescer, Queue& queue) noexcept;

} // namespace vmm::virtio
