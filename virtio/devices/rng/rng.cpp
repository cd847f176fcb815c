// SPDX-License-Identifier: Apache-2.0
// RngDevice.
#include "virtio/devices/rng/rng.hpp"

#include <algorithm>
#include <array>

#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio {
namespace {

constexpr std::array<std::uint16_t, 1> QUEUE_SIZES { RngDevice::QUEUE_SIZE };

std::uint64_t transport_features() noexcept
{
    return feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX)
        | feature_bit(VIRTIO_F_RING_PACKED);
}

} // namespace

RngDevice::RngDevice(
    std::unique_ptr<EntropySource> source, std::optional<RateLimit> limit, TokenBucket::Clock clock)
    : DeviceBase(DeviceType::rng, { QUEUE_SIZES.begin(), QUEUE_SIZES.end() }, transport_features(), 0)
    , source_(std::move(source))
    , self_(std::make_shared<RngDevice*>(this))
{
    if (limit) {
        bucket_.emplace(limit->bytes_per_second, limit->burst, std::move(clock));
    }
}

RngDevice::~RngDevice()
{
    self_.reset(); // before the timer goes: its cancelled handler must find nothing
}

Result<> RngDevice::activate(ActivationContext ctx)
{
    if (ctx.queues.size() != 1 || ctx.queues.front().index() != 0) {
        return fail(Errc::invalid_argument, "virtio-rng needs exactly its request queue 0, got {} queues",
            ctx.queues.size());
    }
    held_.reset();
    queue_.emplace(std::move(ctx.queues.front()));
    set_interrupt(&ctx.interrupt);
    if (ctx.loop != nullptr && !timer_) {
        timer_.emplace(ctx.loop->io());
    }
    return {};
}

void RngDevice::reset() noexcept
{
    ++timer_generation_;
    timer_armed_ = false;
    if (timer_) {
        timer_->cancel();
    }
    // Invariant: held_ came from queue_; virtio 1.2 §2.4 lets neither be touched after reset.
    held_.reset();
    queue_.reset();
    reset_base();
}

void RngDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    if (queue_index != 0) {
        return; // there is no other queue
    }
    serve();
}

void RngDevice::refill() noexcept
{
    serve();
}

void RngDevice::serve() noexcept
{
    if (!queue_) {
        return; // spurious notification before activation or after reset
    }
    Queue& q = *queue_;
    Fill f = Fill::done;
    do {
        q.disable_notification();
        while (f == Fill::done && (held_ || (held_ = q.pop()))) {
            f = fill(held_->writer());
            if (f == Fill::done) {
                q.add_used(std::move(*held_));
                held_.reset();
            }
        }
    } while (f == Fill::done && q.enable_notification());
    if (f != Fill::done) {
        (void)q.enable_notification(); // a kick retries a source that had nothing
    }
    q.notify_if_needed();
    wait_for(f);
}

void RngDevice::wait_for(Fill f) noexcept
{
    if (f == Fill::wait_tokens) {
        // Resume once the waiting request can be served, or once a tenth of a second's worth
        // of tokens has come in if it is bigger than that.
        const std::uint64_t want = std::min<std::uint64_t>({ held_->writer().available(), MAX_REQUEST_BYTES,
            std::max<std::uint64_t>(1, bucket_->rate() / 10) });
        arm_timer(bucket_->time_until(want));
    } else if (f == Fill::wait_source) {
        arm_timer(RETRY_DELAY);
    }
}

RngDevice::Fill RngDevice::fill(Writer& writer) noexcept
{
    std::size_t want = std::min(writer.available(), MAX_REQUEST_BYTES);
    if (want == 0) {
        return Fill::done; // only readable or zero-length buffers: nothing to write, used.len 0
    }
    if (source_ended_) {
        return Fill::source_ended;
    }
    if (bucket_) {
        want = static_cast<std::size_t>(bucket_->take(want));
        if (want == 0) {
            return Fill::wait_tokens;
        }
    }
    IovecList iov = writer.iovecs(want);
    if (iov.size() > MAX_IOVECS) {
        iov.resize(MAX_IOVECS);
    }
    auto got = source_->read(iov);
    const std::size_t n = got ? std::min(*got, want) : 0;
    if (bucket_) {
        bucket_->put_back(want - n);
    }
    if (!got) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-rng: {}; retrying", got.error().describe());
        return Fill::wait_source;
    }
    if (n == 0) {
        source_ended_ = true;
        VMM_LOG_GUEST(spdlog::level::warn,
            "virtio-rng: entropy source {} has ended; the guest's requests now stay pending",
            source_->describe());
        return Fill::source_ended;
    }
    // Invariant: n <= want <= writer.available().
    (void)writer.commit(n);
    return Fill::done;
}

void RngDevice::arm_timer(std::chrono::nanoseconds delay) noexcept
{
    if (!timer_ || timer_armed_) {
        return;
    }
    timer_armed_ = true;
    timer_->expires_after(delay);
    timer_->async_wait([weak = std::weak_ptr<RngDevice*>(self_), gen = timer_generation_](
                           const boost::system::error_code& ec) {
        const auto self = weak.lock();
        if (ec || !self || (*self)->timer_generation_ != gen) {
            return; // cancelled, or the device was reset or destroyed since
        }
        (*self)->timer_armed_ = false;
        (*self)->serve();
    });
}

} // namespace vmm::virtio
