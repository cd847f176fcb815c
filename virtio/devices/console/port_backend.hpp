// SPDX-License-Identifier: Apache-2.0
// PortBackend: the host side of one virtio-console port.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>

namespace vmm::virtio {

// Injected into ConsoleDevice, one per port, so that tests can use in-memory fakes; the real
// ones wrap vmm/console's backends (see host_backend.hpp).
//
// Threads: start(), set_input_paused(), connected() and the events run on the loop thread.
// write() may also come from a vCPU thread (the emergency-write register) and must be safe
// against concurrent calls; it never blocks.
class PortBackend {
public:
    struct Events {
        // Bytes from the host for the guest. Not called while input is paused.
        std::function<void(std::span<const std::byte>)> on_input;
        // Someone attached to (true) or left (false) the host side, e.g. a socket client.
        std::function<void(bool)> on_connection;
    };

    PortBackend() = default;
    PortBackend(const PortBackend&) = delete;
    PortBackend& operator=(const PortBackend&) = delete;
    virtual ~PortBackend() = default; // no event is delivered once destruction starts

    // Begins delivering events; called once, by the device's constructor.
    virtual void start(Events events) = 0;
    // Guest output. Bounded and non-blocking: a slow consumer costs dropped bytes, not a
    // stalled guest (StreamSink).
    virtual void write(std::span<const std::byte> data) noexcept = 0;
    // The guest has no room for input: hold it back (true) until resumed (false). Input then
    // waits on the host side (in the socket or terminal buffer), never in the VMM.
    virtual void set_input_paused(bool paused) noexcept = 0;
    // Whether the host side is open, as the guest learns through PORT_OPEN.
    [[nodiscard]] virtual bool connected() const noexcept = 0;
    // The slave path of a pty backend, empty for the others.
    [[nodiscard]] virtual std::filesystem::path pty_path() const { return {}; }
};

} // namespace vmm::virtio
