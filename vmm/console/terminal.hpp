// SPDX-License-Identifier: Apache-2.0
// TerminalGuard: the host terminal in raw mode, restored on every way out of the process.
#pragma once

#include <memory>

#include "vmm/base/result.hpp"

namespace vmm {

// Raw mode lets every key reach the guest: Ctrl-C interrupts the guest's program, not the
// VMM (ISIG off), and input is not line-buffered or echoed twice (ICANON and ECHO off). Output
// post-processing (OPOST, ONLCR) stays on, so the VMM's own "\n"-terminated log lines on
// stderr still start at the left margin; the guest's "\r\n" is unaffected.
//
// The original settings come back:
// - when the guard is destroyed (the console closes);
// - at normal process exit (an atexit handler);
// - on a fatal or terminating signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS,
//   SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGXCPU, SIGXFSZ): a handler restores the terminal,
//   then the signal's default action runs. Handlers are installed only for signals that
//   still have their default action, so they never replace someone else's; while the VM
//   runs, its own SIGINT/SIGTERM handling (a clean stop) takes precedence and ends in the
//   guard's destructor.
// SIGKILL and _exit() cannot be caught; `stty sane` repairs the terminal then.
class TerminalGuard final {
public:
    // Puts the terminal behind `fd` into raw mode. One guard at a time per process.
    [[nodiscard]] static Result<std::unique_ptr<TerminalGuard>> enter_raw(int fd);

    ~TerminalGuard();
    TerminalGuard(const TerminalGuard&) = delete;
    TerminalGuard& operator=(const TerminalGuard&) = delete;

    // Restores the saved settings if they are still to be restored. Idempotent and
    // async-signal-safe (an atomic flag and tcsetattr), so signal handlers may call it.
    static void restore() noexcept;

private:
    TerminalGuard() = default;
};

} // namespace vmm
