// SPDX-License-Identifier: Apache-2.0
// VsockDevice: packets from the guest (the tx queue).
#include "virtio/devices/vsock/vsock_device.hpp"
#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::vsock {
namespace {

// Packets handled per tx turn before the loop serves others (a continuation is posted).
constexpr std::size_t TX_BUDGET = 256;

} // namespace

void VsockDevice::transmit() noexcept
{
    if (!txq_) {
        return;
    }
    Queue& q = *txq_;
    std::size_t budget = TX_BUDGET;
    do {
        q.disable_notification();
        std::optional<DescriptorChain> chain;
        while (budget > 0 && (chain = q.pop())) {
            Reader& r = chain->reader();
            auto hdr = r.read_obj<VirtioVsockHdr>();
            if (hdr) {
                handle_packet(*hdr, r);
            } else {
                ++counters_.malformed; // shorter than a header: nothing to answer
            }
            // §5.10.6.2: the device writes nothing into transmit buffers.
            q.add_used(std::move(*chain), 0);
            --budget;
        }
    } while (budget > 0 && q.enable_notification());
    q.notify_if_needed();
    if (budget == 0 && loop_ != nullptr) {
        loop_->post([weak = std::weak_ptr<VsockDevice*>(self_), gen = generation_] {
            if (auto self = weak.lock(); self && (*self)->generation_ == gen) {
                (*self)->transmit();
            }
        });
    }
}

void VsockDevice::handle_packet(const VirtioVsockHdr& hdr, Reader& payload) noexcept
{
    const ConnKey key { hdr.src_port.get(), hdr.dst_port.get() };
    const std::uint32_t len = hdr.len.get();
    // The guest speaks for its own CID only, and to the host only: this device has no other
    // peers (§5.10.6.1).
    if (hdr.src_cid.get() != options_.guest_cid || hdr.dst_cid.get() != VSOCK_CID_HOST) {
        ++counters_.bad_cid;
        return;
    }
    if (len > payload.available() || len > MAX_PAYLOAD) {
        // The header claims payload the buffer does not hold: the stream would lose bytes.
        ++counters_.malformed;
        if (Connection* c = lookup(key)) {
            abort(*c);
        }
        return;
    }
    // §5.10.6.1: a packet of an unknown type is answered with RST.
    if (!type_allowed(hdr.type.get())) {
        ++counters_.bad_type;
        reply_rst(hdr);
        return;
    }
    const SocketType type = hdr.type.get() == VIRTIO_VSOCK_TYPE_STREAM ? SocketType::stream : SocketType::seqpacket;
    const std::uint16_t op = hdr.op.get();
    Connection* c = lookup(key);
    if (op == VIRTIO_VSOCK_OP_REQUEST) {
        if (c != nullptr) {
            ++counters_.bad_op; // a second REQUEST on a live connection
            abort(*c);
            return;
        }
        handle_request(hdr, key, type);
        return;
    }
    if (c == nullptr) {
        if (op != VIRTIO_VSOCK_OP_RST) {
            ++counters_.no_connection;
        }
        reply_rst(hdr);
        return;
    }
    if (c->owe_rst) {
        return; // being torn down: the RST on its way answers everything
    }
    if (c->type != type) {
        ++counters_.bad_type;
        abort(*c);
        return;
    }
    // §5.10.6.3: every packet carries the sender's credit.
    c->peer.update(hdr.buf_alloc.get(), hdr.fwd_cnt.get());
    const bool established = c->state == Connection::State::established;
    switch (op) {
    case VIRTIO_VSOCK_OP_RESPONSE:
        if (established || !c->host_initiated || c->owe_request) {
            ++counters_.bad_op;
            abort(*c);
            return;
        }
        c->state = Connection::State::established;
        {
            // The host program waits for this line before anything else; a new socket's send
            // buffer takes it whole.
            const std::string line = host_->ok_line(key.host_port);
            const ssize_t n = ::send(c->host.native_handle(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n != static_cast<ssize_t>(line.size())) {
                abort(*c);
                return;
            }
        }
        c->host_readable = true;
        break;
    case VIRTIO_VSOCK_OP_RST:
        close(key);
        return;
    case VIRTIO_VSOCK_OP_SHUTDOWN:
        if (!established) {
            ++counters_.bad_op;
            abort(*c);
            return;
        }
        handle_shutdown(*c, hdr.flags.get());
        break;
    case VIRTIO_VSOCK_OP_RW:
        if (!established) {
            ++counters_.bad_op;
            abort(*c);
            return;
        }
        handle_rw(*c, hdr, payload);
        break;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
        break; // the credit above is the whole message
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        c->owe_credit = true;
        break;
    default:
        ++counters_.bad_op;
        abort(*c);
        return;
    }
    // The packet may have closed it, or given credit that lets host data move again.
    if (Connection* after = lookup(key)) {
        schedule_rx(*after);
    }
}

void VsockDevice::handle_request(const VirtioVsockHdr& hdr, ConnKey key, SocketType type) noexcept
{
    if (connections_.size() >= options_.max_connections) {
        ++counters_.refused;
        reply_rst(hdr);
        return;
    }
    auto fd = host_->connect(key.host_port, type);
    if (!fd) {
        ++counters_.refused;
        VMM_LOG_GUEST(spdlog::level::debug, "virtio-vsock: guest port {} to host port {}: {}", key.guest_port,
            key.host_port, fd.error().describe());
        reply_rst(hdr);
        return;
    }
    Connection* c = open(key, type, std::move(*fd));
    if (c == nullptr) {
        ++counters_.refused;
        reply_rst(hdr);
        return;
    }
    c->peer.update(hdr.buf_alloc.get(), hdr.fwd_cnt.get());
    c->state = Connection::State::established;
    c->owe_response = true;
    c->host_readable = true;
    schedule_rx(*c);
}

void VsockDevice::handle_rw(Connection& c, const VirtioVsockHdr& hdr, Reader& payload) noexcept
{
    const std::uint32_t len = hdr.len.get();
    if (c.guest_done_sending) {
        ++counters_.bad_op; // data after its own SHUTDOWN(SEND)
        abort(c);
        return;
    }
    if (!c.local.admits(len)) {
        ++counters_.credit_overrun;
        VMM_LOG_GUEST(spdlog::level::debug, "virtio-vsock: {}:{}: {} bytes beyond the credit of {}", c.key.guest_port,
            c.key.host_port, len, c.local.buf_alloc);
        abort(c);
        return;
    }
    c.local.received(len);
    if (c.type == SocketType::stream) {
        if (len != 0) {
            to_host(c, payload.iovecs(len), len);
        }
        return;
    }
    // Seqpacket: the pieces of a message gather until its last (EOM), then go as one.
    try {
        const std::size_t at = c.assembling.size();
        c.assembling.resize(at + len);
        if (!payload.read(std::as_writable_bytes(std::span(c.assembling.data() + at, len)))) {
            ++counters_.malformed;
            abort(c);
            return;
        }
    } catch (const std::exception&) {
        abort(c);
        return;
    }
    if ((hdr.flags.get() & VIRTIO_VSOCK_SEQ_EOM) != 0) {
        Connection::Message m { std::move(c.assembling), (hdr.flags.get() & VIRTIO_VSOCK_SEQ_EOR) != 0 };
        c.assembling = {};
        to_host_message(c, std::move(m));
    }
}

void VsockDevice::handle_shutdown(Connection& c, std::uint32_t flags) noexcept
{
    // §5.10.6.4: the flags are hints that stay set once given.
    c.guest_done_receiving = c.guest_done_receiving || (flags & VIRTIO_VSOCK_SHUTDOWN_RCV) != 0;
    c.guest_done_sending = c.guest_done_sending || (flags & VIRTIO_VSOCK_SHUTDOWN_SEND) != 0;
    if (c.guest_done_sending) {
        flush(c); // passes the end on once the buffer is written
    }
}

void VsockDevice::reply_rst(const VirtioVsockHdr& to) noexcept
{
    if (to.op.get() == VIRTIO_VSOCK_OP_RST) {
        return; // §5.10.6.1: never answer an RST
    }
    if (replies_.size() >= MAX_PENDING_REPLIES) {
        ++counters_.replies_dropped;
        return;
    }
    VirtioVsockHdr r {};
    r.src_cid = le64_split(VSOCK_CID_HOST);
    r.dst_cid = le64_split(options_.guest_cid);
    r.src_port = to.dst_port;
    r.dst_port = to.src_port;
    r.type = to.type;
    r.op = le16(VIRTIO_VSOCK_OP_RST);
    try {
        replies_.push_back(r);
    } catch (const std::exception&) {
        ++counters_.replies_dropped;
        return;
    }
    post_receive();
}

} // namespace vmm::virtio::vsock
