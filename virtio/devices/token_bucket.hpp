// SPDX-License-Identifier: Apache-2.0
// TokenBucket: a byte-rate limit with a burst allowance, on an injectable clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace vmm::virtio {

// Holds up to `burst` tokens and gains `rate` per second. Tokens are counted in whole units
// (bytes) as far as callers see; the fraction carries over. Loop thread only.
class TokenBucket {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    // Starts full. rate and burst must be at least 1 (the config validators check).
    TokenBucket(std::uint64_t rate, std::uint64_t burst, Clock clock = {});

    // Takes up to `want` tokens, as many as there are; returns how many were taken.
    std::uint64_t take(std::uint64_t want);
    // Returns tokens taken but not spent (a short read), up to the burst.
    void put_back(std::uint64_t n);
    // How long until at least `want` tokens (at most the burst) are there; zero if they are.
    [[nodiscard]] std::chrono::nanoseconds time_until(std::uint64_t want);

    [[nodiscard]] std::uint64_t rate() const noexcept { return rate_; }
    [[nodiscard]] std::uint64_t burst() const noexcept { return burst_; }

private:
    void refill();

    std::uint64_t rate_;
    std::uint64_t burst_;
    Clock clock_;
    double tokens_;
    std::chrono::steady_clock::time_point last_;
};

} // namespace vmm::virtio
