// SPDX-License-Identifier: Apache-2.0
// Rate limiting for guest-triggerable log lines.
#include "vmm/base/log.hpp"

#include <array>
#include <utility>

namespace vmm {

bool LogRateLimit::allow(std::uint64_t* suppressed) noexcept
{
    using namespace std::chrono;
    const auto now = duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
    auto last = last_refill_ns_.load(std::memory_order_relaxed);
    if (last == 0) {
        last_refill_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed);
    } else if (now - last >= duration_cast<nanoseconds>(REFILL).count()) {
        if (last_refill_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
            auto t = tokens_.load(std::memory_order_relaxed);
            if (t < BURST) {
                tokens_.fetch_add(1, std::memory_order_relaxed);
            }
        }
    }
    auto t = tokens_.load(std::memory_order_relaxed);
    while (t > 0) {
        if (tokens_.compare_exchange_weak(t, t - 1, std::memory_order_relaxed)) {
            *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
            return true;
        }
    }
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

bool parse_log_level(std::string_view name, spdlog::level::level_enum* out) noexcept
{
    static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> LEVELS { {
        { "trace", spdlog::level::trace },
        { "debug", spdlog::level::debug },
        { "info", spdlog::level::info },
        { "warn", spdlog::level::warn },
        { "error", spdlog::level::err },
        { "critical", spdlog::level::critical },
        { "off", spdlog::level::off },
    } };
    for (const auto& [n, l] : LEVELS) {
        if (n == name) {
            *out = l;
            return true;
        }
    }
    return false;
}

} // namespace vmm
