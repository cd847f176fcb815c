// SPDX-License-Identifier: Apache-2.0
// TerminalGuard: raw mode and its restoration.
#include "vmm/console/terminal.hpp"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace vmm {

namespace {

// Read by signal handlers: written only while g_active is false, published by storing it.
termios g_saved {};
int g_fd = -1;
std::atomic<bool> g_active { false };
static_assert(std::atomic<bool>::is_always_lock_free, "restore() must be async-signal-safe");

constexpr std::array<int, 12> RESTORE_SIGNALS {
    SIGSEGV,
    SIGBUS,
    SIGILL,
    SIGFPE,
    SIGABRT,
    SIGSYS,
    SIGHUP,
    SIGINT,
    SIGQUIT,
    SIGTERM,
    SIGXCPU,
    SIGXFSZ,
};

extern "C" void restore_and_reraise(int sig)
{
    const int saved_errno = errno;
    TerminalGuard::restore();
    // SA_RESETHAND put the default action back; the signal is blocked while this handler
    // runs, so raising it again delivers it, with that default action, when we return.
    ::raise(sig);
    errno = saved_errno;
}

extern "C" void restore_at_exit()
{
    TerminalGuard::restore();
}

void install_handlers_once()
{
    static std::once_flag once;
    std::call_once(once, [] {
        std::atexit(restore_at_exit);
        for (const int sig : RESTORE_SIGNALS) {
            struct sigaction old { };
            if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL
                || (old.sa_flags & SA_SIGINFO) != 0) {
                continue; // someone else handles or ignores it: leave theirs alone
            }
            struct sigaction sa { };
            sa.sa_handler = restore_and_reraise;
            sa.sa_flags = static_cast<int>(SA_RESETHAND); // 0x80000000 in an int field
            sigemptyset(&sa.sa_mask);
            ::sigaction(sig, &sa, nullptr);
        }
    });
}

} // namespace

Result<std::unique_ptr<TerminalGuard>> TerminalGuard::enter_raw(int fd)
{
    if (g_active.load()) {
        return fail(Errc::busy, "the terminal is already in raw mode for another console");
    }
    termios saved {};
    if (::tcgetattr(fd, &saved) != 0) {
        return fail_errno(errno, "cannot read the terminal settings of fd {}", fd);
    }
    // termios(3), cfmakeraw, except that OPOST stays on (see the header).
    termios raw = saved;
    raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;

    install_handlers_once();
    g_saved = saved;
    g_fd = fd;
    // Armed before the change: a signal arriving in between restores settings that are
    // still the original ones, which is harmless.
    g_active.store(true);
    if (::tcsetattr(fd, TCSANOW, &raw) != 0) {
        const int err = errno;
        g_active.store(false);
        return fail_errno(err, "cannot put the terminal (fd {}) into raw mode", fd);
    }
    return std::unique_ptr<TerminalGuard>(new TerminalGuard());
}

TerminalGuard::~TerminalGuard()
{
    restore();
}

void TerminalGuard::restore() noexcept
{
    if (g_active.exchange(false)) {
        // TCSANOW: draining first could wait forever on a terminal stopped by flow control.
        ::tcsetattr(g_fd, TCSANOW, &g_saved);
    }
}

} // namespace vmm
