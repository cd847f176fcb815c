// SPDX-License-Identifier: Apache-2.0
// NetDevice: features, configuration, activation, reset and the host side.
#include "virtio/devices/net/net_device.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::net {
namespace {

constexpr std::uint64_t bit(unsigned b) noexcept
{
    return feature_bit(b);
}

std::uint64_t offered_features(const NetOptions& o, const NetBackend& backend) noexcept
{
    std::uint64_t f = bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX) | bit(VIRTIO_F_RING_PACKED)
        | bit(VIRTIO_F_RING_RESET) | bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_MTU)
        | bit(VIRTIO_NET_F_SPEED_DUPLEX) | bit(VIRTIO_NET_F_MRG_RXBUF) | bit(VIRTIO_NET_F_CTRL_VQ)
        | bit(VIRTIO_NET_F_CTRL_RX) | bit(VIRTIO_NET_F_CTRL_RX_EXTRA) | bit(VIRTIO_NET_F_CTRL_VLAN)
        | bit(VIRTIO_NET_F_GUEST_ANNOUNCE) | bit(VIRTIO_NET_F_CTRL_MAC_ADDR);
    if (o.queue_pairs > 1) {
        f |= bit(VIRTIO_NET_F_MQ);
    }
    if (o.rss) {
        f |= bit(VIRTIO_NET_F_RSS) | bit(VIRTIO_NET_F_HASH_REPORT);
    }
    if (!o.offloads) {
        return f;
    }
    // Transmit offloads are always honoured: the backend takes them, or the device completes
    // the checksum and segments in software (§5.1.3.1: each needs CSUM).
    f |= bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6)
        | bit(VIRTIO_NET_F_HOST_ECN) | bit(VIRTIO_NET_F_HOST_UFO) | bit(VIRTIO_NET_F_HOST_USO)
        | bit(VIRTIO_NET_F_GUEST_HDRLEN);
    // Receive offloads only as far as the backend can produce them.
    const Offloads g = backend.vnet_hdr() ? backend.offloads() : Offloads {};
    if (g.csum) {
        f |= bit(VIRTIO_NET_F_GUEST_CSUM) | bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
        f |= g.tso4 ? bit(VIRTIO_NET_F_GUEST_TSO4) : 0;
        f |= g.tso6 ? bit(VIRTIO_NET_F_GUEST_TSO6) : 0;
        f |= g.ecn && (g.tso4 || g.tso6) ? bit(VIRTIO_NET_F_GUEST_ECN) : 0;
        f |= g.ufo ? bit(VIRTIO_NET_F_GUEST_UFO) : 0;
        f |= g.uso ? bit(VIRTIO_NET_F_GUEST_USO4) | bit(VIRTIO_NET_F_GUEST_USO6) : 0;
    }
    return f;
}

std::vector<std::uint16_t> queue_sizes(const NetOptions& o)
{
    // Two per pair and the control queue (§5.1.2).
    std::vector<std::uint16_t> sizes(std::size_t { o.queue_pairs } * 2, o.queue_size);
    sizes.push_back(64);
    return sizes;
}

std::string format_mac(const MacAddress& m)
{
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

} // namespace

NetDevice::NetDevice(std::unique_ptr<NetBackend> backend, NetOptions options)
    : DeviceBase(DeviceType::net, queue_sizes(options), offered_features(options, *backend), sizeof(VirtioNetConfig))
    , backend_(std::move(backend))
    , options_(options)
    , filter_(options.mac)
    , link_up_(backend_->link_up())
    , self_(std::make_shared<NetDevice*>(this))
    , bounce_(MAX_FRAME + sizeof(VirtioNetHdrV1Hash))
    , segment_(MAX_FRAME + 64)
{
    pairs_.resize(options_.queue_pairs);
    VirtioNetConfig cfg {};
    cfg.mac = options_.mac;
    cfg.status = le16(link_up_ ? VIRTIO_NET_S_LINK_UP : 0);
    cfg.max_virtqueue_pairs = le16(options_.queue_pairs);
    cfg.mtu = le16(options_.mtu);
    cfg.speed = le32(options_.speed);
    cfg.duplex = options_.duplex;
    cfg.rss_max_key_size = static_cast<std::uint8_t>(RSS_MAX_KEY_SIZE);
    cfg.rss_max_indirection_table_length = le16(RSS_MAX_TABLE_LENGTH);
    cfg.supported_hash_types = le32(VIRTIO_NET_RSS_HASH_TYPE_ALL);
    set_config_obj(0, cfg);
    backend_->on_link_change([weak = std::weak_ptr<NetDevice*>(self_)](bool up) {
        if (auto self = weak.lock()) {
            (*self)->set_link(up);
        }
    });
}

NetDevice::~NetDevice()
{
    backend_->stop_watching();
    self_.reset();
}

Result<> NetDevice::activate(ActivationContext ctx)
{
    const std::uint64_t f = acked_features();
    // §5.1.2: N pairs with MQ or RSS, else one.
    const std::uint16_t pairs = has_feature(f, VIRTIO_NET_F_MQ) || has_feature(f, VIRTIO_NET_F_RSS) ? options_.queue_pairs : 1;
    const bool ctrl = has_feature(f, VIRTIO_NET_F_CTRL_VQ);
    for (auto& p : pairs_) {
        p.rx.reset();
        p.tx.reset();
    }
    ctrl_.reset();
    for (auto& q : ctx.queues) {
        const std::uint16_t i = q.index();
        if (ctrl && i == 2 * pairs) {
            ctrl_.emplace(std::move(q));
        } else if (i < 2 * pairs) {
            auto& slot = i % 2 == 0 ? pairs_[i / 2].rx : pairs_[i / 2].tx;
            slot.emplace(std::move(q));
        }
        // A queue beyond the negotiated ones stays unused.
    }
    if (!pairs_[0].rx || !pairs_[0].tx) {
        return fail(Errc::invalid_argument, "virtio-net needs receiveq1 and transmitq1 enabled");
    }
    hash_report_ = has_feature(f, VIRTIO_NET_F_HASH_REPORT);
    hdr_len_ = hash_report_ ? sizeof(VirtioNetHdrV1Hash) : sizeof(VirtioNetHdrV1);
    mrg_rxbuf_ = has_feature(f, VIRTIO_NET_F_MRG_RXBUF);
    guest_offload_bits_ = f & GUEST_OFFLOAD_MASK;
    active_pairs_ = 1; // §5.1.6.5.5: receiveq1 only, until VQ_PAIRS_SET
    filter_.reset();
    filter_.set_vlan_filtering(has_feature(f, VIRTIO_NET_F_CTRL_VLAN));
    rss_.reset();
    hash_.reset();
    loop_ = ctx.loop;
    set_interrupt(&ctx.interrupt);
    apply_guest_offloads();
    rx_armed_.assign(backend_->queues(), false);
    rx_blocked_.assign(backend_->queues(), false);
    if (announce_pending_) {
        announce_pending_ = false;
        (void)announce();
    }
    // Receive buffers are taken when frames come; the driver's notifications are only wanted
    // once they run out (receive_direct() turns them on then).
    for (auto& p : pairs_) {
        if (p.rx) {
            p.rx->disable_notification();
        }
    }
    for (std::size_t b = 0; b < backend_->queues(); ++b) {
        arm_rx_watch(b);
    }
    return {};
}

void NetDevice::reset() noexcept
{
    ++generation_;
    backend_->stop_watching();
    for (auto& p : pairs_) {
        p.rx.reset();
        p.tx.reset();
        p.tx_waiting = false;
    }
    ctrl_.reset();
    rx_armed_.clear();
    rx_blocked_.clear();
    rss_.reset();
    hash_.reset();
    active_pairs_ = 1;
    filter_.reset();
    // §5.1.4: the MAC a driver set with VIRTIO_NET_CTRL_MAC_ADDR_SET lasts until reset, and so
    // does an announcement it did not acknowledge; the link is the host's and stays as it is.
    filter_.set_mac(options_.mac);
    set_config_obj(offsetof(VirtioNetConfig, mac), options_.mac);
    set_config_obj(offsetof(VirtioNetConfig, status), le16(link_up_ ? VIRTIO_NET_S_LINK_UP : 0));
    reset_base();
}

void NetDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    const std::size_t pair = queue_index / 2;
    if (ctrl_ && queue_index == ctrl_->index()) {
        control();
    } else if (pair < pairs_.size() && queue_index % 2 == 1) {
        transmit(static_cast<std::uint16_t>(pair));
    } else if (pair < pairs_.size()) {
        // New receive buffers: every backend queue that stopped for want of them goes on.
        if (pairs_[pair].rx) {
            pairs_[pair].rx->disable_notification();
        }
        for (std::size_t b = 0; b < rx_blocked_.size(); ++b) {
            if (rx_blocked_[b]) {
                rx_blocked_[b] = false;
                receive(b);
            }
        }
    }
}

void NetDevice::reset_queue(std::uint16_t queue_index) noexcept
{
    // §2.6.1: nothing of the queue is kept. Nothing is held across loop turns either, so
    // dropping the Queue is the whole of it.
    const std::size_t pair = queue_index / 2;
    if (ctrl_ && queue_index == ctrl_->index()) {
        ctrl_.reset();
    } else if (pair < pairs_.size()) {
        (queue_index % 2 == 0 ? pairs_[pair].rx : pairs_[pair].tx).reset();
        if (queue_index % 2 == 1) {
            pairs_[pair].tx_waiting = false;
        }
    }
}

Result<> NetDevice::enable_queue(Queue queue)
{
    const std::uint16_t i = queue.index();
    const std::size_t pair = i / 2;
    if (pair < pairs_.size() && !(ctrl_ && i == ctrl_->index())) {
        (i % 2 == 0 ? pairs_[pair].rx : pairs_[pair].tx).emplace(std::move(queue));
        return {};
    }
    if (has_feature(acked_features(), VIRTIO_NET_F_CTRL_VQ)) {
        ctrl_.emplace(std::move(queue));
        return {};
    }
    return fail(Errc::invalid_argument, "virtio-net has no queue {}", i);
}

bool NetDevice::on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    // Every field is read-only for a VERSION_1 driver (§5.1.4); the MAC changes only through
    // VIRTIO_NET_CTRL_MAC_ADDR_SET.
    VMM_LOG_GUEST(spdlog::level::debug, "virtio-net: driver wrote {} bytes of read-only config at {:#x}", in.size(),
        offset);
    return false;
}

std::uint16_t NetDevice::rx_pair_of(std::size_t backend_queue) const noexcept
{
    return static_cast<std::uint16_t>(backend_queue % active_pairs_);
}

std::size_t NetDevice::backend_queue_of(std::uint16_t pair) const noexcept
{
    return pair % backend_->queues();
}

bool NetDevice::steering() const noexcept
{
    return rss_ && !rss_->indirection_table.empty() && active_pairs_ > 1;
}

Offloads NetDevice::guest_offloads() const noexcept
{
    const std::uint64_t g = guest_offload_bits_;
    Offloads o;
    o.csum = has_feature(g, VIRTIO_NET_F_GUEST_CSUM);
    o.tso4 = o.csum && has_feature(g, VIRTIO_NET_F_GUEST_TSO4);
    o.tso6 = o.csum && has_feature(g, VIRTIO_NET_F_GUEST_TSO6);
    o.ecn = (o.tso4 || o.tso6) && has_feature(g, VIRTIO_NET_F_GUEST_ECN);
    o.ufo = o.csum && has_feature(g, VIRTIO_NET_F_GUEST_UFO);
    o.uso = o.csum && has_feature(g, VIRTIO_NET_F_GUEST_USO4) && has_feature(g, VIRTIO_NET_F_GUEST_USO6);
    return o;
}

void NetDevice::apply_guest_offloads() noexcept
{
    if (auto r = backend_->set_receive_offloads(guest_offloads()); !r) {
        spdlog::warn("virtio-net: {}: {}", backend_->describe(), r.error().describe());
    }
}

void NetDevice::set_status_bits(std::uint16_t set, std::uint16_t clear) noexcept
{
    std::array<std::byte, 2> raw {};
    read_config(offsetof(VirtioNetConfig, status), raw);
    std::uint16_t status = static_cast<std::uint16_t>(std::to_integer<unsigned>(raw[0]) | std::to_integer<unsigned>(raw[1]) << 8);
    status = static_cast<std::uint16_t>((status | set) & ~clear);
    update_config_obj(offsetof(VirtioNetConfig, status), le16(status));
}

void NetDevice::set_link(bool up) noexcept
{
    if (up == link_up_) {
        return;
    }
    link_up_ = up;
    if (up) {
        set_status_bits(VIRTIO_NET_S_LINK_UP, 0);
        for (std::size_t b = 0; b < rx_armed_.size(); ++b) {
            arm_rx_watch(b);
        }
    } else {
        set_status_bits(0, VIRTIO_NET_S_LINK_UP);
    }
}

Result<> NetDevice::announce() noexcept
{
    if (!has_feature(acked_features(), VIRTIO_NET_F_GUEST_ANNOUNCE)) {
        if (pairs_[0].rx) {
            return fail(Errc::unsupported, "the guest's driver did not negotiate VIRTIO_NET_F_GUEST_ANNOUNCE");
        }
        announce_pending_ = true; // asked before the driver came up: at activation
        return {};
    }
    set_status_bits(VIRTIO_NET_S_ANNOUNCE, 0);
    return {};
}

nlohmann::json NetDevice::status() const
{
    nlohmann::json pairs = nlohmann::json::array();
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
        const auto& c = pairs_[i].counters;
        pairs.push_back({ { "pair", i }, { "rx_frames", c.rx_frames }, { "rx_bytes", c.rx_bytes },
            { "tx_frames", c.tx_frames }, { "tx_bytes", c.tx_bytes }, { "rx_enabled", pairs_[i].rx.has_value() },
            { "tx_enabled", pairs_[i].tx.has_value() } });
    }
    const Offloads g = guest_offloads();
    nlohmann::json rss = nullptr;
    if (const auto& r = rss_ ? rss_ : hash_; r) {
        rss = { { "steering", steering() }, { "hash_types", fmt::format("{:#x}", r->hash_types) },
            { "table_length", r->indirection_table.size() }, { "unclassified_queue", r->unclassified_queue },
            { "key_length", r->key_length }, { "table", r->indirection_table } };
    }
    return {
        { "backend", backend_->status() },
        { "mac", format_mac(filter_.mac()) },
        { "link_up", link_up_ },
        { "mtu", options_.mtu },
        { "queue_pairs", options_.queue_pairs },
        { "active_pairs", active_pairs_ },
        { "header_bytes", hdr_len_ },
        { "mergeable_rx_buffers", mrg_rxbuf_ },
        { "hash_report", hash_report_ },
        { "guest_offloads", { { "csum", g.csum }, { "tso4", g.tso4 }, { "tso6", g.tso6 }, { "ecn", g.ecn },
                                { "ufo", g.ufo }, { "uso", g.uso } } },
        { "rss", rss },
        { "filter", { { "unicast_entries", filter_.unicast_entries() },
                        { "multicast_entries", filter_.multicast_entries() } } },
        { "pairs", pairs },
        { "drops", { { "tx_malformed", drops_.tx_malformed }, { "tx_offload", drops_.tx_offload },
                       { "tx_backend", drops_.tx_backend }, { "tx_link_down", drops_.tx_link_down },
                       { "rx_no_buffers", drops_.rx_no_buffers }, { "rx_too_big", drops_.rx_too_big },
                       { "rx_filtered", drops_.rx_filtered }, { "rx_backend", drops_.rx_backend },
                       { "ctrl_errors", drops_.ctrl_errors } } },
    };
}

} // namespace vmm::virtio::net
