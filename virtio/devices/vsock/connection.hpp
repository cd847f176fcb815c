// SPDX-License-Identifier: Apache-2.0
// Connection: one vsock connection between a guest socket and a host program's socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "virtio/devices/vsock/credit.hpp"
#include "virtio/devices/vsock/vsock_host.hpp"

namespace vmm::virtio::vsock {

// Ports name a connection on the device's side: the guest's (its source port on transmit) and
// the host's. virtio 1.2 §5.10.6: stream and seqpacket share one port space.
struct ConnKey {
    std::uint32_t guest_port = 0;
    std::uint32_t host_port = 0;
    bool operator==(const ConnKey&) const noexcept = default;
};

struct ConnKeyHash {
    std::size_t operator()(const ConnKey& k) const noexcept
    {
        return std::hash<std::uint64_t> {}((std::uint64_t { k.guest_port } << 32U) | k.host_port);
    }
};

// The state the device keeps for a connection. The device drives it (vsock_*.cpp); this holds
// the data and answers questions about it.
struct Connection {
    enum class State : std::uint8_t {
        requested,   // a host program asked; REQUEST not yet sent to the guest, or no RESPONSE yet
        established, // both ends connected
    };

    Connection(boost::asio::io_context& io, int host_fd, ConnKey k, SocketType t, std::uint32_t buf_alloc,
        std::uint64_t serial_number)
        : key(k)
        , type(t)
        , serial(serial_number)
        , host(io, host_fd)
    {
        local.buf_alloc = buf_alloc;
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection()
    {
        boost::system::error_code ec;
        host.close(ec); // the host program sees the connection end
    }

    ConnKey key;
    SocketType type;
    std::uint64_t serial; // tells a handler for an older connection on the same ports apart
    State state = State::requested;
    bool host_initiated = false;
    boost::asio::posix::stream_descriptor host; // the host program's socket (owned)

    PeerCredit peer;   // host -> guest
    LocalCredit local; // guest -> host

    // Packets owed to the guest: sent one at a time as rx buffers allow, in this order.
    bool owe_rst = false;      // then the connection is gone
    bool owe_request = false;  // host-initiated: ask the guest to accept
    bool owe_response = false; // guest-initiated: the host end is connected
    bool owe_shutdown = false; // the host program sends no more (SHUTDOWN with SEND)
    bool owe_credit = false;   // a CREDIT_UPDATE (or any packet: all carry the credit)

    // Shutdown (§5.10.6.4): what the guest said it will no longer do, and what the host did.
    bool guest_done_sending = false;
    bool guest_done_receiving = false;
    bool host_eof = false;        // read 0 from the host program: it sends no more
    bool host_write_shut = false; // shutdown(SHUT_WR) passed on to the host program
    bool host_readable = false;   // the host socket may have data (until a read says EAGAIN)

    // Guest -> host bytes the host socket has not taken yet, in order (within local credit).
    // Stream: `out` from `out_at`. Seqpacket: whole messages, and the one being assembled.
    std::vector<std::uint8_t> out;
    std::size_t out_at = 0;
    struct Message {
        std::vector<std::uint8_t> bytes;
        bool eor = false;
    };
    std::deque<Message> messages;
    std::vector<std::uint8_t> assembling;

    // Host -> guest seqpacket: the message read from the host, sent in pieces as credit allows.
    std::vector<std::uint8_t> inbound;
    std::size_t inbound_at = 0;
    bool inbound_pending = false;

    // Watches and scheduling.
    bool read_armed = false;
    bool write_armed = false;
    bool queued_for_rx = false;

    // Counters for the API.
    std::uint64_t bytes_to_guest = 0;
    std::uint64_t bytes_to_host = 0;

    [[nodiscard]] bool has_output() const noexcept
    {
        return out_at < out.size() || !messages.empty();
    }
    [[nodiscard]] std::size_t output_bytes() const noexcept
    {
        std::size_t n = out.size() - out_at;
        for (const Message& m : messages) {
            n += m.bytes.size();
        }
        return n;
    }
    // Whether a packet for the guest could be made now (given an rx buffer).
    [[nodiscard]] bool wants_rx() const noexcept
    {
        return owe_rst || owe_request || owe_response || owe_shutdown || owe_credit || data_for_guest();
    }
    // Payload could go to the guest: connected, the guest still receives and has credit, and
    // the host has (or may have) something.
    [[nodiscard]] bool data_for_guest() const noexcept
    {
        if (state != State::established || guest_done_receiving || peer.free() == 0) {
            return false;
        }
        if (type == SocketType::seqpacket && inbound_pending) {
            return true;
        }
        return host_readable && !host_eof;
    }
    [[nodiscard]] const char* state_name() const noexcept
    {
        if (state == State::requested) {
            return "requested";
        }
        if (guest_done_sending || guest_done_receiving || host_eof || host_write_shut) {
            return "closing";
        }
        return "established";
    }
};

} // namespace vmm::virtio::vsock
