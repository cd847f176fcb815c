// SPDX-License-Identifier: Apache-2.0
#include "virtio/transport/timing_faults.hpp"

#include <utility>

#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio {

TimingFaults::TimingFaults(EventLoop* loop, std::uint16_t queues, std::function<void(std::uint16_t)> deliver_notify,
    std::function<void(std::uint16_t)> deliver_queue_irq, std::function<void()> deliver_config_irq)
    : loop_(loop)
    , deliver_notify_(std::move(deliver_notify))
    , deliver_queue_irq_(std::move(deliver_queue_irq))
    , deliver_config_irq_(std::move(deliver_config_irq))
    , stalls_(queues)
{
}

TimingFaults::~TimingFaults()
{
    *alive_ = false;
}

Result<> TimingFaults::stall_queue(std::uint16_t queue, std::chrono::milliseconds ms)
{
    if (loop_ == nullptr) {
        return fail(Errc::unsupported, "timing faults need the event loop");
    }
    if (queue >= stalls_.size()) {
        return fail(Errc::invalid_argument, "stall_queue: queue {} does not exist (the device has {})", queue,
            stalls_.size());
    }
    if (ms.count() <= 0 || ms > MAX_DELAY) {
        return fail(Errc::invalid_argument, "stall_queue: ms must be 1 to {}", MAX_DELAY.count());
    }
    Stall& s = stalls_[queue];
    s.until = std::chrono::steady_clock::now() + ms;
    if (!s.timer) {
        s.timer = std::make_unique<boost::asio::steady_timer>(loop_->io());
    }
    s.timer->expires_at(s.until);
    s.timer->async_wait([this, queue, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        if (ec || alive.expired()) {
            return;
        }
        Stall& st = stalls_[queue];
        if (st.pending) {
            st.pending = false;
            deliver_notify_(queue);
        }
    });
    return {};
}

Result<> TimingFaults::delay_interrupts(std::chrono::milliseconds ms)
{
    if (loop_ == nullptr) {
        return fail(Errc::unsupported, "timing faults need the event loop");
    }
    if (ms.count() < 0 || ms > MAX_DELAY) {
        return fail(Errc::invalid_argument, "delay_interrupts_ms must be 0 to {}", MAX_DELAY.count());
    }
    irq_delay_ = ms;
    return {};
}

Result<> TimingFaults::config_interrupts_every(std::chrono::milliseconds ms)
{
    if (loop_ == nullptr) {
        return fail(Errc::unsupported, "timing faults need the event loop");
    }
    if (ms.count() != 0 && (ms.count() < 10 || ms > MAX_DELAY)) {
        return fail(Errc::invalid_argument, "config_interrupt_every_ms must be 0 (off) or 10 to {}", MAX_DELAY.count());
    }
    config_period_ = ms;
    if (config_timer_) {
        config_timer_->cancel();
    }
    if (ms.count() > 0) {
        if (!config_timer_) {
            config_timer_ = std::make_unique<boost::asio::steady_timer>(loop_->io());
        }
        arm_config();
    }
    return {};
}

void TimingFaults::arm_config()
{
    config_timer_->expires_after(config_period_);
    config_timer_->async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        if (ec || alive.expired() || config_period_.count() == 0) {
            return;
        }
        ++config_irqs_;
        deliver_config_irq_();
        arm_config();
    });
}

bool TimingFaults::hold_notify(std::uint16_t queue)
{
    if (queue >= stalls_.size()) {
        return false;
    }
    Stall& s = stalls_[queue];
    if (!s.timer || std::chrono::steady_clock::now() >= s.until) {
        return false;
    }
    s.pending = true;
    ++held_notifies_;
    return true;
}

bool TimingFaults::hold_queue_irq(std::uint16_t queue)
{
    if (loop_ == nullptr || (irq_delay_.count() == 0 && drop_every_ == 0 && duplicate_every_ == 0)) {
        return false;
    }
    ++queue_irqs_;
    if (drop_every_ > 0 && queue_irqs_ % drop_every_ == 0) {
        ++dropped_irqs_;
        after(LOST_INTERRUPT_WAIT, [this, queue] { deliver_queue_irq_(queue); });
        return true;
    }
    if (irq_delay_.count() > 0) {
        ++delayed_irqs_;
        after(irq_delay_, [this, queue] { deliver_queue_irq_(queue); });
        return true;
    }
    if (duplicate_every_ > 0 && queue_irqs_ % duplicate_every_ == 0) {
        ++duplicated_irqs_;
        deliver_queue_irq_(queue);
        // The second one from the loop's next turn, so that the first can be taken on its own
        // rather than merge with it in the interrupt controller.
        after(std::chrono::milliseconds(1), [this, queue] { deliver_queue_irq_(queue); });
        return true;
    }
    return false;
}

Result<> TimingFaults::delay_used(std::chrono::milliseconds ms)
{
    if (loop_ == nullptr) {
        return fail(Errc::unsupported, "timing faults need the event loop");
    }
    if (ms.count() < 0 || ms > MAX_DELAY) {
        return fail(Errc::invalid_argument, "delay_used_ms must be 0 to {}", MAX_DELAY.count());
    }
    used_delay_ = ms;
    return {};
}

Result<> TimingFaults::check_every(const char* what, std::uint32_t n, std::uint32_t least) const
{
    if (loop_ == nullptr) {
        return fail(Errc::unsupported, "timing faults need the event loop");
    }
    if (n != 0 && (n < least || n > MAX_EVERY)) {
        return fail(Errc::invalid_argument, "{} must be 0 (off) or {} to {}", what, least, MAX_EVERY);
    }
    return {};
}

Result<> TimingFaults::reorder_used_every(std::uint32_t n)
{
    VMM_TRY(check_every("reorder_used_every", n, 2));
    reorder_every_ = n;
    return {};
}

Result<> TimingFaults::drop_interrupts_every(std::uint32_t n)
{
    VMM_TRY(check_every("drop_interrupts_every", n, 2));
    drop_every_ = n;
    return {};
}

Result<> TimingFaults::duplicate_interrupts_every(std::uint32_t n)
{
    VMM_TRY(check_every("duplicate_interrupts_every", n, 1));
    duplicate_every_ = n;
    return {};
}

CompletionFaults::Hold TimingFaults::on_complete(std::uint16_t queue) noexcept
{
    (void)queue;
    Hold h;
    if (used_delay_.count() == 0 && reorder_every_ == 0) {
        return h;
    }
    ++completions_;
    if (used_delay_.count() > 0) {
        ++delayed_used_;
        h.delay = used_delay_;
    } else if (completions_ % reorder_every_ == 0) {
        ++reordered_used_;
        h.until_next = true;
    }
    return h;
}

void TimingFaults::release_at(std::chrono::steady_clock::time_point when, std::function<void()> release)
{
    after(when - std::chrono::steady_clock::now(), std::move(release));
}

void TimingFaults::after(std::chrono::steady_clock::duration delay, std::function<void()> fn)
{
    if (loop_ == nullptr) {
        return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(loop_->io(), delay);
    timer->async_wait(
        [timer, fn = std::move(fn), alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
            if (!ec && !alive.expired()) {
                fn();
            }
        });
}

} // namespace vmm::virtio
