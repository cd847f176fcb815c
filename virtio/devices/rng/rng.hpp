// SPDX-License-Identifier: Apache-2.0
// RngDevice: virtio-rng (virtio 1.2 §5.4), one request queue filled from an EntropySource.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/steady_timer.hpp>

#include "virtio/device_base.hpp"
#include "virtio/devices/rng/entropy_source.hpp"
#include "virtio/devices/token_bucket.hpp"

namespace vmm::virtio {

// Each writable buffer the driver posts is filled with up to MAX_REQUEST_BYTES from the
// source, read straight into guest memory; used.len is what was written. Readable buffers
// carry nothing for this device and complete with length 0.
//
// With a rate limit, a request waits while the token bucket is empty; a steady_timer on the
// activation's loop serves it again once enough tokens have come in. Without a loop (unit
// tests) refill() is that timer's entry point and the bucket's clock is injected.
//
// A source that has nothing yet (Errc::busy) or fails is retried after RETRY_DELAY, or on the
// next notification; a source that has ended (a regular file read to its end) leaves the
// requests pending, because virtio 1.2 §5.4.6.2 wants at least one byte in every used buffer.
class RngDevice final : public DeviceBase {
public:
    static constexpr std::uint16_t QUEUE_SIZE = 256;
    // Bounds the host's work per request: a guest posting a 4 GiB buffer gets 64 KiB.
    static constexpr std::size_t MAX_REQUEST_BYTES = 64 * 1024;
    // Bounds the syscalls per request: a chain of many tiny buffers is filled in its first
    // MAX_IOVECS pieces (virtio 1.2 §5.4.6.2 lets the device use less than the whole buffer).
    static constexpr std::size_t MAX_IOVECS = 64;
    static constexpr std::chrono::milliseconds RETRY_DELAY { 1000 };

    struct RateLimit {
        std::uint64_t bytes_per_second = 0;
        std::uint64_t burst = 0;
    };

    // `clock` drives the rate limit's bucket; empty means steady_clock.
    explicit RngDevice(std::unique_ptr<EntropySource> source, std::optional<RateLimit> limit = std::nullopt,
        TokenBucket::Clock clock = {});
    ~RngDevice() override;
    RngDevice(const RngDevice&) = delete;
    RngDevice& operator=(const RngDevice&) = delete;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    // Drops the queue and any waiting request and cancels the timer. The bucket keeps its
    // level: the limit is a host policy, and a guest must not get a fresh burst by resetting.
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;

    // Serves waiting requests again (the timer's handler; tests call it after moving the clock).
    void refill() noexcept;
    // A request is waiting for tokens or for the source.
    [[nodiscard]] bool waiting() const noexcept { return held_.has_value(); }
    [[nodiscard]] bool timer_armed() const noexcept { return timer_armed_; }

private:
    enum class Fill { done, wait_tokens, wait_source, source_ended };

    void serve() noexcept;
    [[nodiscard]] Fill fill(Writer& writer) noexcept;
    void wait_for(Fill f) noexcept;
    void arm_timer(std::chrono::nanoseconds delay) noexcept;

    std::unique_ptr<EntropySource> source_;
    std::optional<TokenBucket> bucket_;
    std::optional<Queue> queue_;
    std::optional<DescriptorChain> held_; // popped, not yet filled
    bool source_ended_ = false;

    std::optional<boost::asio::steady_timer> timer_;
    bool timer_armed_ = false;
    std::uint64_t timer_generation_ = 0; // bumped by reset(): a stale expiry does nothing
    // Timer handlers hold this weakly: one that runs after the device is gone finds it empty.
    std::shared_ptr<RngDevice*> self_;
};

} // namespace vmm::virtio
