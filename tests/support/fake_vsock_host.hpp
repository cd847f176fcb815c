// SPDX-License-Identifier: Apache-2.0
// FakeVsockHost: a VsockHost whose host programs are socketpairs a test or fuzz target holds.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "virtio/devices/vsock/vsock_host.hpp"

namespace vmm::virtio::test {

using vsock::HostRequest;
using vsock::SocketType;

inline constexpr std::uint64_t GUEST_CID = 3;

// Host ports in `listening` accept guest connections; the host program's end of each is kept
// in `programs` (non-blocking), newest last.
class FakeVsockHost final : public vsock::VsockHost {
public:
    [[nodiscard]] Result<UniqueFd> connect(std::uint32_t port, SocketType type) override
    {
        ++connects;
        if (!listening.contains(port)) {
            return fail_errno(ECONNREFUSED, "nothing listens on {}", port);
        }
        int fds[2] = { -1, -1 };
        const int kind = type == SocketType::stream ? SOCK_STREAM : SOCK_SEQPACKET;
        if (::socketpair(AF_UNIX, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
            return fail_errno(errno, "socketpair");
        }
        if (small_buffers) {
            const int size = 4096;
            (void)::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
            (void)::setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        }
        programs[port].emplace_back(fds[1]);
        return UniqueFd(fds[0]);
    }
    [[nodiscard]] Result<> start(std::function<void(HostRequest)> cb) override
    {
        request = std::move(cb);
        return {};
    }
    void stop() noexcept override { request = nullptr; }
    [[nodiscard]] std::string ok_line(std::uint32_t host_port) const override
    {
        return "OK " + std::to_string(host_port) + "\n";
    }
    [[nodiscard]] std::string describe() const override { return "fake"; }
    [[nodiscard]] nlohmann::json status() const override { return { { "fake", true } }; }

    // A host program asks for guest port `port`: its end of the new socket.
    // Invalid when no socket could be made or the device is not taking requests.
    UniqueFd ask(std::uint32_t port, SocketType type = SocketType::stream)
    {
        int fds[2] = { -1, -1 };
        const int kind = type == SocketType::stream ? SOCK_STREAM : SOCK_SEQPACKET;
        if (!request || ::socketpair(AF_UNIX, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
            return {};
        }
        request(HostRequest { port, type, UniqueFd(fds[0]) });
        return UniqueFd(fds[1]);
    }

    std::set<std::uint32_t> listening;
    std::map<std::uint32_t, std::vector<UniqueFd>> programs;
    std::function<void(HostRequest)> request;
    bool small_buffers = false;
    int connects = 0;
};

} // namespace vmm::virtio::test
