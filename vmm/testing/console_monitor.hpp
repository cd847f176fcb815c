// SPDX-License-Identifier: Apache-2.0
// ConsoleMonitor: sits between the guest's console device and its host back end, and reads
// what passes: it keeps a copy in a log file, and feeds each line to the KTAP parser and the
// kernel failure scanner.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vmm/base/result.hpp"
#include "vmm/console/char_sink.hpp"
#include "vmm/testing/kernel_log.hpp"
#include "vmm/testing/ktap.hpp"
#include "vmm/testing/text.hpp"

namespace vmm::testing {

// What the console showed, once it is closed.
struct ConsoleFindings {
    std::vector<KtapCase> ktap;
    bool ktap_seen = false;
    std::size_t ktap_dropped = 0;
    std::vector<KernelFailure> failures;
    std::size_t failures_overflow = 0;
    std::vector<std::string> tail; // the last TAIL_LINES lines
    std::uint64_t bytes = 0;
    std::uint64_t lines = 0;
};

class ConsoleMonitor final : public CharSink {
public:
    static constexpr std::size_t TAIL_LINES = 60;
    static constexpr std::size_t MAX_LINE = 4096; // a longer line is cut into pieces

    // `log`: where to keep a copy of the output (created or truncated); none for no copy.
    [[nodiscard]] static Result<std::shared_ptr<ConsoleMonitor>> create(
        const std::optional<std::filesystem::path>& log);
    ~ConsoleMonitor() override;
    ConsoleMonitor(const ConsoleMonitor&) = delete;
    ConsoleMonitor& operator=(const ConsoleMonitor&) = delete;

    // Where the bytes go after the monitor has read them (the console's own sink). A VM that
    // restarts sets the next one; until then bytes only go to the monitor.
    void set_next(std::shared_ptr<CharSink> next);

    // Any thread (vCPU threads write the UART).
    void write(std::span<const std::byte> data) noexcept override;

    // Ends the input (a last line without a newline counts) and returns what was found.
    [[nodiscard]] ConsoleFindings finish();

private:
    explicit ConsoleMonitor(std::FILE* log) : log_(log) { }
    void end_line(); // with mutex_ held

    std::mutex mutex_;
    std::FILE* log_ = nullptr;
    std::shared_ptr<CharSink> next_;
    std::string line_;
    std::deque<std::string> tail_;
    KtapParser ktap_;
    KernelLogScanner scanner_;
    std::uint64_t bytes_ = 0;
    std::uint64_t lines_ = 0;
};

} // namespace vmm::testing
