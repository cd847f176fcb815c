// SPDX-License-Identifier: Apache-2.0
// ConsoleDevice: virtio-console (virtio 1.2 §5.3) with multiple named ports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "virtio/device_base.hpp"
#include "virtio/devices/console/port_backend.hpp"
#include "vmm/console/byte_ring.hpp"

namespace vmm::virtio {

// One port as the VMM configures it.
struct ConsolePortSpec {
    std::string name; // PORT_NAME, shown in /sys/class/virtio-ports/vportNpM/name; empty: none
    std::unique_ptr<PortBackend> backend;
};

struct ConsoleOptions {
    std::vector<ConsolePortSpec> ports; // port 0 first; 1 to ConsoleDevice::MAX_PORTS
    bool console_port = true;           // port 0 is a console port (hvc0)
    std::uint16_t cols = 80;            // port 0's size (VIRTIO_CONSOLE_F_SIZE)
    std::uint16_t rows = 25;
    bool emergency_write = true; // offer VIRTIO_CONSOLE_F_EMERG_WRITE
};

// Offers VIRTIO_CONSOLE_F_SIZE and VIRTIO_CONSOLE_F_MULTIPORT always (max_nr_ports = number
// of ports), EMERG_WRITE on request. A driver without MULTIPORT gets port 0 as its console.
//
// With MULTIPORT (virtio 1.2 §5.3.6.2), after the driver's DEVICE_READY the device announces
// each port with DEVICE_ADD; on the driver's PORT_READY it sends CONSOLE_PORT and a RESIZE
// (port 0, if a console port), PORT_NAME (if named) and PORT_OPEN (if the host side is open).
// Host-side opens and closes become PORT_OPEN messages. Messages wait, in order, for control
// receive buffers; each port has at most one PORT_OPEN and one RESIZE waiting (a newer one
// replaces the older), so the backlog is bounded by the number of ports.
//
// Input (host -> guest) goes into the port's receive buffers once the guest has the port
// open. When there is no room, the device keeps the rest (at most one backend read, bounded
// by MAX_PENDING_INPUT) and pauses the backend; it resumes once buffers arrive and the rest
// has gone out. Nothing is dropped unless a backend ignores the pause. Pending input
// survives a device reset and reaches the guest once it has set the port up again.
//
// Output (guest -> host) is handed to the backend straight from guest memory.
//
// Every message from the guest is checked: a short one, an unknown event, a port that does
// not exist or is not set up yet, or an event only the device may send is ignored with a
// rate-limited log line.
class ConsoleDevice final : public DeviceBase {
public:
    static constexpr std::uint16_t QUEUE_SIZE = 256;
    static constexpr std::uint32_t MAX_PORTS = 16;
    static constexpr std::size_t MAX_PENDING_INPUT = 64 * 1024;
    static constexpr std::size_t MAX_NAME = 255;

    explicit ConsoleDevice(ConsoleOptions options);
    ~ConsoleDevice() override;
    ConsoleDevice(const ConsoleDevice&) = delete;
    ConsoleDevice& operator=(const ConsoleDevice&) = delete;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;

    // Host side, loop thread. A new size for port 0: the configuration space changes (with a
    // configuration change notification) and, with MULTIPORT, a RESIZE message goes out.
    void resize(std::uint16_t cols, std::uint16_t rows);

    [[nodiscard]] std::size_t port_count() const noexcept { return ports_.size(); }
    // The pty a user opens for this port, for the VM's API; empty unless its backend is a pty.
    [[nodiscard]] std::filesystem::path pty_path(std::size_t port) const;
    // Input bytes held for the guest, and input dropped because a backend ignored the pause.
    [[nodiscard]] std::size_t pending_input(std::size_t port) const noexcept;
    [[nodiscard]] std::uint64_t dropped_input(std::size_t port) const noexcept;
    // Control messages waiting for control receive buffers.
    [[nodiscard]] std::size_t pending_control() const noexcept { return outbox_.size(); }

private:
    struct Port {
        std::string name;
        std::unique_ptr<PortBackend> backend;
        std::optional<Queue> rx;
        std::optional<Queue> tx;
        ByteRing input { MAX_PENDING_INPUT };
        bool input_paused = false;
        std::uint64_t dropped_input = 0;
        // Guest-side state, reset with the device.
        bool added = false;      // DEVICE_ADD sent
        bool ready = false;      // the driver's PORT_READY arrived
        bool guest_open = false; // the driver's last PORT_OPEN value
    };
    struct Message {
        std::uint32_t port = 0;
        std::uint16_t event = 0;
        std::uint16_t value = 0;
    };

    bool on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept override;
    // Queues and everything the driver told the device; pending input stays.
    void drop_guest_state() noexcept;

    void on_input(std::size_t port, std::span<const std::byte> data) noexcept;
    void on_connection(std::size_t port, bool connected) noexcept;

    [[nodiscard]] bool can_deliver(const Port& p) const noexcept;
    std::size_t deliver(Port& p, std::span<const std::byte> data) noexcept;
    void flush_input(Port& p) noexcept;
    void update_pause(Port& p) noexcept;
    void transmit(Port& p) noexcept;

    void handle_control() noexcept;
    void handle_control_message(Reader& reader) noexcept;
    void on_device_ready(std::uint16_t value) noexcept;
    void on_port_ready(std::uint32_t id, std::uint16_t value) noexcept;
    void on_port_open(std::uint32_t id, std::uint16_t value) noexcept;
    // Queues a message; PORT_OPEN and RESIZE replace one still waiting for the same port.
    void send(std::uint32_t port, std::uint16_t event, std::uint16_t value) noexcept;
    void flush_control() noexcept;
    void write_message(const Message& m, Writer& w) const noexcept;

    std::vector<Port> ports_;
    bool console_port_;
    bool emergency_write_;
    std::uint16_t cols_;
    std::uint16_t rows_;

    bool active_ = false;
    bool multiport_ = false;          // negotiated
    bool device_ready_ = false;       // the driver's DEVICE_READY arrived
    std::optional<Queue> control_rx_; // c_ivq: device -> driver
    std::optional<Queue> control_tx_; // c_ovq: driver -> device
    std::deque<Message> outbox_;
};

} // namespace vmm::virtio
