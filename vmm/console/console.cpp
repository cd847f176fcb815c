// SPDX-License-Identifier: Apache-2.0
// Console backends: stdio, file and off; open_console.
#include "vmm/console/console.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "vmm/console/escape.hpp"
#include "vmm/console/fd_reader.hpp"
#include "vmm/console/pty_console.hpp"
#include "vmm/console/socket_console.hpp"
#include "vmm/console/stream_sink.hpp"
#include "vmm/console/terminal.hpp"

namespace vmm {

namespace {

// A descriptor of the VMM's own for one of the standard streams. StreamSink and FdReader
// make their descriptor non-blocking, and O_NONBLOCK belongs to the open file description,
// which the standard streams share with the shell, other processes and spdlog's stderr.
// Reopening through /proc gives a new description of the same terminal or pipe. A regular
// file needs neither non-blocking mode nor a new description (which would restart at offset
// 0), so it is duplicated. A socket cannot be reopened: it is duplicated and made
// non-blocking, and `shared_flags` receives its old flags to put back at close.
Result<UniqueFd> own_descriptor(int fd, int access, int* shared_flags)
{
    *shared_flags = -1;
    struct stat st { };
    if (::fstat(fd, &st) != 0) {
        return fail_errno(errno, "console: standard stream fd {} is not open", fd);
    }
    if (!S_ISREG(st.st_mode)) {
        const std::string proc = "/proc/self/fd/" + std::to_string(fd);
        UniqueFd reopened(::open(proc.c_str(), access | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
        if (reopened) {
            return reopened;
        }
    }
    UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!dup) {
        return fail_errno(errno, "console: cannot duplicate fd {}", fd);
    }
    if (!S_ISREG(st.st_mode)) {
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags >= 0 && (flags & O_NONBLOCK) == 0) {
            *shared_flags = flags;
            (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        }
    }
    return dup;
}

// A reader that went away must cost the guest its console output, not the VMM its life: with
// SIGPIPE ignored, writing to a closed pipe fails with EPIPE and the sink stops. Left alone
// if the program already chose a disposition.
void ignore_sigpipe()
{
    struct sigaction old { };
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL
        && (old.sa_flags & SA_SIGINFO) == 0) {
        struct sigaction sa { };
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGPIPE, &sa, nullptr);
    }
}

class OffConsole final : public Console {
public:
    [[nodiscard]] std::shared_ptr<CharSink> sink() const override { return sink_; }
    [[nodiscard]] std::uint64_t dropped_output() const override { return 0; }
    [[nodiscard]] bool connected() const override { return false; }

private:
    std::shared_ptr<CharSink> sink_ = std::make_shared<NullSink>();
};

// Output to a descriptor (stdout or a file), optionally input from another (stdin).
class StreamConsole final : public Console {
public:
    explicit StreamConsole(std::shared_ptr<StreamSink> sink)
        : sink_(std::move(sink))
    {
    }

    ~StreamConsole() override
    {
        if (reader_) {
            reader_->stop();
        }
        sink_->close(CLOSE_TIMEOUT);
        if (restore_fd_ >= 0) {
            (void)::fcntl(restore_fd_, F_SETFL, restore_flags_);
        }
        terminal_.reset(); // after the last output, so it is not interleaved with the shell's
    }

    StreamConsole(const StreamConsole&) = delete;
    StreamConsole& operator=(const StreamConsole&) = delete;

    [[nodiscard]] std::shared_ptr<CharSink> sink() const override { return sink_; }
    [[nodiscard]] std::uint64_t dropped_output() const override { return sink_->dropped(); }
    void set_input_paused(bool paused) override
    {
        if (!reader_) {
            return;
        }
        if (paused) {
            reader_->pause();
        } else {
            reader_->resume();
        }
    }

    void restore_flags_at_close(int fd, int flags)
    {
        restore_fd_ = fd;
        restore_flags_ = flags;
    }
    void set_terminal(std::unique_ptr<TerminalGuard> guard) { terminal_ = std::move(guard); }
    void set_reader(std::shared_ptr<FdReader> reader) { reader_ = std::move(reader); }

private:
    std::shared_ptr<StreamSink> sink_;
    std::shared_ptr<FdReader> reader_;
    std::unique_ptr<TerminalGuard> terminal_;
    int restore_fd_ = -1;
    int restore_flags_ = 0;
};

Result<> start_stdin(boost::asio::io_context& io, const ConsoleSpec& spec, const ConsoleCallbacks& callbacks,
    StreamConsole& console)
{
    const bool tty = ::isatty(STDIN_FILENO) == 1;
    // A terminal is ours only in the foreground: changing its mode or reading it from a
    // background job would stop the VMM with SIGTTOU or SIGTTIN.
    const bool foreground = tty && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp();
    if (tty && !foreground) {
        spdlog::info("console: the VMM runs in the background; terminal input is off");
        return {};
    }
    if (!tty && !spec.read_stdin_when_not_tty) {
        return {}; // CI: stdin is /dev/null or a pipe nobody writes to
    }
    int shared_flags = -1;
    auto fd = VMM_TRY(own_descriptor(STDIN_FILENO, O_RDONLY, &shared_flags));
    if (shared_flags >= 0) {
        console.restore_flags_at_close(STDIN_FILENO, shared_flags);
    }
    auto on_input = callbacks.on_input;
    FdReader::DataHandler on_data;
    if (tty) {
        console.set_terminal(VMM_TRY(TerminalGuard::enter_raw(STDIN_FILENO)));
        auto filter = std::make_shared<EscapeFilter>();
        on_data = [filter, on_input, on_quit = callbacks.on_quit](std::span<const std::byte> data) {
            std::vector<std::byte> out;
            const bool quit = filter->feed(data, out);
            if (!out.empty() && on_input) {
                on_input(out);
            }
            if (quit) {
                spdlog::info("console: Ctrl-A x typed, quitting");
                if (on_quit) {
                    on_quit();
                }
            }
        };
    } else {
        on_data = [on_input](std::span<const std::byte> data) {
            if (on_input) {
                on_input(data);
            }
        };
    }
    // End of input only ends the input: the guest keeps running (and its output flowing).
    console.set_reader(FdReader::start(
        io, std::move(fd), std::move(on_data), [] { spdlog::debug("console: end of input on stdin"); }));
    return {};
}

Result<std::unique_ptr<Console>> open_stdio(
    boost::asio::io_context& io, const ConsoleSpec& spec, const ConsoleCallbacks& callbacks)
{
    int shared_flags = -1;
    auto out = VMM_TRY(own_descriptor(STDOUT_FILENO, O_WRONLY, &shared_flags));
    ignore_sigpipe();
    auto sink = StreamSink::create(io, StreamSink::Options { .name = "console stdout" });
    sink->attach(std::move(out));
    auto console = std::make_unique<StreamConsole>(std::move(sink));
    if (shared_flags >= 0) {
        console->restore_flags_at_close(STDOUT_FILENO, shared_flags);
    }
    VMM_TRY(start_stdin(io, spec, callbacks, *console));
    return std::unique_ptr<Console>(std::move(console));
}

Result<std::unique_ptr<Console>> open_file(boost::asio::io_context& io, const std::filesystem::path& path)
{
    if (path.empty()) {
        return fail(Errc::invalid_argument, "the file console needs a path");
    }
    // O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of hanging the VMM
    // at start-up, and one whose reader stalls queues instead of blocking a vCPU. A regular
    // file ignores it.
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0666));
    if (!fd) {
        return fail_errno(errno, "cannot open console file {}", path.native());
    }
    ignore_sigpipe();
    auto sink = StreamSink::create(io, StreamSink::Options { .name = "console file " + path.native() });
    sink->attach(std::move(fd));
    return std::unique_ptr<Console>(std::make_unique<StreamConsole>(std::move(sink)));
}

} // namespace

Result<std::unique_ptr<Console>> open_console(
    boost::asio::io_context& io, const ConsoleSpec& spec, ConsoleCallbacks callbacks)
{
    switch (spec.mode) {
    case ConsoleSpec::Mode::stdio:
        return open_stdio(io, spec, callbacks);
    case ConsoleSpec::Mode::file:
        return open_file(io, spec.path);
    case ConsoleSpec::Mode::socket:
        return open_socket_console(io, spec.path, std::move(callbacks));
    case ConsoleSpec::Mode::pty:
        return open_pty_console(io, std::move(callbacks));
    case ConsoleSpec::Mode::off:
        return std::unique_ptr<Console>(std::make_unique<OffConsole>());
    }
    return fail(Errc::invalid_argument, "unknown console mode {}", static_cast<int>(spec.mode));
}

} // namespace vmm
