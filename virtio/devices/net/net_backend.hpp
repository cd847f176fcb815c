// SPDX-License-Identifier: Apache-2.0
// NetBackend: what the virtio-net device model needs from the network behind it.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "virtio/spec/net.hpp"
#include "vmm/base/result.hpp"

namespace vmm::virtio::net {

// Offloads of frames that cross between the device and a backend with a virtio-net header in
// front (virtio 1.2 §5.1.6.2): partial checksums and segmentation left undone.
struct Offloads {
    bool csum = false; // checksum from csum_start left to the receiver (NEEDS_CSUM)
    bool tso4 = false; // TCP over IPv4 larger than the MTU (GSO_TCPV4)
    bool tso6 = false; // TCP over IPv6 (GSO_TCPV6)
    bool ecn = false;  // TSO frames with the ECN (CWR) bit (GSO_ECN)
    bool ufo = false;  // UDP datagrams larger than the MTU, fragmented by the receiver (GSO_UDP)
    bool uso = false;  // UDP segmentation: one header, several datagrams (GSO_UDP_L4)
    bool operator==(const Offloads&) const noexcept = default;

    // Whether a header's gso_type (§5.1.6.2: the kind, and the ECN bit only on a segmented
    // kind) is one these offloads take; the checksum flag is the caller's to check.
    [[nodiscard]] bool covers(std::uint8_t gso_type) const noexcept
    {
        const bool with_ecn = (gso_type & VIRTIO_NET_HDR_GSO_ECN) != 0;
        if (with_ecn && !ecn) {
            return false;
        }
        switch (gso_type & static_cast<std::uint8_t>(~VIRTIO_NET_HDR_GSO_ECN)) {
        case VIRTIO_NET_HDR_GSO_NONE:
            return !with_ecn;
        case VIRTIO_NET_HDR_GSO_TCPV4:
            return tso4;
        case VIRTIO_NET_HDR_GSO_TCPV6:
            return tso6;
        case VIRTIO_NET_HDR_GSO_UDP:
            return ufo;
        case VIRTIO_NET_HDR_GSO_UDP_L4:
            return uso;
        default:
            return false;
        }
    }
};

struct IoResult {
    enum class Status : std::uint8_t {
        done,  // `bytes` moved
        again, // nothing to receive / no room to send now: wait for the matching watch
        error, // `error` (an errno) says what; the frame is lost
    };
    Status status = Status::done;
    // send: bytes taken; receive: the frame's full length, header included, which is more than
    // the buffers given when the frame did not fit (it was truncated and must be dropped).
    std::size_t bytes = 0;
    int error = 0;
};

// The host side of one virtio-net device. Loop thread only. Each backend queue is independent
// (a multiqueue tap has one file descriptor per queue); the device maps its queue pair i onto
// backend queue i % queues().
//
// Frames are whole Ethernet frames without the FCS. With vnet_hdr(), each frame is preceded in
// both directions by a 12-byte virtio_net_hdr_v1 (§5.1.6; num_buffers unused) and may carry the
// offloads() the backend declared; without it, frames are plain and the device completes
// checksums and segments large frames itself before send().
class NetBackend {
public:
    NetBackend() = default;
    NetBackend(const NetBackend&) = delete;
    NetBackend& operator=(const NetBackend&) = delete;
    virtual ~NetBackend() = default;

    [[nodiscard]] virtual std::size_t queues() const noexcept = 0;
    [[nodiscard]] virtual bool vnet_hdr() const noexcept = 0;
    // With vnet_hdr(): the offloads the backend takes in frames sent to it and can produce in
    // frames it receives. Without, none.
    [[nodiscard]] virtual Offloads offloads() const noexcept = 0;
    // The offloads the guest accepts in received frames (its negotiated GUEST_* features): the
    // backend must not produce others from now on (a tap: TUNSETOFFLOAD).
    [[nodiscard]] virtual Result<> set_receive_offloads(const Offloads& offloads) = 0;

    // Sends one frame gathered from `iov` (the header first with vnet_hdr()). Never blocks.
    [[nodiscard]] virtual IoResult send(std::size_t queue, std::span<const iovec> iov) noexcept = 0;
    // Receives one frame into `iov` (the header first with vnet_hdr()). Never blocks.
    [[nodiscard]] virtual IoResult receive(std::size_t queue, std::span<const iovec> iov) noexcept = 0;

    // One-shot: `ready` runs once on the loop thread when `queue` has a frame to receive (or
    // room to send); at once (posted, never from inside the call) if it has already. Arming a
    // queue again replaces its callback.
    virtual void watch_readable(std::size_t queue, std::function<void()> ready) = 0;
    virtual void watch_writable(std::size_t queue, std::function<void()> ready) = 0;
    // Cancels every watch; a callback already queued does not run.
    virtual void stop_watching() noexcept = 0;

    // Whether the host side works; `changed` runs on the loop thread when that changes (a tap
    // deleted under the VM fails its reads and goes down).
    [[nodiscard]] virtual bool link_up() const noexcept = 0;
    virtual void on_link_change(std::function<void(bool up)> changed) = 0;

    // For log lines and the API's status.
    [[nodiscard]] virtual std::string describe() const = 0;
    [[nodiscard]] virtual nlohmann::json status() const = 0;
};

} // namespace vmm::virtio::net
