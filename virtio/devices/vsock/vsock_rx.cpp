// SPDX-License-Identifier: Apache-2.0
// VsockDevice: packets to the guest (the rx queue).
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "virtio/devices/vsock/vsock_device.hpp"
#include "virtio/memory/iovec_copy.hpp"
#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::vsock {
namespace {

// Packets per rx turn before the loop serves others.
constexpr std::size_t RX_BUDGET = 256;
constexpr std::size_t HDR = sizeof(VirtioVsockHdr);

// Splits the writable bytes `all` into the header's first HDR bytes and the payload after them.
IovecList payload_part(const IovecList& all)
{
    IovecList out;
    std::size_t at = 0;
    for (const iovec& v : all) {
        const std::size_t end = at + v.iov_len;
        if (end > HDR) {
            const std::size_t skip = at >= HDR ? 0 : HDR - at;
            out.push_back(iovec { static_cast<std::uint8_t*>(v.iov_base) + skip, v.iov_len - skip });
        }
        at = end;
    }
    return out;
}

} // namespace

void VsockDevice::schedule_rx(Connection& c) noexcept
{
    if (c.queued_for_rx || !c.wants_rx()) {
        return;
    }
    try {
        rx_turns_.push_back(c.key);
    } catch (const std::exception&) {
        return; // its next event schedules it again
    }
    c.queued_for_rx = true;
    post_receive();
}

void VsockDevice::post_receive() noexcept
{
    if (receive_posted_) {
        return;
    }
    if (loop_ == nullptr) {
        receive();
        return;
    }
    receive_posted_ = true;
    loop_->post([weak = std::weak_ptr<VsockDevice*>(self_), gen = generation_] {
        if (auto self = weak.lock(); self && (*self)->generation_ == gen) {
            (*self)->receive_posted_ = false;
            (*self)->receive();
        }
    });
}

void VsockDevice::receive() noexcept
{
    if (!rxq_) {
        return;
    }
    Queue& q = *rxq_;
    std::size_t budget = RX_BUDGET;
    while (budget > 0 && (!replies_.empty() || !rx_turns_.empty())) {
        auto chain = q.pop();
        if (!chain) {
            // The driver's next rx notification resumes (§5.10.6.2: it keeps buffers posted).
            if (q.enable_notification()) {
                continue;
            }
            break;
        }
        Writer& w = chain->writer();
        if (w.available() < HDR) {
            ++counters_.malformed; // cannot hold a header: used empty, so that it comes back no more
            q.add_used(std::move(*chain), 0);
            --budget;
            continue;
        }
        std::size_t n = 0;
        if (!replies_.empty()) {
            (void)w.write_obj(replies_.front());
            replies_.pop_front();
            n = HDR;
        } else {
            const ConnKey key = rx_turns_.front();
            rx_turns_.pop_front();
            Connection* c = lookup(key);
            if (c == nullptr) {
                (void)q.unpop(std::move(*chain));
                continue;
            }
            c->queued_for_rx = false;
            n = fill_packet(*c, w);
            Connection* again = lookup(key);
            if (n == 0 && again != nullptr && again->wants_rx()) {
                // Data to send and a buffer with no room for any beyond the header: used
                // empty, or the same buffer would come back forever.
                ++counters_.malformed;
                q.add_used(std::move(*chain), 0);
                --budget;
                schedule_rx(*again);
                continue;
            }
            if (again != nullptr) {
                schedule_rx(*again); // round robin: back of the line if it has more
            }
        }
        if (n == 0) {
            (void)q.unpop(std::move(*chain)); // nothing to send after all (the host had no data)
            continue;
        }
        q.add_used(std::move(*chain), static_cast<std::uint32_t>(n));
        --budget;
    }
    q.notify_if_needed();
    if (budget == 0) {
        post_receive();
    }
}

VirtioVsockHdr VsockDevice::header_for(Connection& c, std::uint16_t op) noexcept
{
    VirtioVsockHdr h {};
    h.src_cid = le64_split(VSOCK_CID_HOST);
    h.dst_cid = le64_split(options_.guest_cid);
    h.src_port = le32(c.key.host_port);
    h.dst_port = le32(c.key.guest_port);
    h.type = le16(c.type == SocketType::stream ? VIRTIO_VSOCK_TYPE_STREAM : VIRTIO_VSOCK_TYPE_SEQPACKET);
    h.op = le16(op);
    // §5.10.6.3: every packet tells the peer the credit it has; no separate update is owed.
    h.buf_alloc = le32(c.local.buf_alloc);
    h.fwd_cnt = le32(c.local.fwd_cnt);
    c.local.announced = c.local.fwd_cnt;
    c.owe_credit = false;
    return h;
}

std::size_t VsockDevice::fill_packet(Connection& c, Writer& w) noexcept
{
    VirtioVsockHdr h {};
    if (!c.owe_rst) {
        if (c.owe_request) {
            c.owe_request = false;
            h = header_for(c, VIRTIO_VSOCK_OP_REQUEST);
        } else if (c.owe_response) {
            c.owe_response = false;
            h = header_for(c, VIRTIO_VSOCK_OP_RESPONSE);
        } else if (c.data_for_guest()) {
            if (const std::size_t n = fill_data(c, w, h); n != 0) {
                return n;
            }
        }
    }
    if (h.op.get() == VIRTIO_VSOCK_OP_INVALID) {
        if (c.owe_rst) {
            h = header_for(c, VIRTIO_VSOCK_OP_RST);
            (void)w.write_obj(h);
            close(c.key);
            return HDR;
        }
        if (c.owe_shutdown) {
            c.owe_shutdown = false;
            h = header_for(c, VIRTIO_VSOCK_OP_SHUTDOWN);
            h.flags = le32(VIRTIO_VSOCK_SHUTDOWN_SEND);
        } else if (c.owe_credit) {
            h = header_for(c, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
        } else {
            return 0;
        }
    }
    (void)w.write_obj(h);
    return HDR;
}

std::size_t VsockDevice::fill_data(Connection& c, Writer& w, VirtioVsockHdr& h) noexcept
{
    const std::size_t room = std::min<std::size_t>({ w.available() - HDR, c.peer.free(), MAX_PAYLOAD });
    if (room == 0) {
        return 0;
    }
    std::size_t n = 0;
    std::uint32_t flags = 0;
    if (c.type == SocketType::seqpacket) {
        if (!c.inbound_pending && !read_inbound_message(c)) {
            return 0; // nothing yet, the host ended, or the connection is being reset
        }
        const std::size_t left = c.inbound.size() - c.inbound_at;
        n = std::min(room, left);
        if (n == left) {
            flags = VIRTIO_VSOCK_SEQ_EOM; // §5.10.6.3: the message's last piece
        }
        const IovecList payload = payload_part(w.iovecs(HDR + n));
        (void)copy_to_iovecs(payload, 0, std::span(c.inbound.data() + c.inbound_at, n));
        c.inbound_at += n;
        if (flags != 0) {
            c.inbound_pending = false;
            c.inbound.clear();
            c.inbound_at = 0;
        }
    } else {
        // Straight from the host socket into the guest's buffer.
        const IovecList payload = payload_part(w.iovecs(HDR + room));
        const ssize_t got = ::readv(c.host.native_handle(), payload.data(), static_cast<int>(payload.size()));
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                c.host_readable = false;
                arm_read(c);
            } else {
                abort(c); // the host program's socket failed: the guest gets RST
            }
            return 0;
        }
        if (got == 0) {
            // The host program sends no more: the guest hears it as SHUTDOWN(SEND) after the
            // data before it, which is all out by now.
            c.host_eof = true;
            c.host_readable = false;
            c.owe_shutdown = true;
            return 0;
        }
        n = static_cast<std::size_t>(got);
    }
    h = header_for(c, VIRTIO_VSOCK_OP_RW);
    h.len = le32(static_cast<std::uint32_t>(n));
    h.flags = le32(flags);
    (void)w.write_obj(h);
    (void)w.commit(n);
    c.peer.sent(static_cast<std::uint32_t>(n));
    c.bytes_to_guest += n;
    return HDR + n;
}

} // namespace vmm::virtio::vsock
