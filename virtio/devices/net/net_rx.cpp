// SPDX-License-Identifier: Apache-2.0
// NetDevice: the receive path.
#include <algorithm>
#include <cstring>

#include "virtio/devices/net/bytes.hpp"
#include "virtio/devices/net/net_device.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio::net {
namespace {

// Frames received per turn of one backend queue before the loop serves others.
constexpr std::size_t RX_BUDGET = 256;
// Buffers one frame may take with VIRTIO_NET_F_MRG_RXBUF: 64 KiB in 4 KiB buffers is 17;
// smaller buffers than 1 KiB would be a driver that wastes its own memory.
constexpr std::size_t MAX_RX_CHAINS = 64;
// readv's limit (IOV_MAX).
constexpr std::size_t MAX_IOVECS = 1024;
// The VLAN tag a frame may carry beyond the MTU and the Ethernet header.
constexpr std::size_t VLAN_SLACK = VLAN_TAG_BYTES;

// Appends the bytes [from, to) of the byte sequence `src` describes to `out`.
void append_range(const IovecList& src, std::size_t from, std::size_t to, IovecList& out)
{
    std::size_t at = 0;
    for (const iovec& v : src) {
        const std::size_t end = at + v.iov_len;
        if (end > from && at < to && out.size() < MAX_IOVECS) {
            const std::size_t lo = std::max(at, from);
            const std::size_t hi = std::min(end, to);
            out.push_back(iovec { static_cast<std::uint8_t*>(v.iov_base) + (lo - at), hi - lo });
        }
        at = end;
        if (at >= to) {
            break;
        }
    }
}

} // namespace

std::size_t NetDevice::max_rx_frame() const noexcept
{
    // §5.1.6.3.1: 65550 bytes once the driver takes any receive segmentation offload, else an
    // MTU-sized frame with its Ethernet header and a VLAN tag.
    const Offloads g = guest_offloads();
    if (g.tso4 || g.tso6 || g.ufo || g.uso) {
        return MAX_FRAME;
    }
    return ETH_HEADER_BYTES + VLAN_SLACK + options_.mtu;
}

void NetDevice::arm_rx_watch(std::size_t b) noexcept
{
    if (b >= rx_armed_.size() || rx_armed_[b] || !link_up_) {
        return;
    }
    rx_armed_[b] = true;
    backend_->watch_readable(b, [weak = std::weak_ptr<NetDevice*>(self_), gen = generation_, b] {
        auto self = weak.lock();
        if (!self || (*self)->generation_ != gen) {
            return;
        }
        (*self)->rx_armed_[b] = false;
        (*self)->receive(b);
    });
}

void NetDevice::receive(std::size_t b) noexcept
{
    if (b >= rx_armed_.size() || !link_up_) {
        return;
    }
    rx_touched_.clear();
    std::size_t budget = RX_BUDGET;
    while (budget > 0) {
        const bool more = steering() ? receive_steered(b) : receive_direct(b, rx_pair_of(b));
        if (!more) {
            break;
        }
        --budget;
    }
    if (budget == 0) {
        arm_rx_watch(b); // fires at once when more is waiting, after the loop's other work
    }
    for (std::uint16_t pair : rx_touched_) {
        if (pairs_[pair].rx) {
            pairs_[pair].rx->notify_if_needed();
        }
    }
}

// Takes buffers from `q` for one frame: with mergeable buffers as many as its largest size
// needs, else one. Their writable bytes, in order, become layout_; their sizes chain_caps_.
std::size_t NetDevice::take_rx_buffers(Queue& q, std::size_t need) noexcept
{
    rx_chains_.clear();
    chain_caps_.clear();
    layout_.clear();
    std::size_t cap = 0;
    while (cap < need && rx_chains_.size() < MAX_RX_CHAINS) {
        auto chain = q.pop();
        if (!chain) {
            break;
        }
        const std::size_t n = chain->writer().available();
        for (const iovec& v : chain->writer().iovecs(n)) {
            layout_.push_back(v);
        }
        cap += n;
        chain_caps_.push_back(n);
        rx_chains_.push_back(std::move(*chain));
        if (!mrg_rxbuf_) {
            break;
        }
    }
    return cap;
}

void NetDevice::return_rx_buffers(Queue& q, std::size_t keep) noexcept
{
    // The newest first: unpop() takes them back in the reverse order of popping.
    while (rx_chains_.size() > keep) {
        (void)q.unpop(std::move(rx_chains_.back()));
        rx_chains_.pop_back();
    }
}

bool NetDevice::frame_acceptable(const VirtioNetHdrV1* from_backend, std::size_t frame_len,
    std::span<const std::uint8_t> head) noexcept
{
    const Offloads g = guest_offloads();
    std::uint8_t kind = VIRTIO_NET_HDR_GSO_NONE;
    if (from_backend != nullptr) {
        // The backend was told what the guest takes (set_receive_offloads); anything else it
        // hands over is dropped here rather than given to a driver that did not ask for it.
        kind = from_backend->gso_type & static_cast<std::uint8_t>(~VIRTIO_NET_HDR_GSO_ECN);
        const bool csum_ok = (from_backend->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) == 0 || g.csum;
        if (!g.covers(from_backend->gso_type) || !csum_ok) {
            ++drops_.rx_too_big;
            return false;
        }
    }
    // §5.1.6.4.1: nothing larger than the MTU without segmentation.
    if (kind == VIRTIO_NET_HDR_GSO_NONE && frame_len > ETH_HEADER_BYTES + VLAN_SLACK + options_.mtu) {
        ++drops_.rx_too_big;
        return false;
    }
    if (!filter_.accept(head)) {
        ++drops_.rx_filtered;
        return false;
    }
    return true;
}

bool NetDevice::receive_direct(std::size_t b, std::uint16_t pair) noexcept
{
    Pair& p = pairs_[pair];
    if (!p.rx) {
        rx_blocked_[b] = true;
        return false;
    }
    Queue& q = *p.rx;
    const std::size_t cap = take_rx_buffers(q, hdr_len_ + max_rx_frame());
    if (rx_chains_.empty()) {
        // Out of buffers: the driver's next notification resumes this queue (§5.1.6.3).
        if (q.enable_notification()) {
            q.disable_notification();
            return true; // buffers came meanwhile
        }
        rx_blocked_[b] = true;
        ++drops_.rx_no_buffers;
        return false;
    }
    if (cap < hdr_len_ + ETH_HEADER_BYTES) {
        // Buffers that cannot hold a header and an Ethernet header are useless; used empty,
        // so that they do not come back forever.
        for (auto& c : rx_chains_) {
            q.add_used(std::move(c), 0);
        }
        rx_chains_.clear();
        ++drops_.rx_too_big;
        return true;
    }
    const std::size_t bh = backend_->vnet_hdr() ? sizeof(VirtioNetHdrV1) : 0;
    io_.clear();
    append_range(layout_, 0, bh, io_);
    append_range(layout_, hdr_len_, cap, io_);
    const IoResult res = backend_->receive(b, io_);
    if (res.status != IoResult::Status::done) {
        return_rx_buffers(q, 0);
        if (res.status == IoResult::Status::again) {
            arm_rx_watch(b);
        } else {
            ++drops_.rx_backend;
        }
        return false;
    }
    if (res.bytes < bh + ETH_HEADER_BYTES || res.bytes - bh + hdr_len_ > cap) {
        // Too short to be a frame, or cut to fit the buffers: it is gone from the backend.
        return_rx_buffers(q, 0);
        ++drops_.rx_too_big;
        return true;
    }
    const std::size_t frame_len = res.bytes - bh;
    VirtioNetHdrV1 from_backend {};
    if (bh != 0) {
        copy_from_iovecs(layout_, 0, std::span(reinterpret_cast<std::uint8_t*>(&from_backend), sizeof(from_backend)));
    }
    const std::span<std::uint8_t> head(head_.data(), std::min(frame_len, head_.size()));
    copy_from_iovecs(layout_, hdr_len_, head);
    if (!frame_acceptable(bh != 0 ? &from_backend : nullptr, frame_len, head)) {
        return_rx_buffers(q, 0);
        return true;
    }
    std::optional<HashResult> hash;
    if (hash_report_) {
        if (const auto& cfg = rss_ ? rss_ : hash_; cfg && cfg->hash_types != 0) {
            hash = cfg->hash(head, parse_frame(head, frame_len));
        }
    }
    deliver(q, pair, frame_len, bh != 0 ? &from_backend : nullptr, hash);
    return true;
}

bool NetDevice::receive_steered(std::size_t b) noexcept
{
    const std::size_t bh = backend_->vnet_hdr() ? sizeof(VirtioNetHdrV1) : 0;
    const iovec all { bounce_.data(), bh + MAX_FRAME };
    const IoResult res = backend_->receive(b, std::span(&all, 1));
    if (res.status != IoResult::Status::done) {
        if (res.status == IoResult::Status::again) {
            arm_rx_watch(b);
        } else {
            ++drops_.rx_backend;
        }
        return false;
    }
    if (res.bytes < bh + ETH_HEADER_BYTES || res.bytes > bh + MAX_FRAME) {
        ++drops_.rx_too_big;
        return true;
    }
    const std::size_t frame_len = res.bytes - bh;
    VirtioNetHdrV1 from_backend {};
    if (bh != 0) {
        std::memcpy(&from_backend, bounce_.data(), sizeof(from_backend));
    }
    const std::span<const std::uint8_t> frame(bounce_.data() + bh, frame_len);
    const std::span<const std::uint8_t> head = frame.first(std::min(frame_len, head_.size()));
    if (!frame_acceptable(bh != 0 ? &from_backend : nullptr, frame_len, head)) {
        return true;
    }
    // §5.1.6.4.3: the hash picks the queue through the indirection table; a frame without a
    // hash goes to the unclassified queue.
    const HashResult hash = rss_->hash(head, parse_frame(head, frame_len));
    const std::uint16_t pair = rss_->select_queue(hash);
    if (pair >= pairs_.size() || !pairs_[pair].rx) {
        ++drops_.rx_no_buffers;
        return true;
    }
    Queue& q = *pairs_[pair].rx;
    const std::size_t cap = take_rx_buffers(q, hdr_len_ + frame_len);
    if (cap < hdr_len_ + frame_len) {
        // The queue this frame belongs to has no room: it is lost, as on a real NIC whose ring
        // is full; other queues go on.
        return_rx_buffers(q, 0);
        ++drops_.rx_no_buffers;
        return true;
    }
    copy_to_iovecs(layout_, hdr_len_, frame);
    deliver(q, pair, frame_len, bh != 0 ? &from_backend : nullptr,
        hash_report_ ? std::optional<HashResult>(hash) : std::nullopt);
    return true;
}

void NetDevice::deliver(Queue& q, std::uint16_t pair, std::size_t frame_len, const VirtioNetHdrV1* from_backend,
    const std::optional<HashResult>& hash) noexcept
{
    // The buffers the frame fills, in order; the rest go back to the ring.
    std::size_t used = 0;
    for (std::size_t need = hdr_len_ + frame_len, have = 0; have < need; ++used) {
        have += chain_caps_[used];
    }
    return_rx_buffers(q, used);

    VirtioNetHdrV1Hash h {};
    if (from_backend != nullptr) {
        h.hdr = *from_backend;
    }
    // §5.1.6.4: flags only with GUEST_CSUM; num_buffers is how many buffers the frame took
    // (1 without mergeable buffers).
    if (!guest_offloads().csum) {
        h.hdr.flags = 0;
    }
    h.hdr.flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
    h.hdr.num_buffers = le16(static_cast<std::uint16_t>(used));
    if (hash && hash->calculated()) {
        h.hash_value = le32(hash->value);
        h.hash_report = le16(hash->report);
    }
    copy_to_iovecs(layout_, 0, std::span(reinterpret_cast<const std::uint8_t*>(&h), hdr_len_));

    std::size_t left = hdr_len_ + frame_len;
    for (std::size_t i = 0; i < used; ++i) {
        const std::size_t n = std::min(left, chain_caps_[i]);
        q.stage_used(std::move(rx_chains_[i]), static_cast<std::uint32_t>(n));
        left -= n;
    }
    rx_chains_.clear();
    q.publish_used();
    auto& c = pairs_[pair].counters;
    c.rx_frames += 1;
    c.rx_bytes += frame_len;
    if (std::find(rx_touched_.begin(), rx_touched_.end(), pair) == rx_touched_.end()) {
        rx_touched_.push_back(pair);
    }
}

} // namespace vmm::virtio::net
