// SPDX-License-Identifier: Apache-2.0
// UnixHost: virtio-vsock's host end on Unix sockets, in the convention host tools already use
// with other VMMs.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "virtio/devices/vsock/vsock_host.hpp"

namespace vmm::virtio::vsock {

struct UnixHostOptions {
    // The listening socket host programs connect to (SOCK_STREAM). A guest connection to host
    // port P goes to the socket `<path>_<P>`, which a host program listens on.
    std::filesystem::path path;
    // With SEQPACKET: a second listener, `<path>_seqpacket`, for SOCK_SEQPACKET clients.
    bool seqpacket = false;
    // Clients that have connected but not yet sent their whole request line; more wait in the
    // kernel's backlog. A client gets HANDSHAKE_TIMEOUT to send it.
    std::size_t max_pending = 64;
};

// The request protocol: a client connects to `path`, sends `CONNECT <port>\n` (decimal guest
// port; on a SEQPACKET socket one message, the newline optional) and, once the guest accepts,
// reads `OK <host port>\n`; from then on the socket carries the connection. A refused or
// malformed request closes the socket. Bytes the client sends after its request line wait in
// the socket until the connection is up: nothing is read beyond the newline.
class UnixHost final : public VsockHost {
public:
    static constexpr std::chrono::seconds HANDSHAKE_TIMEOUT { 10 };
    static constexpr std::size_t MAX_REQUEST_LINE = 64;

    // Binds and listens on the path(s). A stale socket file (nothing listening) is replaced;
    // one a live program listens on, or any other file, is an error.
    [[nodiscard]] static Result<std::unique_ptr<UnixHost>> create(boost::asio::io_context& io, UnixHostOptions options);
    ~UnixHost() override;

    [[nodiscard]] Result<UniqueFd> connect(std::uint32_t port, SocketType type) override;
    [[nodiscard]] Result<> start(std::function<void(HostRequest)> request) override;
    void stop() noexcept override;
    [[nodiscard]] std::string ok_line(std::uint32_t host_port) const override;
    [[nodiscard]] std::string describe() const override;
    [[nodiscard]] nlohmann::json status() const override;

    // The socket path a guest connection to `port` goes to.
    [[nodiscard]] std::filesystem::path port_path(std::uint32_t port) const;
    [[nodiscard]] std::filesystem::path seqpacket_path() const;

    struct State;

private:
    explicit UnixHost(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
};

// "CONNECT 1234\n" -> 1234; anything else is refused. For tests and the fuzz target.
[[nodiscard]] Result<std::uint32_t> parse_connect_line(std::string_view line);

} // namespace vmm::virtio::vsock
