// SPDX-License-Identifier: Apache-2.0
// ConsoleRig: a ConsoleDevice with in-memory port backends and a driver-side control protocol.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/device_rig.hpp"
#include "virtio/devices/console/console.hpp"
#include "virtio/spec/console.hpp"

namespace vmm::virtio::test {

// The host side of a fake port. Input the test "types" waits here, as it would in a socket
// buffer, and pump() hands it to the device in reads of at most `chunk` bytes while the device
// has not paused it.
struct FakeHost {
    std::string output;
    bool paused = false;
    bool connected = true;
    std::string typed;
    std::filesystem::path pty;
    PortBackend::Events events;
    std::mutex mutex; // write() may come from a vCPU thread

    void type(std::string_view text, std::size_t chunk = 4096)
    {
        typed += text;
        pump(chunk);
    }
    void pump(std::size_t chunk = 4096)
    {
        while (!paused && !typed.empty()) {
            const std::string part = typed.substr(0, std::min(chunk, typed.size()));
            typed.erase(0, part.size());
            events.on_input(std::as_bytes(std::span(part)));
        }
    }
    void set_connected(bool c)
    {
        connected = c;
        events.on_connection(c);
    }
};

class FakePort final : public PortBackend {
public:
    explicit FakePort(std::shared_ptr<FakeHost> host)
        : host_(std::move(host))
    {
    }

    void start(Events events) override { host_->events = std::move(events); }
    void write(std::span<const std::byte> data) noexcept override
    {
        const std::lock_guard lock(host_->mutex);
        for (const std::byte b : data) {
            host_->output.push_back(static_cast<char>(b));
        }
    }
    void set_input_paused(bool paused) noexcept override { host_->paused = paused; }
    [[nodiscard]] bool connected() const noexcept override { return host_->connected; }
    [[nodiscard]] std::filesystem::path pty_path() const override { return host_->pty; }

private:
    std::shared_ptr<FakeHost> host_;
};

// A control message as the driver receives it.
struct ControlMessage {
    std::uint32_t id = 0;
    std::uint16_t event = 0;
    std::uint16_t value = 0;
    std::string payload;

    bool operator==(const ControlMessage&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const ControlMessage& m)
{
    return os << "{id " << m.id << ", event " << m.event << ", value " << m.value << ", \"" << m.payload
              << "\"}";
}

inline constexpr std::uint64_t MULTIPORT = feature_bit(VIRTIO_CONSOLE_F_MULTIPORT);
inline constexpr std::uint32_t BAD_ID = 0xffffffff; // what Linux puts in DEVICE_READY

struct PortSetup {
    std::string name;
    bool connected = true;
};

inline ConsoleOptions console_options(
    const std::vector<PortSetup>& ports, std::vector<std::shared_ptr<FakeHost>>& hosts)
{
    ConsoleOptions o;
    for (const PortSetup& p : ports) {
        auto host = std::make_shared<FakeHost>();
        host->connected = p.connected;
        hosts.push_back(host);
        o.ports.push_back(ConsolePortSpec { p.name, std::make_unique<FakePort>(host) });
    }
    return o;
}

template <class Driver>
struct ConsoleRig {
    explicit ConsoleRig(
        std::vector<PortSetup> ports = { {}, { "org.vireo.test" } }, void (*tweak)(ConsoleOptions&) = nullptr)
        : device(options(ports, tweak))
    {
    }

    ConsoleOptions options(const std::vector<PortSetup>& ports, void (*tweak)(ConsoleOptions&))
    {
        ConsoleOptions o = console_options(ports, hosts);
        if (tweak != nullptr) {
            tweak(o);
        }
        return o;
    }

    FakeHost& host(std::size_t port) { return *hosts.at(port); }

    // ---- driver side: data queues --------------------------------------------------------------
    static std::uint16_t rx_queue(std::uint32_t port)
    {
        return static_cast<std::uint16_t>(console_rx_queue(port));
    }
    static std::uint16_t tx_queue(std::uint32_t port)
    {
        return static_cast<std::uint16_t>(console_tx_queue(port));
    }

    // Posts a receive buffer of `len` bytes and notifies.
    std::uint64_t post_rx(std::uint32_t port, std::uint32_t len, bool kick = true)
    {
        const std::uint64_t at = rig.buffer(len);
        buffers[rx_queue(port)][rig.queue(rx_queue(port)).add({ writable(at, len) })] = at;
        if (kick) {
            rig.kick(rx_queue(port));
        }
        return at;
    }
    // What the device put into the port's receive buffers since the last call.
    std::string received(std::uint32_t port) { return drain_used(rx_queue(port)); }

    // Sends `text` on the port's transmit queue; returns the used length.
    std::optional<std::uint32_t> transmit(std::uint32_t port, std::string_view text)
    {
        rig.queue(tx_queue(port))
            .add({ readable(rig.buffer_with(text), static_cast<std::uint32_t>(text.size())) });
        rig.kick(tx_queue(port));
        const auto used = rig.queue(tx_queue(port)).pop_used();
        return used ? std::optional(used->len) : std::nullopt;
    }

    // ---- driver side: control queues -----------------------------------------------------------
    void post_control_buffers(std::size_t count, std::uint32_t len = 64)
    {
        for (std::size_t i = 0; i < count; ++i) {
            const std::uint64_t at = rig.buffer(len);
            buffers[VIRTIO_CONSOLE_CONTROL_RX_QUEUE]
                   [rig.queue(VIRTIO_CONSOLE_CONTROL_RX_QUEUE).add({ writable(at, len) })]
                = at;
        }
        rig.kick(VIRTIO_CONSOLE_CONTROL_RX_QUEUE);
    }

    // The driver sends a control message; returns the used length of its buffer.
    std::optional<std::uint32_t> send_raw(std::span<const std::byte> bytes)
    {
        const std::uint64_t at = rig.buffer(bytes.size());
        rig.guest.write(at, bytes);
        rig.queue(VIRTIO_CONSOLE_CONTROL_TX_QUEUE)
            .add({ readable(at, static_cast<std::uint32_t>(bytes.size())) });
        rig.kick(VIRTIO_CONSOLE_CONTROL_TX_QUEUE);
        const auto used = rig.queue(VIRTIO_CONSOLE_CONTROL_TX_QUEUE).pop_used();
        return used ? std::optional(used->len) : std::nullopt;
    }
    std::optional<std::uint32_t> send(std::uint32_t id, std::uint16_t event, std::uint16_t value)
    {
        VirtioConsoleControl m;
        m.id.set(id);
        m.event.set(event);
        m.value.set(value);
        return send_raw(std::as_bytes(std::span(&m, 1)));
    }

    // Control messages the device sent since the last call.
    std::vector<ControlMessage> control()
    {
        std::vector<ControlMessage> out;
        auto& q = rig.queue(VIRTIO_CONSOLE_CONTROL_RX_QUEUE);
        while (auto used = q.pop_used()) {
            const std::uint64_t at
                = buffers[VIRTIO_CONSOLE_CONTROL_RX_QUEUE].at(static_cast<std::uint16_t>(used->id));
            if (used->len < sizeof(VirtioConsoleControl)) {
                out.push_back(ControlMessage { BAD_ID, 0xffff, 0xffff, "<empty>" });
                continue;
            }
            const auto m = rig.guest.template read_obj<VirtioConsoleControl>(at);
            out.push_back(ControlMessage { m.id.get(), m.event.get(), m.value.get(),
                rig.read_text(at + sizeof(m), used->len - sizeof(m)) });
        }
        return out;
    }

    // DRIVER_OK with MULTIPORT, DEVICE_READY, then PORT_READY and PORT_OPEN 1 for every port, as
    // Linux does; the messages on the way are consumed.
    void handshake(std::uint64_t extra_features = 0)
    {
        rig.start(MULTIPORT | extra_features);
        post_control_buffers(16);
        REQUIRE(send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1));
        for (std::uint32_t k = 0; k < hosts.size(); ++k) {
            REQUIRE(send(k, VIRTIO_CONSOLE_PORT_READY, 1));
            REQUIRE(send(k, VIRTIO_CONSOLE_PORT_OPEN, 1));
        }
        (void)control();
    }

    std::vector<std::shared_ptr<FakeHost>> hosts;
    ConsoleDevice device;
    DeviceRig<Driver> rig { device };
    // Per queue: buffer id -> guest address.
    std::map<std::uint16_t, std::map<std::uint16_t, std::uint64_t>> buffers;

private:
    std::string drain_used(std::uint16_t queue)
    {
        std::string s;
        while (auto used = rig.queue(queue).pop_used()) {
            s += rig.read_text(buffers[queue].at(static_cast<std::uint16_t>(used->id)), used->len);
        }
        return s;
    }
};

inline ControlMessage msg(
    std::uint32_t id, std::uint16_t event, std::uint16_t value, std::string payload = {})
{
    return ControlMessage { id, event, value, std::move(payload) };
}

// The RESIZE payload as Linux reads it: rows, then cols.
inline std::string resize_payload(std::uint16_t cols, std::uint16_t rows)
{
    VirtioConsoleResize r;
    r.rows.set(rows);
    r.cols.set(cols);
    std::string s(sizeof(r), '\0');
    std::memcpy(s.data(), &r, sizeof(r));
    return s;
}

} // namespace vmm::virtio::test
