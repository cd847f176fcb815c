// SPDX-License-Identifier: Apache-2.0
// EventFd: an eventfd(2) counter, the currency of ioeventfd, irqfd and cross-thread wake-ups.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "vmm/base/result.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm {

// Non-blocking and close-on-exec. signal() may be called from any thread; drain() belongs to
// the one reader.
class EventFd {
public:
    [[nodiscard]] static Result<EventFd> create()
    {
        const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            return fail_errno(errno, "eventfd");
        }
        return EventFd(UniqueFd(fd));
    }

    [[nodiscard]] int fd() const noexcept { return fd_.get(); }

    // Adds one. Cannot block (the counter would have to reach 2^64-1) and cannot fail on a
    // valid eventfd, so the result is not reported.
    void signal() const noexcept
    {
        const std::uint64_t one = 1;
        ssize_t n = 0;
        do {
            n = ::write(fd_.get(), &one, sizeof(one));
        } while (n < 0 && errno == EINTR);
    }

    // Reads and clears the counter; 0 when it was not signalled.
    std::uint64_t drain() const noexcept
    {
        std::uint64_t value = 0;
        ssize_t n = 0;
        do {
            n = ::read(fd_.get(), &value, sizeof(value));
        } while (n < 0 && errno == EINTR);
        return n == sizeof(value) ? value : 0;
    }

private:
    explicit EventFd(UniqueFd fd) noexcept : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

} // namespace vmm
