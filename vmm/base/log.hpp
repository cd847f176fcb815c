// SPDX-License-Identifier: Apache-2.0
// Logging: spdlog, plus a rate limit for every line a guest can cause.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <spdlog/spdlog.h>

namespace vmm {

// A token bucket per call site: a burst of 10 lines, then one per 500 ms; the number of lines
// suppressed in between is reported on the next line that passes. A guest that hammers a bad
// register must not be able to fill the host's disk or stall the loop on log I/O.
class LogRateLimit {
public:
    static constexpr std::uint32_t BURST = 10;
    static constexpr std::chrono::milliseconds REFILL { 500 };

    // Returns true when this line may be printed; *suppressed receives how many were dropped
    // since the last line that passed.
    bool allow(std::uint64_t* suppressed) noexcept;

private:
    std::atomic<std::int64_t> last_refill_ns_ { 0 };
    std::atomic<std::uint32_t> tokens_ { BURST };
    std::atomic<std::uint64_t> suppressed_ { 0 };
};

// Parse "trace|debug|info|warn|error|critical|off".
bool parse_log_level(std::string_view name, spdlog::level::level_enum* out) noexcept;

} // namespace vmm

// VMM_LOG_GUEST(level, fmt, args...): for any path a guest can reach.
#define VMM_LOG_GUEST(level, ...)                                                                           \
    do {                                                                                                    \
        static ::vmm::LogRateLimit vmm_log_limit_;                                                          \
        std::uint64_t vmm_log_dropped_ = 0;                                                                 \
        if (spdlog::should_log(level) && vmm_log_limit_.allow(&vmm_log_dropped_)) {                         \
            if (vmm_log_dropped_ != 0) {                                                                    \
                spdlog::log(level, "({} similar messages suppressed)", vmm_log_dropped_);                   \
            }                                                                                               \
            spdlog::log(level, __VA_ARGS__);                                                                \
        }                                                                                                   \
    } while (false)

// VMM_ASSERT(cond): a broken invariant of the VMM itself (never something a guest can cause):
// log and abort rather than go on with corrupt state.
#define VMM_ASSERT(cond)                                                                                    \
    do {                                                                                                    \
        if (!(cond)) {                                                                                      \
            spdlog::critical("assertion failed: {} ({}:{})", #cond, __FILE__, __LINE__);                    \
            std::abort();                                                                                   \
        }                                                                                                   \
    } while (false)
