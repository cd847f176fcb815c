// SPDX-License-Identifier: Apache-2.0
// Tests for TerminalGuard on a pseudo-terminal: raw mode and restoration on each way out.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <catch2/catch.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "vmm/base/unique_fd.hpp"
#include "vmm/console/terminal.hpp"

using namespace vmm;

namespace {

struct Pty {
    UniqueFd master { ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC) };
    UniqueFd slave;

    Pty()
    {
        if (master && ::grantpt(master.get()) == 0 && ::unlockpt(master.get()) == 0) {
            slave.reset(::open(::ptsname(master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
        }
    }
};

bool same_mode(const termios& a, const termios& b)
{
    return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag
        && a.c_lflag == b.c_lflag;
}

termios mode_of(int fd)
{
    termios t {};
    ::tcgetattr(fd, &t);
    return t;
}

// Runs body in a child process and returns its wait status.
template<class Body> int in_child(Body body)
{
    std::cout.flush();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        body();
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

} // namespace

TEST_CASE("raw mode turns off line editing, echo and signal keys but keeps output processing", "[console]")
{
    Pty pty;
    REQUIRE(pty.slave);
    const termios before = mode_of(pty.slave.get());
    {
        auto guard = TerminalGuard::enter_raw(pty.slave.get());
        REQUIRE(guard);
        const termios raw = mode_of(pty.slave.get());
        CHECK((raw.c_lflag & (ICANON | ECHO | ISIG | IEXTEN)) == 0);
        CHECK((raw.c_iflag & (ICRNL | IXON)) == 0);
        CHECK((raw.c_oflag & OPOST) == (before.c_oflag & OPOST));
        CHECK(raw.c_cc[VMIN] == 1);
    }
    CHECK(same_mode(mode_of(pty.slave.get()), before));
}

TEST_CASE("restore() puts the settings back once, and a second guard is refused meanwhile", "[console]")
{
    Pty pty;
    REQUIRE(pty.slave);
    const termios before = mode_of(pty.slave.get());
    auto guard = TerminalGuard::enter_raw(pty.slave.get());
    REQUIRE(guard);
    auto second = TerminalGuard::enter_raw(pty.slave.get());
    CHECK_FALSE(second);

    TerminalGuard::restore();
    CHECK(same_mode(mode_of(pty.slave.get()), before));
    // Changed by someone else after the restore: a second restore must not undo that.
    termios changed = before;
    changed.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(pty.slave.get(), TCSANOW, &changed);
    TerminalGuard::restore();
    guard->reset();
    CHECK(same_mode(mode_of(pty.slave.get()), changed));
}

TEST_CASE("a terminating signal restores the terminal before the process dies of it", "[console]")
{
    Pty pty;
    REQUIRE(pty.slave);
    struct sigaction inherited { };
    ::sigaction(SIGHUP, nullptr, &inherited);
    INFO("SIGHUP is ignored by whatever started the tests (nohup?), so no handler can be installed");
    REQUIRE(inherited.sa_handler != SIG_IGN);
    const termios before = mode_of(pty.slave.get());
    const int status = in_child([fd = pty.slave.get()] {
        auto guard = TerminalGuard::enter_raw(fd);
        if (!guard) {
            ::_exit(10);
        }
        ::raise(SIGHUP);
        ::_exit(12); // not reached: SIGHUP's default action ends the process
    });
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGHUP);
    CHECK(same_mode(mode_of(pty.slave.get()), before));
}

constexpr int EXIT_HELPER_DONE = 42;

// The child side of the next test, in a fresh process: a fork of the test runner would run
// the runner's static destructors on exit too, whatever state its other threads left them in.
TEST_CASE("terminal exit helper", "[.][console]")
{
    const char* fd = std::getenv("VIREO_TERMINAL_TEST_FD");
    if (fd == nullptr) {
        return; // only meaningful when started by the test below
    }
    const int tty = std::atoi(fd);
    auto guard = TerminalGuard::enter_raw(tty);
    if (!guard) {
        ::_exit(10);
    }
    if ((mode_of(tty).c_lflag & ICANON) != 0) {
        ::_exit(12); // not raw: the parent's check would prove nothing
    }
    auto* leaked = guard->release(); // no destructor: only the exit handler can restore now
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(leaked); // leaked on purpose in this process
#else
    (void)leaked;
#endif
    std::exit(EXIT_HELPER_DONE); // a status Catch itself does not return
}

TEST_CASE("normal process exit restores the terminal", "[console]")
{
    Pty pty;
    REQUIRE(pty.slave);
    const termios before = mode_of(pty.slave.get());
    const int status = in_child([fd = pty.slave.get()] {
        // Inherited across exec, as the helper's terminal.
        ::fcntl(fd, F_SETFD, 0);
        const std::string value = std::to_string(fd);
        ::setenv("VIREO_TERMINAL_TEST_FD", value.c_str(), 1);
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, STDOUT_FILENO);
        char name[] = "terminal exit helper";
        char self[] = "unit_vmm";
        char* argv[] = { self, name, nullptr };
        ::execv("/proc/self/exe", argv);
        ::_exit(11);
    });
    INFO("child wait status " << status);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == EXIT_HELPER_DONE);
    CHECK(same_mode(mode_of(pty.slave.get()), before));
}
