// SPDX-License-Identifier: Apache-2.0
// The guest console's host side: where output goes and where input comes from.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>

#include <boost/asio/io_context.hpp>

#include "vmm/base/result.hpp"
#include "vmm/console/char_sink.hpp"

namespace vmm {

// Which backend, and its path. (vmm::config::ConsoleConfig says the same for the user; the
// VM maps one onto the other.)
//
//   stdio   Output to stdout. When stdin is the foreground process's terminal, it is put in
//           raw mode and read, with the escapes Ctrl-A x (quit) and Ctrl-A Ctrl-A (send a
//           Ctrl-A); see escape.hpp and terminal.hpp. When stdin is not a terminal (CI, a
//           pipe, /dev/null) it is not read at all unless read_stdin_when_not_tty is set,
//           and then without escapes; end of file on it only ends the input.
//   file    Output to `path`, created if missing and truncated (mode 0666 less the umask,
//           O_CLOEXEC, O_NOCTTY; like a shell's `>`). No input. A FIFO at `path` must
//           already have a reader.
//   socket  A Unix stream socket server at `path`. One client at a time: it receives the
//           latest SOCKET_BACKLOG bytes of output written while nobody was connected, then
//           live output; what it sends goes to the guest. Further clients are refused
//           while one is connected. A socket file left by an earlier run is replaced only if
//           nothing accepts connections on it; the file is removed when the console closes.
//   pty     A new pseudo-terminal; a terminal program (screen, minicom, picocom) opens its
//           slave side, whose path pty_path() gives and which is logged at info level. The
//           VMM keeps the slave open itself, in raw mode, so programs may come and go
//           without the console seeing a hang-up; output waits in the pty (and then in the
//           sink, bounded) while nobody reads it.
//   off     Output discarded, no input.
//
// Output never blocks a vCPU: see StreamSink (at most DEFAULT_LIMIT bytes wait for a slow
// reader; the excess is dropped and counted).
struct ConsoleSpec {
    enum class Mode { stdio, file, socket, pty, off };
    Mode mode = Mode::stdio;
    std::filesystem::path path;
    bool read_stdin_when_not_tty = false;
};

// Called on the loop thread.
struct ConsoleCallbacks {
    std::function<void(std::span<const std::byte>)> on_input; // bytes for the guest
    std::function<void()> on_quit;                            // Ctrl-A x on the terminal
    std::function<void(bool)> on_connection;                  // a socket client came (true) or went
};

class Console {
public:
    static constexpr std::size_t SOCKET_BACKLOG = 64 * 1024;
    static constexpr std::chrono::milliseconds CLOSE_TIMEOUT { 500 };

    // Closing gives pending output up to CLOSE_TIMEOUT to drain, restores the terminal and
    // removes a socket file. Destroy on the loop thread, before the io_context.
    virtual ~Console() = default;

    // The output side, for the UART and later virtio-console; stays valid (discarding)
    // after the console is destroyed.
    [[nodiscard]] virtual std::shared_ptr<CharSink> sink() const = 0;
    // Output bytes dropped so far (slow reader, backlog overflow, after close).
    [[nodiscard]] virtual std::uint64_t dropped_output() const = 0;

    // Whether someone is there on the host side: a socket console's client; always for
    // stdio, file and pty; never for off. Loop thread.
    [[nodiscard]] virtual bool connected() const { return true; }
    // Holds back (true) or resumes on_input, for a guest with no room for more input; the
    // bytes wait in the host's socket, pipe or terminal buffer meanwhile (FdReader::pause).
    // Loop thread.
    virtual void set_input_paused(bool paused) { (void)paused; }
    // The slave side of a pty console, for the user to open; empty for other modes.
    [[nodiscard]] virtual std::filesystem::path pty_path() const { return {}; }
};

// Opens the backend. Errors name the path and what went wrong (cannot create the file, socket
// path too long, address in use by a live server).
[[nodiscard]] Result<std::unique_ptr<Console>> open_console(
    boost::asio::io_context& io, const ConsoleSpec& spec, ConsoleCallbacks callbacks);

} // namespace vmm
