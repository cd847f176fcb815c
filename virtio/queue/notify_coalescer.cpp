// SPDX-License-Identifier: Apache-2.0
// NotifyCoalescer: the hold policy and its timer.
#include "virtio/queue/notify_coalescer.hpp"

#include <algorithm>

#include "virtio/queue/queue.hpp"

namespace vmm::virtio {

void NotifyHoldPolicy::arrival(TimePoint now, std::optional<std::uint16_t> outstanding) noexcept
{
    if (!outstanding || peak_ <= 1) {
        return; // a driver at depth 1 is never held: no rate needed
    }
    if (arrived_ && now >= last_arrival_ && now - last_arrival_ <= MAX_SAMPLE) {
        // Exponential moving average over about 8 arrivals.
        const Duration sample = now - last_arrival_;
        interval_ = std::clamp((interval_ * 7 + sample) / 8, MIN_INTERVAL, MAX_INTERVAL);
    }
    last_arrival_ = now;
    arrived_ = true;
}

bool NotifyHoldPolicy::at_depth(std::optional<std::uint16_t> outstanding) noexcept
{
    if (!outstanding || *outstanding < peak_) {
        return false;
    }
    peak_ = *outstanding; // the driver cannot add more: it waits
    if (holding_) {
        ++stats_.at_depth;
    }
    holding_ = false;
    return true;
}

bool NotifyHoldPolicy::hold(TimePoint now, std::optional<std::uint16_t> outstanding) noexcept
{
    if (!outstanding || *outstanding == 0) {
        holding_ = false;
        return false;
    }
    if (at_depth(outstanding)) {
        return false;
    }
    if (!holding_) {
        holding_ = true;
        ++stats_.holds;
        hold_start_ = now;
        if (!arrived_ || last_arrival_ < now - interval_) {
            // No recent arrival to measure the window from: start it now.
            last_arrival_ = now;
            arrived_ = true;
        }
    }
    return true;
}

NotifyHoldPolicy::TimePoint NotifyHoldPolicy::due() const noexcept
{
    const Duration longest = std::min<Duration>(MAX_HOLD, interval_ * 2 * (Duration::rep { peak_ } + 2));
    return std::min(last_arrival_ + interval_ * WINDOW, hold_start_ + longest);
}

NotifyHoldPolicy::Expiry NotifyHoldPolicy::expired(TimePoint now, std::optional<std::uint16_t> outstanding) noexcept
{
    if (!holding_) {
        return Expiry::idle;
    }
    if (at_depth(outstanding)) {
        return Expiry::notify;
    }
    if (now < due()) {
        return Expiry::rearm;
    }
    // The driver stopped adding below its peak: perhaps it lowered its depth.
    const auto lower = static_cast<std::uint16_t>(peak_ - std::max(1, peak_ / 4));
    peak_ = std::max<std::uint16_t>({ outstanding.value_or(1), lower, 1 });
    holding_ = false;
    ++stats_.by_time;
    return Expiry::notify;
}

NotifyCoalescer::NotifyCoalescer(boost::asio::io_context* io, std::function<void()> on_expiry)
    : on_expiry_(std::move(on_expiry))
{
    if (io != nullptr) {
        timer_.emplace(*io);
    }
}

NotifyCoalescer::~NotifyCoalescer()
{
    cancel();
}

void NotifyCoalescer::arrived(const Queue& queue) noexcept
{
    if (!timer_) {
        return;
    }
    if (policy_.peak() <= 1) {
        return; // depth 1: no clock read
    }
    policy_.arrival(std::chrono::steady_clock::now(), queue.driver_outstanding());
}

bool NotifyCoalescer::hold(const Queue& queue) noexcept
{
    if (!timer_) {
        return false;
    }
    const auto outstanding = queue.driver_outstanding();
    // At the driver's depth (always so at depth 1) there is nothing to wait for: no clock read.
    const auto now = outstanding && *outstanding < policy_.peak() ? std::chrono::steady_clock::now()
                                                                   : NotifyHoldPolicy::TimePoint {};
    if (!policy_.hold(now, outstanding)) {
        return false;
    }
    arm();
    return true;
}

bool NotifyCoalescer::expired(const Queue& queue) noexcept
{
    switch (policy_.expired(std::chrono::steady_clock::now(), queue.driver_outstanding())) {
    case NotifyHoldPolicy::Expiry::notify:
        return true;
    case NotifyHoldPolicy::Expiry::rearm:
        arm();
        return false;
    case NotifyHoldPolicy::Expiry::idle:
        return false;
    }
    return false;
}

void NotifyCoalescer::cancel() noexcept
{
    policy_.clear();
    ++generation_;
    armed_ = false;
    if (timer_) {
        timer_->cancel();
    }
}

void NotifyCoalescer::arm() noexcept
{
    const auto due = policy_.due();
    if (armed_ && timer_->expiry() <= due) {
        return; // the pending wait comes first; expired() re-arms if it is early
    }
    // Setting the expiry aborts a pending wait; one already queued to run sees the generation.
    ++generation_;
    armed_ = true;
    timer_->expires_at(due);
    timer_->async_wait([weak = std::weak_ptr<NotifyCoalescer*>(self_), gen = generation_](
                           const boost::system::error_code& ec) {
        const auto self = weak.lock();
        if (ec || !self || (*self)->generation_ != gen) {
            return; // cancelled, or the coalescer is gone
        }
        (*self)->armed_ = false;
        (*self)->on_expiry_();
    });
}

void notify_used(NotifyCoalescer* coalescer, Queue& queue) noexcept
{
    if (coalescer != nullptr && coalescer->hold(queue)) {
        return;
    }
    queue.notify_if_needed();
}

void notify_if_hold_over(NotifyCoalescer& coalescer, Queue& queue) noexcept
{
    if (coalescer.expired(queue)) {
        queue.notify_if_needed();
    }
}

} // namespace vmm::virtio
