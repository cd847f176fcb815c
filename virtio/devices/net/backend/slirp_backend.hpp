// SPDX-License-Identifier: Apache-2.0
// SlirpBackend: the `user` network back end, libslirp's TCP/IP stack driven by the event loop.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "virtio/devices/net/backend/user_options.hpp"
#include "virtio/devices/net/net_backend.hpp"

namespace vmm::virtio::net {

using MacAddress = std::array<std::uint8_t, 6>;

// The guest talks to a network of its own (10.0.2.0/24 by default) whose gateway, DHCP and DNS
// server are libslirp, which turns the guest's TCP and UDP flows into sockets of this process.
// No privileges, no host interface. One queue, plain frames (no virtio-net header): the device
// completes checksums and segments large frames before send().
//
// Frames libslirp emits wait in a bounded FIFO until receive() takes them; when it is full, new
// frames are dropped and counted (TCP retransmits). libslirp's sockets and timers run on the
// given io_context. Loop thread only.
class SlirpBackend final : public NetBackend {
public:
    // At most this many frames, and this many bytes, wait for the guest.
    static constexpr std::size_t FIFO_FRAMES = 256;
    static constexpr std::size_t FIFO_BYTES = 1024 * 1024;
    // Buffers of delivered frames kept for the next ones (libslirp's frames are MTU-sized).
    static constexpr std::size_t SPARE_BUFFERS = 64;
    // Frames sent to the network: at least an Ethernet header, at most 64 KiB.
    static constexpr std::size_t MIN_FRAME = 14;
    static constexpr std::size_t MAX_FRAME = 64 * 1024;

    struct Stats {
        std::uint64_t tx_frames = 0; // sent by the guest (send())
        std::uint64_t tx_bytes = 0;
        std::uint64_t tx_errors = 0; // refused by send(): too short or too long
        std::uint64_t rx_frames = 0; // taken by the guest (receive())
        std::uint64_t rx_bytes = 0;
        std::uint64_t rx_dropped = 0; // emitted by libslirp while the FIFO was full
        std::size_t rx_queued = 0;    // waiting in the FIFO now
    };

    // Checks the options, starts libslirp and binds every forward's host port. A port that
    // cannot be bound (in use) fails with a message naming the rule and the reason.
    [[nodiscard]] static Result<std::unique_ptr<SlirpBackend>> create(
        boost::asio::io_context& io, UserNetOptions options, const MacAddress& guest_mac);
    ~SlirpBackend() override;

    [[nodiscard]] std::size_t queues() const noexcept override { return 1; }
    [[nodiscard]] bool vnet_hdr() const noexcept override { return false; }
    [[nodiscard]] Offloads offloads() const noexcept override { return {}; }
    // libslirp produces plain frames only, so whatever the guest accepts is fine.
    [[nodiscard]] Result<> set_receive_offloads(const Offloads& /*offloads*/) override { return {}; }

    [[nodiscard]] IoResult send(std::size_t queue, std::span<const iovec> iov) noexcept override;
    [[nodiscard]] IoResult receive(std::size_t queue, std::span<const iovec> iov) noexcept override;
    void watch_readable(std::size_t queue, std::function<void()> ready) override;
    // Sending never waits: fires at once (posted).
    void watch_writable(std::size_t queue, std::function<void()> ready) override;
    void stop_watching() noexcept override;

    // Nothing on the host side can go away: always up.
    [[nodiscard]] bool link_up() const noexcept override { return true; }
    void on_link_change(std::function<void(bool up)> /*changed*/) override { }

    [[nodiscard]] std::string describe() const override;
    [[nodiscard]] nlohmann::json status() const override;

    [[nodiscard]] Stats stats() const noexcept;
    [[nodiscard]] const UserNetOptions& options() const noexcept;

    // The libslirp state behind the backend, shared with the handlers it queues on the loop.
    struct State;

private:
    explicit SlirpBackend(std::shared_ptr<State> state) : state_(std::move(state)) {}

    std::shared_ptr<State> state_;
};

} // namespace vmm::virtio::net
