// SPDX-License-Identifier: Apache-2.0
// TokenBucket.
#include "virtio/devices/token_bucket.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace vmm::virtio {

TokenBucket::TokenBucket(std::uint64_t rate, std::uint64_t burst, Clock clock)
    : rate_(std::max<std::uint64_t>(rate, 1))
    , burst_(std::max<std::uint64_t>(burst, 1))
    , clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); }))
    , tokens_(static_cast<double>(burst_))
    , last_(clock_())
{
}

void TokenBucket::refill()
{
    const auto now = clock_();
    if (now <= last_) {
        return;
    }
    // A double holds the count exactly far beyond any sensible burst, and keeps the fraction
    // of a token that a short interval earns.
    const double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(static_cast<double>(burst_), tokens_ + seconds * static_cast<double>(rate_));
    last_ = now;
}

std::uint64_t TokenBucket::take(std::uint64_t want)
{
    refill();
    const auto whole = static_cast<std::uint64_t>(std::floor(tokens_));
    const std::uint64_t taken = std::min(want, whole);
    tokens_ -= static_cast<double>(taken);
    return taken;
}

void TokenBucket::put_back(std::uint64_t n)
{
    tokens_ = std::min(static_cast<double>(burst_), tokens_ + static_cast<double>(n));
}

std::chrono::nanoseconds TokenBucket::time_until(std::uint64_t want)
{
    refill();
    const double missing = static_cast<double>(std::min(want, burst_)) - tokens_;
    if (missing <= 0) {
        return std::chrono::nanoseconds { 0 };
    }
    // Capped at a day, far below where the conversion could overflow.
    const double ns = std::min(std::ceil(missing / static_cast<double>(rate_) * 1e9), 86400e9);
    return std::chrono::nanoseconds { static_cast<std::int64_t>(ns) };
}

} // namespace vmm::virtio
