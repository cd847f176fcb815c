// SPDX-License-Identifier: Apache-2.0
// Timing faults any device can be given through the API's fault-inject, for testing how a
// driver copes with a slow device: a queue whose notifications are held for a while, used-buffer
// interrupts that arrive late, and configuration change interrupts at a steady rate (with no
// change behind them, which a driver must tolerate: it re-reads and finds the same values).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "vmm/base/result.hpp"

namespace vmm {
class EventLoop;
} // namespace vmm

namespace vmm::virtio {

// Loop thread only.
class TimingFaults {
public:
    static constexpr std::chrono::milliseconds MAX_DELAY { 60'000 };

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

    // Whether the notify is taken (held); otherwise the caller delivers it.
    [[nodiscard]] bool hold_notify(std::uint16_t queue);
    // Whether the interrupt is taken (delayed); otherwise the caller sends it.
    [[nodiscard]] bool hold_queue_irq(std::uint16_t queue);

    [[nodiscard]] std::chrono::milliseconds interrupt_delay() const noexcept { return irq_delay_; }
    [[nodiscard]] std::chrono::milliseconds config_period() const noexcept { return config_period_; }
    [[nodiscard]] std::uint64_t held_notifies() const noexcept { return held_notifies_; }
    [[nodiscard]] std::uint64_t delayed_interrupts() const noexcept { return delayed_irqs_; }
    [[nodiscard]] std::uint64_t config_interrupts() const noexcept { return config_irqs_; }

private:
    struct Stall {
        std::chrono::steady_clock::time_point until;
        bool pending = false;
        std::unique_ptr<boost::asio::steady_timer> timer;
    };
    void arm_config();

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
};

} // namespace vmm::virtio
