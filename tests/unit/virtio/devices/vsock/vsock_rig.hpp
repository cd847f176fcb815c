// SPDX-License-Identifier: Apache-2.0
// VsockRig: a VsockDevice over a fake host end made of socketpairs, driven through
// DeviceRig's rings, with the loop run by hand.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/support/fake_vsock_host.hpp"
#include "tests/unit/virtio/devices/device_rig.hpp"
#include "virtio/devices/vsock/vsock_device.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::test {

using vsock::ConnKey;
using vsock::HostRequest;
using vsock::SocketType;
using vsock::VsockDevice;
using vsock::VsockOptions;

struct Packet {
    VirtioVsockHdr hdr {};
    std::string payload;
    std::uint32_t used_len = 0;

    [[nodiscard]] std::uint16_t op() const { return hdr.op.get(); }
};

[[nodiscard]] inline VirtioVsockHdr guest_hdr(std::uint16_t op, std::uint32_t guest_port, std::uint32_t host_port,
    std::uint32_t len = 0, std::uint16_t type = VIRTIO_VSOCK_TYPE_STREAM)
{
    VirtioVsockHdr h {};
    h.src_cid = le64_split(GUEST_CID);
    h.dst_cid = le64_split(VSOCK_CID_HOST);
    h.src_port = le32(guest_port);
    h.dst_port = le32(host_port);
    h.len = le32(len);
    h.type = le16(type);
    h.op = le16(op);
    h.buf_alloc = le32(64 * 1024);
    h.fwd_cnt = le32(0);
    return h;
}

// Bytes waiting on a host program's non-blocking socket (one message for seqpacket).
[[nodiscard]] inline std::string recv_all(int fd)
{
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

template <class Driver>
struct VsockRig {
    // A host program asks for guest port `port`: its end of the socket.
    UniqueFd ask(std::uint32_t port, SocketType type = SocketType::stream)
    {
        UniqueFd fd = host->ask(port, type);
        REQUIRE(fd);
        return fd;
    }

    static VsockOptions options()
    {
        VsockOptions o;
        o.guest_cid = GUEST_CID;
        return o;
    }

    explicit VsockRig(VsockOptions o = options())
        : host_owner(std::make_unique<FakeVsockHost>())
        , host(host_owner.get())
        , device(std::move(host_owner), o)
        , rig(device)
    {
        rig.ring_size = 64;
    }

    void start(bool seqpacket = true)
    {
        rig.start(seqpacket ? feature_bit(VIRTIO_VSOCK_F_SEQPACKET) : 0, {}, &loop);
    }

    // Runs the loop until nothing more is ready.
    void settle()
    {
        for (int i = 0; i < 100; ++i) {
            loop.io().restart();
            if (loop.io().poll() == 0) {
                return;
            }
        }
    }

    // `n` writable rx buffers of `size` bytes (Linux posts 4 KiB ones, header included).
    void give_rx(int n, std::uint32_t size = 4096)
    {
        for (int i = 0; i < n; ++i) {
            const std::uint64_t at = rig.buffer(size);
            const std::uint16_t id = rig.queue(VSOCK_RX_QUEUE).add({ writable(at, size) });
            rx_buffers[id] = at;
        }
        rig.kick(VSOCK_RX_QUEUE);
        settle();
    }

    // One packet on the tx queue: the header and its payload in two buffers, as Linux sends.
    void send(const VirtioVsockHdr& h, std::string_view payload = {})
    {
        const std::uint64_t at = rig.buffer(sizeof(h));
        rig.guest.write_obj(at, h);
        if (payload.empty()) {
            rig.queue(VSOCK_TX_QUEUE).add({ readable(at, sizeof(h)) });
        } else {
            const std::uint64_t data = rig.buffer_with(payload);
            rig.queue(VSOCK_TX_QUEUE).add(
                { readable(at, sizeof(h)), readable(data, static_cast<std::uint32_t>(payload.size())) });
        }
        rig.kick(VSOCK_TX_QUEUE);
        settle();
    }

    // The packets the device put in rx buffers since the last call.
    std::vector<Packet> received()
    {
        std::vector<Packet> out;
        while (auto u = rig.queue(VSOCK_RX_QUEUE).pop_used()) {
            Packet p;
            p.used_len = u->len;
            const std::uint64_t at = rx_buffers.at(static_cast<std::uint16_t>(u->id));
            if (u->len >= sizeof(VirtioVsockHdr)) {
                p.hdr = rig.guest.template read_obj<VirtioVsockHdr>(at);
                p.payload = rig.read_text(at + sizeof(VirtioVsockHdr), u->len - sizeof(VirtioVsockHdr));
            }
            out.push_back(std::move(p));
        }
        return out;
    }

    // Guest port 1000 connected to host port `port` (listening), the RESPONSE consumed.
    int connect(std::uint32_t port = 5000, std::uint32_t guest_port = 1000, std::uint16_t type = VIRTIO_VSOCK_TYPE_STREAM)
    {
        host->listening.insert(port);
        send(guest_hdr(VIRTIO_VSOCK_OP_REQUEST, guest_port, port, 0, type));
        auto got = received();
        REQUIRE(got.size() == 1);
        REQUIRE(got[0].op() == VIRTIO_VSOCK_OP_RESPONSE);
        return host->programs.at(port).back().get();
    }

    EventLoop loop;
    std::unique_ptr<FakeVsockHost> host_owner;
    FakeVsockHost* host;
    VsockDevice device;
    DeviceRig<Driver> rig;
    std::map<std::uint16_t, std::uint64_t> rx_buffers;
};

} // namespace vmm::virtio::test
