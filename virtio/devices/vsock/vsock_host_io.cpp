// SPDX-License-Identifier: Apache-2.0
// VsockDevice: the host programs' side: their sockets, requests and the bytes sent to them.
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "virtio/devices/vsock/vsock_device.hpp"
#include "virtio/memory/iovec_copy.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio::vsock {
namespace {

constexpr int SEND_FLAGS = MSG_NOSIGNAL | MSG_DONTWAIT;

bool would_block(int e) noexcept
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

} // namespace

void VsockDevice::host_request(HostRequest request) noexcept
{
    // Not active, or a type the driver did not take: closing the socket refuses the request.
    if (!rxq_ || loop_ == nullptr
        || (request.type == SocketType::seqpacket && !acked(VIRTIO_VSOCK_F_SEQPACKET))) {
        ++counters_.refused;
        return;
    }
    const auto port = allocate_host_port(request.guest_port);
    Connection* c = port ? open(ConnKey { request.guest_port, *port }, request.type, std::move(request.fd)) : nullptr;
    if (c == nullptr) {
        ++counters_.refused;
        return;
    }
    c->host_initiated = true;
    c->owe_request = true;
    schedule_rx(*c);
}

void VsockDevice::arm_read(Connection& c) noexcept
{
    if (!c.host_eof) {
        arm(c, false);
    }
}

void VsockDevice::arm_write(Connection& c) noexcept
{
    arm(c, true);
}

// One watch per direction on the host socket; its handler finds the connection again by key
// and serial (a handler may outlive the connection, or the device's reset).
void VsockDevice::arm(Connection& c, bool write) noexcept
{
    bool& armed = write ? c.write_armed : c.read_armed;
    if (armed || !c.host.is_open()) {
        return;
    }
    try {
        c.host.async_wait(write ? boost::asio::posix::stream_descriptor::wait_write
                                : boost::asio::posix::stream_descriptor::wait_read,
            [weak = std::weak_ptr<VsockDevice*>(self_), gen = generation_, key = c.key, serial = c.serial, write](
                const boost::system::error_code& ec) {
                const auto self = weak.lock();
                if (!self || (*self)->generation_ != gen || ec == boost::asio::error::operation_aborted) {
                    return;
                }
                Connection* conn = (*self)->lookup(key);
                if (conn == nullptr || conn->serial != serial) {
                    return;
                }
                // Other errors too: the next read or write meets them.
                if (write) {
                    conn->write_armed = false;
                    (*self)->flush(*conn);
                } else {
                    conn->read_armed = false;
                    conn->host_readable = true;
                    (*self)->schedule_rx(*conn);
                }
            });
        armed = true;
    } catch (const std::exception& e) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-vsock: cannot watch a host socket: {}", e.what());
        abort(c);
    }
}

void VsockDevice::to_host(Connection& c, std::span<const iovec> iov, std::size_t len) noexcept
{
    std::size_t sent = 0;
    if (!c.has_output()) {
        // The usual case: straight from the guest's buffers into the host program's socket.
        msghdr m {};
        m.msg_iov = const_cast<iovec*>(iov.data());
        m.msg_iovlen = std::min<std::size_t>(iov.size(), IOV_MAX);
        const ssize_t n = ::sendmsg(c.host.native_handle(), &m, SEND_FLAGS);
        if (n < 0 && !would_block(errno)) {
            abort(c); // the host program is gone (EPIPE, ECONNRESET): the guest gets RST
            return;
        }
        sent = n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    if (sent < len) {
        // The rest waits in the connection's buffer, which the guest's credit bounds.
        try {
            const std::size_t at = c.out.size();
            c.out.resize(at + (len - sent));
            (void)copy_from_iovecs(iov, sent, std::span(c.out.data() + at, len - sent));
        } catch (const std::exception&) {
            abort(c);
            return;
        }
        arm_write(c);
    }
    if (sent != 0) {
        after_forward(c, sent);
    }
}

void VsockDevice::to_host_message(Connection& c, Connection::Message message) noexcept
{
    if (c.messages.empty()) {
        // One message is one record on the host's SOCK_SEQPACKET socket.
        const ssize_t n = ::send(c.host.native_handle(), message.bytes.data(), message.bytes.size(), SEND_FLAGS);
        if (n >= 0) {
            after_forward(c, message.bytes.size());
            return;
        }
        if (!would_block(errno)) {
            abort(c);
            return;
        }
    }
    try {
        c.messages.push_back(std::move(message));
    } catch (const std::exception&) {
        abort(c);
        return;
    }
    arm_write(c);
}

void VsockDevice::flush(Connection& c) noexcept
{
    const int fd = c.host.native_handle();
    while (c.out_at < c.out.size()) {
        const ssize_t n = ::send(fd, c.out.data() + c.out_at, c.out.size() - c.out_at, SEND_FLAGS);
        if (n < 0) {
            if (would_block(errno)) {
                arm_write(c);
            } else {
                abort(c);
            }
            return;
        }
        c.out_at += static_cast<std::size_t>(n);
        after_forward(c, static_cast<std::size_t>(n));
    }
    c.out.clear();
    c.out_at = 0;
    while (!c.messages.empty()) {
        const auto& bytes = c.messages.front().bytes;
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), SEND_FLAGS);
        if (n < 0) {
            if (would_block(errno)) {
                arm_write(c);
            } else {
                abort(c);
            }
            return;
        }
        after_forward(c, bytes.size());
        c.messages.pop_front();
    }
    // Everything the guest sent is with the host program: pass its SHUTDOWN(SEND) on.
    if (c.guest_done_sending && !c.host_write_shut) {
        (void)::shutdown(fd, SHUT_WR);
        c.host_write_shut = true;
    }
    finish_if_done(c);
}

void VsockDevice::finish_if_done(Connection& c) noexcept
{
    if (c.guest_done_sending && c.guest_done_receiving && !c.has_output() && !c.owe_rst) {
        c.owe_rst = true;
        schedule_rx(c);
    }
}

void VsockDevice::after_forward(Connection& c, std::size_t bytes) noexcept
{
    c.local.forwarded(static_cast<std::uint32_t>(bytes));
    c.bytes_to_host += bytes;
    if (c.local.update_due()) {
        c.owe_credit = true;
        schedule_rx(c);
    }
}

bool VsockDevice::read_inbound_message(Connection& c) noexcept
{
    const int fd = c.host.native_handle();
    // The whole message's size first (MSG_TRUNC), so that it is taken whole or not at all.
    const ssize_t size = ::recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (size < 0) {
        if (would_block(errno)) {
            c.host_readable = false;
            arm_read(c);
        } else {
            abort(c);
        }
        return false;
    }
    if (size == 0) {
        // The end of the connection (an empty message reads the same and ends it too).
        c.host_eof = true;
        c.host_readable = false;
        c.owe_shutdown = true;
        return false;
    }
    const auto len = static_cast<std::size_t>(size);
    if (len > options_.buffer_size || len > c.peer.buf_alloc) {
        // The guest could never hold it whole (Linux takes a message only when all of it is
        // in its buffer): the connection cannot go on.
        VMM_LOG_GUEST(spdlog::level::debug, "virtio-vsock: {}:{}: a {}-byte message from the host is too large",
            c.key.guest_port, c.key.host_port, len);
        abort(c);
        return false;
    }
    try {
        c.inbound.resize(len);
    } catch (const std::exception&) {
        abort(c);
        return false;
    }
    const ssize_t got = ::recv(fd, c.inbound.data(), len, MSG_DONTWAIT);
    if (got != size) {
        abort(c);
        return false;
    }
    c.inbound_at = 0;
    c.inbound_pending = true;
    return true;
}

} // namespace vmm::virtio::vsock
