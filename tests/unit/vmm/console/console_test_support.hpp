// SPDX-License-Identifier: Apache-2.0
// Helpers for the console tests: pipes, temporary directories, and running the loop a while.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/io_context.hpp>

#include "vmm/base/unique_fd.hpp"

namespace vmm::test {

inline std::span<const std::byte> bytes(std::string_view s)
{
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// A pipe with a non-blocking, close-on-exec pair of ends.
struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;

    explicit Pipe(int capacity = 0)
    {
        std::array<int, 2> fds {};
        if (::pipe2(fds.data(), O_NONBLOCK | O_CLOEXEC) == 0) {
            read_end.reset(fds[0]);
            write_end.reset(fds[1]);
        }
        if (capacity > 0) {
            (void)::fcntl(write_end.get(), F_SETPIPE_SZ, capacity);
        }
    }
};

// Everything readable now, without waiting.
inline std::string read_available(int fd)
{
    std::string s;
    std::array<char, 4096> buf {};
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        const ssize_t m = n < 0 && errno == ENOTSOCK ? ::read(fd, buf.data(), buf.size()) : n;
        if (m <= 0) {
            return s;
        }
        s.append(buf.data(), static_cast<std::size_t>(m));
    }
}

// Runs the loop in short slices until pred() holds or the timeout passes.
template<class Pred>
bool run_until(
    boost::asio::io_context& io, Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5))
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        io.restart();
        io.run_for(std::chrono::milliseconds(5));
    }
    return true;
}

inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d)
{
    io.restart();
    io.run_for(d);
}

struct TempDir {
    std::filesystem::path path;

    TempDir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "vireo-console-XXXXXX").native();
        if (::mkdtemp(tmpl.data()) != nullptr) {
            path = tmpl;
        }
    }
    ~TempDir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

// A blocking client connection to a Unix socket, made non-blocking once connected.
inline UniqueFd connect_unix(const std::filesystem::path& path)
{
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    // Safety: sockaddr_un is a sockaddr for AF_UNIX, as connect(2) requires.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        return {};
    }
    (void)::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
    return fd;
}

} // namespace vmm::test
