// SPDX-License-Identifier: Apache-2.0
// The pty console: a pseudo-terminal whose slave side a terminal program opens.
#include "vmm/console/pty_console.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <filesystem>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "vmm/base/unique_fd.hpp"
#include "vmm/console/fd_reader.hpp"
#include "vmm/console/stream_sink.hpp"

namespace vmm {

namespace {

class PtyConsole final : public Console {
public:
    PtyConsole(std::shared_ptr<StreamSink> sink, std::shared_ptr<FdReader> reader, UniqueFd slave,
        std::filesystem::path path)
        : sink_(std::move(sink))
        , reader_(std::move(reader))
        , slave_(std::move(slave))
        , path_(std::move(path))
    {
    }

    ~PtyConsole() override
    {
        reader_->stop();
        sink_->close(CLOSE_TIMEOUT);
    }

    PtyConsole(const PtyConsole&) = delete;
    PtyConsole& operator=(const PtyConsole&) = delete;

    [[nodiscard]] std::shared_ptr<CharSink> sink() const override { return sink_; }
    [[nodiscard]] std::uint64_t dropped_output() const override { return sink_->dropped(); }
    [[nodiscard]] std::filesystem::path pty_path() const override { return path_; }
    void set_input_paused(bool paused) override
    {
        if (paused) {
            reader_->pause();
        } else {
            reader_->resume();
        }
    }

private:
    std::shared_ptr<StreamSink> sink_;
    std::shared_ptr<FdReader> reader_;
    // Held open so that the master never reads EIO when the user's program closes the slave.
    UniqueFd slave_;
    std::filesystem::path path_;
};

} // namespace

Result<std::unique_ptr<Console>> open_pty_console(boost::asio::io_context& io, ConsoleCallbacks callbacks)
{
    UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) {
        return fail_errno(errno, "cannot create a pty console");
    }
    if (::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0) {
        return fail_errno(errno, "cannot unlock the pty console");
    }
    std::array<char, 128> name {};
    if (::ptsname_r(master.get(), name.data(), name.size()) != 0) {
        return fail_errno(errno, "cannot name the pty console's slave side");
    }
    const std::filesystem::path path(name.data());
    UniqueFd slave(::open(name.data(), O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) {
        return fail_errno(errno, "cannot open the pty console's slave side {}", path.native());
    }
    // Raw mode: the guest's bytes must reach the user's program unchanged, and without
    // ECHO the line discipline would hand the guest's own output back to it as input.
    termios t {};
    if (::tcgetattr(slave.get(), &t) != 0) {
        return fail_errno(errno, "cannot read the terminal settings of {}", path.native());
    }
    ::cfmakeraw(&t);
    if (::tcsetattr(slave.get(), TCSANOW, &t) != 0) {
        return fail_errno(errno, "cannot put {} into raw mode", path.native());
    }
    const int flags = ::fcntl(master.get(), F_GETFL);
    if (flags < 0 || ::fcntl(master.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
        return fail_errno(errno, "cannot make the pty console non-blocking");
    }
    // Separate descriptors for the sink (written from vCPU threads) and the reader (loop).
    UniqueFd out(::fcntl(master.get(), F_DUPFD_CLOEXEC, 0));
    if (!out) {
        return fail_errno(errno, "cannot duplicate the pty console's descriptor");
    }
    auto sink = StreamSink::create(io,
        StreamSink::Options {
            .limit = StreamSink::DEFAULT_LIMIT, .backlog = 0, .name = "console pty " + path.native() });
    sink->attach(std::move(out));
    auto reader = FdReader::start(
        io, std::move(master),
        [on_input = std::move(callbacks.on_input)](std::span<const std::byte> data) {
            if (on_input) {
                on_input(data);
            }
        },
        [path] { spdlog::debug("console pty {}: input ended", path.native()); });
    spdlog::info("console: pty {} is ready for a terminal program", path.native());
    return std::unique_ptr<Console>(
        std::make_unique<PtyConsole>(std::move(sink), std::move(reader), std::move(slave), path));
}

} // namespace vmm
