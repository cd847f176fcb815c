// SPDX-License-Identifier: Apache-2.0
// NetDevice: the transmit path.
#include <cstring>

#include "virtio/devices/net/net_device.hpp"
#include "virtio/devices/net/offload.hpp"
#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::net {
namespace {

// Frames sent per transmit turn before the loop serves others (a continuation is posted).
constexpr std::size_t TX_BUDGET = 256;

// What the driver may leave to the device on transmit: the HOST_* features (§5.1.6.2).
Offloads host_offloads(std::uint64_t f) noexcept
{
    return Offloads { .csum = has_feature(f, VIRTIO_NET_F_CSUM),
        .tso4 = has_feature(f, VIRTIO_NET_F_HOST_TSO4),
        .tso6 = has_feature(f, VIRTIO_NET_F_HOST_TSO6),
        .ecn = has_feature(f, VIRTIO_NET_F_HOST_ECN),
        .ufo = has_feature(f, VIRTIO_NET_F_HOST_UFO),
        .uso = has_feature(f, VIRTIO_NET_F_HOST_USO) };
}

} // namespace

void NetDevice::transmit(std::uint16_t pair) noexcept
{
    Pair& p = pairs_[pair];
    if (!p.tx || p.tx_waiting) {
        return; // no queue, or waiting for the backend to take more
    }
    Queue& q = *p.tx;
    std::size_t budget = TX_BUDGET;
    do {
        q.disable_notification();
        std::optional<DescriptorChain> chain;
        while (budget > 0 && (chain = q.pop())) {
            if (!transmit_one(pair, *chain)) {
                // The backend is full: the frame goes back to the ring, and notifications stay
                // off until the backend can take it (§2.7.10 allows either).
                (void)q.unpop(std::move(*chain));
                p.tx_waiting = true;
                backend_->watch_writable(backend_queue_of(pair),
                    [weak = std::weak_ptr<NetDevice*>(self_), gen = generation_, pair] {
                        auto self = weak.lock();
                        if (!self || (*self)->generation_ != gen) {
                            return;
                        }
                        (*self)->pairs_[pair].tx_waiting = false;
                        (*self)->transmit(pair);
                    });
                q.notify_if_needed();
                return;
            }
            q.add_used(std::move(*chain), 0);
            --budget;
        }
    } while (budget > 0 && q.enable_notification());
    q.notify_if_needed();
    if (budget == 0 && loop_ != nullptr) {
        // More is waiting: carry on after whatever else the loop has to do.
        loop_->post([weak = std::weak_ptr<NetDevice*>(self_), gen = generation_, pair] {
            if (auto self = weak.lock(); self && (*self)->generation_ == gen) {
                (*self)->transmit(pair);
            }
        });
    }
}

bool NetDevice::transmit_one(std::uint16_t pair, DescriptorChain& chain) noexcept
{
    Reader& r = chain.reader();
    VirtioNetHdrV1 hdr {};
    // §5.1.6.2: every packet starts with the header, in as many descriptors as the driver
    // likes; the hash fields of the longer header mean nothing on transmit.
    if (r.available() < hdr_len_ || !r.read(std::as_writable_bytes(std::span(&hdr, 1))) || !r.skip(hdr_len_ - sizeof(hdr))) {
        ++drops_.tx_malformed;
        return true;
    }
    const std::size_t frame_len = r.available();
    const Offloads host = host_offloads(acked_features());
    const bool needs_csum = (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
    if (frame_len < ETH_HEADER_BYTES || frame_len > MAX_FRAME || !host.covers(hdr.gso_type)
        || (needs_csum && !host.csum)) {
        ++drops_.tx_malformed;
        return true;
    }
    if (needs_csum && std::size_t { hdr.csum_start.get() } + hdr.csum_offset.get() + 2 > frame_len) {
        ++drops_.tx_offload;
        return true;
    }
    if (!link_up_) {
        ++drops_.tx_link_down;
        return true;
    }
    // A backend with headers takes the frame as it is when its offloads cover what is left undone.
    const Offloads b = backend_->offloads();
    if (!backend_->vnet_hdr() || (needs_csum && !b.csum) || !b.covers(hdr.gso_type)) {
        return transmit_plain(pair, hdr, r);
    }
    // Header and frame go to the backend as they are, straight from the guest's buffers. Only
    // the flags the device understands pass (§5.1.6.2.1: the device ignores the others).
    VirtioNetHdrV1 out = hdr;
    out.flags = static_cast<std::uint8_t>(hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
    out.num_buffers = le16(0);
    if ((hdr.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_NONE) {
        out.gso_size = le16(0);
    }
    IovecList iov;
    iov.push_back(iovec { &out, sizeof(out) });
    for (const iovec& v : r.iovecs(frame_len)) {
        iov.push_back(v);
    }
    const IoResult res = backend_->send(backend_queue_of(pair), iov);
    if (res.status == IoResult::Status::again) {
        return false;
    }
    if (res.status == IoResult::Status::error) {
        ++drops_.tx_backend;
        VMM_LOG_GUEST(spdlog::level::debug, "virtio-net: {}: send failed: {}", backend_->describe(), std::strerror(res.error));
        return true;
    }
    pairs_[pair].counters.tx_frames += 1;
    pairs_[pair].counters.tx_bytes += frame_len;
    return true;
}

// For a backend without headers (or one that lacks this offload): the frame is copied once,
// and the checksum and segmentation the driver left to the device are done here.
bool NetDevice::transmit_plain(std::uint16_t pair, const VirtioNetHdrV1& hdr, Reader& r) noexcept
{
    const std::size_t frame_len = r.available();
    std::span<std::uint8_t> frame(bounce_.data(), frame_len);
    if (!r.read(std::as_writable_bytes(frame))) {
        ++drops_.tx_malformed;
        return true;
    }
    const std::size_t queue = backend_queue_of(pair);
    std::size_t sent = 0;
    bool blocked = false;
    bool dropped = false;
    auto send = [&](std::span<const std::uint8_t> bytes) {
        if (blocked) {
            return;
        }
        const iovec v { const_cast<std::uint8_t*>(bytes.data()), bytes.size() };
        const IoResult res = backend_->send(queue, std::span(&v, 1));
        if (res.status == IoResult::Status::done) {
            ++sent;
            pairs_[pair].counters.tx_frames += 1;
            pairs_[pair].counters.tx_bytes += bytes.size();
        } else if (res.status == IoResult::Status::again) {
            blocked = true;
        } else {
            dropped = true;
            ++drops_.tx_backend;
        }
    };
    const std::uint8_t kind = hdr.gso_type & static_cast<std::uint8_t>(~VIRTIO_NET_HDR_GSO_ECN);
    if (kind != VIRTIO_NET_HDR_GSO_NONE) {
        GsoRequest req;
        req.gso_type = hdr.gso_type;
        req.gso_size = hdr.gso_size.get();
        req.hdr_len = hdr.hdr_len.get();
        req.hdr_len_exact = has_feature(acked_features(), VIRTIO_NET_F_GUEST_HDRLEN);
        req.ipv6_frag_id = ++ipv6_frag_id_;
        const auto n = segment(frame, req, segment_, send);
        if (!n) {
            ++drops_.tx_offload;
            VMM_LOG_GUEST(spdlog::level::debug, "virtio-net: GSO frame dropped: {}", to_string(n.error()));
            return true;
        }
    } else {
        if ((hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0) {
            if (auto done = complete_checksum(frame, hdr.csum_start.get(), hdr.csum_offset.get()); !done) {
                ++drops_.tx_offload;
                return true;
            }
        }
        send(frame);
    }
    // A backend that would block before taking anything gets the whole frame again later; one
    // that blocks in the middle of a segmented frame loses the rest of it, as a congested link
    // would (TCP sends it again).
    if (blocked && sent == 0 && !dropped) {
        return false;
    }
    if (blocked) {
        ++drops_.tx_backend;
    }
    return true;
}

} // namespace vmm::virtio::net
