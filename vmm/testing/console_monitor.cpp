// SPDX-License-Identifier: Apache-2.0
#include "vmm/testing/console_monitor.hpp"

#include "vmm/testing/text.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

namespace vmm::testing {

Result<std::shared_ptr<ConsoleMonitor>> ConsoleMonitor::create(const std::optional<std::filesystem::path>& log)
{
    std::FILE* f = nullptr;
    if (log) {
        f = std::fopen(log->c_str(), "we");
        if (f == nullptr) {
            const int err = errno;
            return fail(Errc::invalid_argument, "cannot create the console log {}: {}", log->string(), std::strerror(err));
        }
    }
    return std::shared_ptr<ConsoleMonitor>(new ConsoleMonitor(f));
}

ConsoleMonitor::~ConsoleMonitor()
{
    if (log_ != nullptr) {
        std::fclose(log_);
    }
}

void ConsoleMonitor::set_next(std::shared_ptr<CharSink> next)
{
    std::lock_guard lock(mutex_);
    next_ = std::move(next);
}

void ConsoleMonitor::end_line()
{
    ++lines_;
    std::string text = printable_text(line_);
    line_.clear();
    const std::string_view content = strip_printk_prefix(text);
    ktap_.line(content);
    scanner_.line(content);
    if (tail_.size() >= TAIL_LINES) {
        tail_.pop_front();
    }
    tail_.push_back(std::move(text));
}

void ConsoleMonitor::write(std::span<const std::byte> data) noexcept
{
    std::shared_ptr<CharSink> next;
    {
        std::lock_guard lock(mutex_);
        next = next_;
        bytes_ += data.size();
        if (log_ != nullptr) {
            // A full disk loses the copy, not the run.
            (void)std::fwrite(data.data(), 1, data.size(), log_);
        }
        try {
            for (std::byte b : data) {
                const auto c = static_cast<char>(b);
                if (c == '\n') {
                    end_line();
                } else if (c != '\r') {
                    line_.push_back(c);
                    if (line_.size() >= MAX_LINE) {
                        end_line();
                    }
                }
            }
        } catch (...) {
            line_.clear(); // out of memory: this line is lost, the guest goes on
        }
    }
    if (next) {
        next->write(data);
    }
}

ConsoleFindings ConsoleMonitor::finish()
{
    std::lock_guard lock(mutex_);
    if (!line_.empty()) {
        end_line();
    }
    if (log_ != nullptr) {
        std::fflush(log_);
    }
    ConsoleFindings f;
    f.ktap_seen = ktap_.seen();
    f.ktap = ktap_.finish();
    f.ktap_dropped = ktap_.dropped();
    f.failures = scanner_.failures();
    f.failures_overflow = scanner_.overflow();
    f.tail.assign(tail_.begin(), tail_.end());
    f.bytes = bytes_;
    f.lines = lines_;
    return f;
}

} // namespace vmm::testing
