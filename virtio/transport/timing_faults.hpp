// SPDX-License-Identifier: Apache-2.0
// Timing faults any device can be given through the API's fault-inject, for testing how a
// driver copes with a slow or sloppy device: a queue whose notifications are held for a while,
// used buffers that reach the driver late or out of order, used-buffer interrupts that arrive
// late, go missing or come twice, and configuration change interrupts at a steady rate (with no
// change behind them, which a driver must tolerate: it re-reads and finds the same values).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "virtio/queue/completion_faults.hpp"
#include "vmm/base/result.hpp"

namespace vmm {
class EventLoop;
} // namespace vmm

namespace vmm::virtio {

// Loop thread only.
class TimingFaults final : public CompletionFaults {
public:
    static constexpr std::chrono::milliseconds MAX_DELAY { 60'000 };
    // A "dropped" interrupt is sent this late if no later one of its queue covers it first:
    // the driver has no other way to learn of the buffers (virtio 1.2 §2.7.7: only the driver
    // may suppress notifications), so a truly lost one would hang it rather than test it.
    static constexpr std::chrono::milliseconds LOST_INTERRUPT_WAIT { 500 };
    static constexpr std::uint32_t MAX_EVERY = 1'000'000;

    // `deliver_notify(q)` runs a held notify; `deliver_queue_irq(q)` and `deliver_config_irq()`
    // send the interrupts. Without a loop every fault is refused.
    TimingFaults(EventLoop* loop, std::uint16_t queues, std::function<void(std::uint16_t)> deliver_notify,
        std::function<void(std::uint16_t)> deliver_queue_irq, std::function<void()> deliver_config_irq);
    ~TimingFaults();
    TimingFaults(const TimingFaults&) = delete;
    TimingFaults& operator=(const TimingFaults&) = delete;

    // Notifies of `queue` are held for `ms` from now; one notify is delivered when it ends.
    [[nodiscard]] Result<> stall_queue(std::uint16_t queue, std::chrono::milliseconds ms);
    // Every used-buffer interrupt waits `ms` (0: none).
    [[nodiscard]] Result<> delay_interrupts(std::chrono::milliseconds ms);
    // A configuration change interrupt every `ms` (0: none).
    [[nodiscard]] Result<> config_interrupts_every(std::chrono::milliseconds ms);
    // Every used buffer reaches the driver `ms` late (0: none).
    [[nodiscard]] Result<> delay_used(std::chrono::milliseconds ms);
    // Every `n`th used buffer (n >= 2; 0: none) is held until a later one overtakes it (or
    // REORDER_WAIT passes), on queues without VIRTIO_F_IN_ORDER.
    [[nodiscard]] Result<> reorder_used_every(std::uint32_t n);
    // Every `n`th used-buffer interrupt (n >= 2; 0: none) is not sent (see LOST_INTERRUPT_WAIT).
    [[nodiscard]] Result<> drop_interrupts_every(std::uint32_t n);
    // Every `n`th used-buffer interrupt (0: none) is sent twice.
    [[nodiscard]] Result<> duplicate_interrupts_every(std::uint32_t n);

    // Whether there is a loop for the timers (without one every fault is refused).
    [[nodiscard]] bool has_loop() const noexcept { return loop_ != nullptr; }
    // Whether `n` is acceptable for the setting named `what` (0, or `least` to MAX_EVERY).
    [[nodiscard]] Result<> check_every(const char* what, std::uint32_t n, std::uint32_t least) const;

    // CompletionFaults.
    [[nodiscard]] Hold on_complete(std::uint16_t queue) noexcept override;
    void release_at(std::chrono::steady_clock::time_point when, std::function<void()> release) override;

    // Whether the notify is taken (held); otherwise the caller delivers it.
    [[nodiscard]] bool hold_notify(std::uint16_t queue);
    // Whether the interrupt is taken (delayed); otherwise the caller sends it.
    [[nodiscard]] bool hold_queue_irq(std::uint16_t queue);

    // Whether any fault is set or has acted (what status reports).
    [[nodiscard]] bool ever_used() const noexcept
    {
        return irq_delay_.count() > 0 || config_period_.count() > 0 || used_delay_.count() > 0 || reorder_every_ > 0
            || drop_every_ > 0 || duplicate_every_ > 0 || held_notifies_ + delayed_irqs_ + config_irqs_ + delayed_used_
                + reordered_used_ + dropped_irqs_ + duplicated_irqs_
            > 0;
    }
    [[nodiscard]] std::chrono::milliseconds interrupt_delay() const noexcept { return irq_delay_; }
    [[nodiscard]] std::chrono::milliseconds config_period() const noexcept { return config_period_; }
    [[nodiscard]] std::uint64_t held_notifies() const noexcept { return held_notifies_; }
    [[nodiscard]] std::uint64_t delayed_interrupts() const noexcept { return delayed_irqs_; }
    [[nodiscard]] std::uint64_t config_interrupts() const noexcept { return config_irqs_; }
    [[nodiscard]] std::chrono::milliseconds used_delay() const noexcept { return used_delay_; }
    [[nodiscard]] std::uint32_t reorder_every() const noexcept { return reorder_every_; }
    [[nodiscard]] std::uint32_t drop_every() const noexcept { return drop_every_; }
    [[nodiscard]] std::uint32_t duplicate_every() const noexcept { return duplicate_every_; }
    [[nodiscard]] std::uint64_t delayed_used() const noexcept { return delayed_used_; }
    [[nodiscard]] std::uint64_t reordered_used() const noexcept { return reordered_used_; }
    [[nodiscard]] std::uint64_t dropped_interrupts() const noexcept { return dropped_irqs_; }
    [[nodiscard]] std::uint64_t duplicated_interrupts() const noexcept { return duplicated_irqs_; }

private:
    struct Stall {
        std::chrono::steady_clock::time_point until;
        bool pending = false;
        std::unique_ptr<boost::asio::steady_timer> timer;
    };
    void arm_config();
    // Runs `fn` on the loop after `delay`, unless this object is gone by then.
    void after(std::chrono::steady_clock::duration delay, std::function<void()> fn);

    EventLoop* loop_;
    std::function<void(std::uint16_t)> deliver_notify_;
    std::function<void(std::uint16_t)> deliver_queue_irq_;
    std::function<void()> deliver_config_irq_;
    std::vector<Stall> stalls_;
    std::chrono::milliseconds irq_delay_ { 0 };
    std::chrono::milliseconds config_period_ { 0 };
    std::unique_ptr<boost::asio::steady_timer> config_timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::uint64_t held_notifies_ = 0;
    std::uint64_t delayed_irqs_ = 0;
    std::uint64_t config_irqs_ = 0;
    std::chrono::milliseconds used_delay_ { 0 };
    std::uint32_t reorder_every_ = 0;
    std::uint32_t drop_every_ = 0;
    std::uint32_t duplicate_every_ = 0;
    std::uint64_t completions_ = 0;
    std::uint64_t queue_irqs_ = 0;
    std::uint64_t delayed_used_ = 0;
    std::uint64_t reordered_used_ = 0;
    std::uint64_t dropped_irqs_ = 0;
    std::uint64_t duplicated_irqs_ = 0;
};

} // namespace vmm::virtio
