// SPDX-License-Identifier: Apache-2.0
// VsockDevice: virtio-vsock (virtio 1.2 §5.10) with its host end in the VMM process.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "virtio/device_base.hpp"
#include "virtio/devices/vsock/connection.hpp"
#include "virtio/devices/vsock/vsock_host.hpp"
#include "virtio/spec/vsock.hpp"

namespace vmm::virtio::vsock {

struct VsockOptions {
    static constexpr std::uint32_t MIN_BUFFER = 4096;
    static constexpr std::uint32_t MAX_BUFFER = 64U << 20U;

    std::uint64_t guest_cid = 3;
    bool seqpacket = true;              // offer VIRTIO_VSOCK_F_SEQPACKET
    std::uint32_t max_connections = 256;
    // Per connection: the receive buffer announced to the guest (buf_alloc), which bounds the
    // guest-to-host bytes held for a host program that does not read; and the largest
    // SEQPACKET message taken from a host program.
    std::uint32_t buffer_size = 256 * 1024;
    // A pause of the VM at least this long ends every connection with TRANSPORT_RESET when it
    // resumes (the host programs on the other end may have given up); zero: never.
    std::chrono::milliseconds reset_after_pause { 0 };
};

// Drops and refusals, by reason, for the API's status. Each is the guest's or a host program's
// doing, never an error of the VMM.
struct VsockCounters {
    std::uint64_t malformed = 0;      // a header that does not fit, a length the buffer lacks
    std::uint64_t bad_cid = 0;        // not from the guest's CID, or not to the host
    std::uint64_t bad_type = 0;       // a socket type not negotiated (answered RST)
    std::uint64_t bad_op = 0;         // an operation unknown, or wrong for the state (RST)
    std::uint64_t no_connection = 0;  // a packet for a connection that does not exist (RST)
    std::uint64_t credit_overrun = 0; // more than the credit given (the connection is reset)
    std::uint64_t refused = 0;        // guest REQUESTs the host refused, or over max_connections
    std::uint64_t replies_dropped = 0; // RSTs for unknown connections beyond the reply bound
    std::uint64_t connections_opened = 0;
    std::uint64_t connections_closed = 0;
    std::uint64_t transport_resets = 0;
};

// Queues (§5.10.2): rx 0, tx 1, event 2. Everything runs on the loop thread.
//
// Transmit: each guest packet is checked (header, CIDs, type, length against the buffer and
// against credit) before anything acts on it. RW payload goes from the guest's buffers
// straight to the host program's socket; what the socket does not take is copied into the
// connection's buffer, which the credit the guest was given bounds, and a host program that
// does not read stalls only its own connection.
//
// Receive: packets owed to the guest (RESPONSE, RST, SHUTDOWN, CREDIT_UPDATE) are flags on
// their connection, not queued packets, so that a guest that gives no rx buffers cannot make
// the device hold more than one of each; connections take turns for rx buffers. Stream
// payload is read from the host socket straight into the guest's buffer, never beyond the
// guest's credit. Replies for connections that do not exist wait in a bounded list.
class VsockDevice final : public DeviceBase {
public:
    // Payload per packet in either direction (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE).
    static constexpr std::uint32_t MAX_PAYLOAD = 64 * 1024;
    static constexpr std::size_t MAX_PENDING_REPLIES = 256;
    static constexpr std::uint16_t QUEUE_SIZE = 256;
    // Host ports given to host-initiated connections (as other VMMs do: above the ports a
    // guest is likely to listen on).
    static constexpr std::uint32_t FIRST_HOST_PORT = 1U << 30U;

    VsockDevice(std::unique_ptr<VsockHost> host, VsockOptions options);
    ~VsockDevice() override;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    void on_resume(std::chrono::nanoseconds paused_for) noexcept override;
    [[nodiscard]] nlohmann::json status() const override;

    // Drops every connection and tells the driver (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, §5.10.6.5),
    // which then drops its own: after a long pause, or when the host end restarted.
    void transport_reset() noexcept;

    // A host program's request for a guest port (VsockHost::start's callback; tests call it).
    void host_request(HostRequest request) noexcept;

    [[nodiscard]] const VsockCounters& counters() const noexcept { return counters_; }
    [[nodiscard]] std::size_t connection_count() const noexcept { return connections_.size(); }
    // Bytes held across connections: guest data waiting for host programs, messages being
    // assembled, host messages being sent in pieces.
    [[nodiscard]] std::size_t held_bytes() const noexcept;
    [[nodiscard]] const Connection* find(ConnKey key) const noexcept;
    [[nodiscard]] VsockHost& host() noexcept { return *host_; }
    [[nodiscard]] const VsockOptions& options() const noexcept { return options_; }

private:
    using Table = std::unordered_map<ConnKey, std::unique_ptr<Connection>, ConnKeyHash>;

    // vsock_tx.cpp: guest packets.
    void transmit() noexcept;
    void handle_packet(const VirtioVsockHdr& hdr, Reader& payload) noexcept;
    void handle_request(const VirtioVsockHdr& hdr, ConnKey key, SocketType type) noexcept;
    void handle_rw(Connection& c, const VirtioVsockHdr& hdr, Reader& payload) noexcept;
    void handle_shutdown(Connection& c, std::uint32_t flags) noexcept;
    // An RST for a packet that has no connection (or a refused one), unless it was an RST.
    void reply_rst(const VirtioVsockHdr& to) noexcept;

    // vsock_rx.cpp: packets to the guest.
    void receive() noexcept;
    // One packet of `c` into `w`; its total length (0: nothing after all).
    [[nodiscard]] std::size_t fill_packet(Connection& c, Writer& w) noexcept;
    [[nodiscard]] std::size_t fill_data(Connection& c, Writer& w, VirtioVsockHdr& hdr) noexcept;
    [[nodiscard]] VirtioVsockHdr header_for(Connection& c, std::uint16_t op) noexcept;
    void schedule_rx(Connection& c) noexcept;
    void post_receive() noexcept;
    void deliver_events() noexcept;

    // vsock_host_io.cpp: the host program's socket.
    void arm_read(Connection& c) noexcept;
    void arm_write(Connection& c) noexcept;
    void arm(Connection& c, bool write) noexcept;
    // Guest payload to the host: straight from `iov` when nothing is waiting, else buffered.
    void to_host(Connection& c, std::span<const iovec> iov, std::size_t len) noexcept;
    void to_host_message(Connection& c, Connection::Message message) noexcept;
    // Writes what is buffered; then passes a guest SHUTDOWN on and owes a credit update.
    void flush(Connection& c) noexcept;
    [[nodiscard]] bool read_inbound_message(Connection& c) noexcept;
    void after_forward(Connection& c, std::size_t bytes) noexcept;

    Connection* lookup(ConnKey key) noexcept;
    // Creates a connection over `fd` (registered in the table), or nullptr when the table is
    // full or memory ran out (the caller refuses).
    Connection* open(ConnKey key, SocketType type, UniqueFd fd) noexcept;
    // Removes it; its socket closes, so the host program sees the end.
    void close(ConnKey key) noexcept;
    void close_all() noexcept;
    // RST to the guest, then close (a host-side failure, or a guest that broke the rules).
    // `c` may be gone when it returns (a host request the guest was never told of).
    void abort(Connection& c) noexcept;
    // Both sides are done and nothing waits for the host: the guest gets its RST (§5.10.6.4:
    // the answer to a SHUTDOWN of both directions) and the connection goes.
    void finish_if_done(Connection& c) noexcept;
    [[nodiscard]] std::optional<std::uint32_t> allocate_host_port(std::uint32_t guest_port) noexcept;
    [[nodiscard]] bool type_allowed(std::uint16_t type) const noexcept;

    std::unique_ptr<VsockHost> host_;
    VsockOptions options_;
    EventLoop* loop_ = nullptr;
    std::optional<Queue> rxq_;
    std::optional<Queue> txq_;
    std::optional<Queue> eventq_;

    Table connections_;
    std::deque<ConnKey> rx_turns_;             // connections waiting for an rx buffer, in turn
    std::deque<VirtioVsockHdr> replies_;       // RSTs for packets without a connection
    std::uint32_t pending_events_ = 0;         // TRANSPORT_RESET events not yet delivered
    std::uint32_t next_host_port_ = FIRST_HOST_PORT;
    std::uint64_t next_serial_ = 1;
    bool receive_posted_ = false;
    VsockCounters counters_;

    // Handlers hold this weakly: one that runs after the device is gone or reset does nothing.
    std::shared_ptr<VsockDevice*> self_;
    std::uint64_t generation_ = 0; // bumped by reset()
};

} // namespace vmm::virtio::vsock
