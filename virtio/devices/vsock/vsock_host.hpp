// SPDX-License-Identifier: Apache-2.0
// VsockHost: the host end of virtio-vsock, as the device model sees it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "vmm/base/result.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm::virtio::vsock {

enum class SocketType : std::uint8_t { stream, seqpacket };

[[nodiscard]] constexpr const char* to_string(SocketType t) noexcept
{
    return t == SocketType::stream ? "stream" : "seqpacket";
}

// A host program that asked for a guest port and is waiting for the guest's answer. `fd` is
// its connected, non-blocking socket (SOCK_STREAM or SOCK_SEQPACKET as `type`) with the
// request already read from it: what follows is the connection's payload. The device writes
// `ok_line(host_port)` to it once the guest accepts, and closes it if the guest refuses.
struct HostRequest {
    std::uint32_t guest_port = 0;
    SocketType type = SocketType::stream;
    UniqueFd fd;
};

// Where connections between the guest and host programs come from and go to. Loop thread only.
class VsockHost {
public:
    VsockHost() = default;
    VsockHost(const VsockHost&) = delete;
    VsockHost& operator=(const VsockHost&) = delete;
    virtual ~VsockHost() = default;

    // The guest connects to host port `port`: a connected, non-blocking socket of `type`, or an
    // error (the guest gets RST). Never blocks.
    [[nodiscard]] virtual Result<UniqueFd> connect(std::uint32_t port, SocketType type) = 0;

    // Starts taking host programs' requests for guest ports; each one is handed to `request`
    // on the loop thread. Idempotent while running.
    [[nodiscard]] virtual Result<> start(std::function<void(HostRequest)> request) = 0;
    // Stops taking requests and drops the ones half read (device reset, VM stop).
    virtual void stop() noexcept = 0;

    // What is written to a host program once the guest accepted its request.
    [[nodiscard]] virtual std::string ok_line(std::uint32_t host_port) const = 0;

    [[nodiscard]] virtual std::string describe() const = 0;
    [[nodiscard]] virtual nlohmann::json status() const = 0;
};

} // namespace vmm::virtio::vsock
