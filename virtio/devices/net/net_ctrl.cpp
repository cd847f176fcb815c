// SPDX-License-Identifier: Apache-2.0
// NetDevice: the control queue (virtio 1.2 §5.1.6.5).
#include <array>

#include "virtio/devices/net/net_device.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio::net {
namespace {

// The largest command data accepted: a MAC table of a few thousand addresses. Anything longer
// is answered VIRTIO_NET_ERR without being read.
constexpr std::size_t MAX_COMMAND_DATA = 64 * 1024;

} // namespace

// The control queue's one error status, and its command classes in their numbering
// (VIRTIO_NET_CTRL_RX = 0 ... GUEST_OFFLOADS = 5), for injected faults.
const std::array<ErrorStatus, 1> NET_CTRL_STATUSES { { { "err", VIRTIO_NET_ERR } } };
const std::array<std::string_view, 6> NET_CTRL_CLASSES { "rx", "mac", "vlan", "announce", "mq", "guest_offloads" };

void NetDevice::control() noexcept
{
    if (!ctrl_) {
        return;
    }
    Queue& q = *ctrl_;
    std::vector<std::uint8_t> data;
    while (auto chain = q.pop()) {
        Reader& r = chain->reader();
        Writer& w = chain->writer();
        std::uint8_t ack = VIRTIO_NET_ERR;
        // §5.1.6.5: class and command, the command's data, then one writable ack byte. The
        // data's size is the readable rest; each command checks it is exactly its own.
        VirtioNetCtrlHdr hdr {};
        if (w.available() >= 1 && r.available() >= sizeof(hdr) && r.available() - sizeof(hdr) <= MAX_COMMAND_DATA
            && r.read(std::as_writable_bytes(std::span(&hdr, 1)))) {
            data.resize(r.available());
            if (r.read(std::as_writable_bytes(std::span(data)))) {
                const auto injected = status_faults_.empty() ? std::nullopt : status_faults_.pick(hdr.ctrl_class);
                ack = injected ? *injected : control_command(hdr.ctrl_class, hdr.command, data);
            }
        }
        if (ack != VIRTIO_NET_OK) {
            ++drops_.ctrl_errors;
            VMM_LOG_GUEST(spdlog::level::debug, "virtio-net: control command {}.{} ({} bytes) failed",
                hdr.ctrl_class, hdr.command, data.size());
        }
        if (w.available() >= 1) {
            (void)w.write(std::as_bytes(std::span(&ack, 1)));
        }
        q.add_used(std::move(*chain));
    }
    q.notify_if_needed();
}

std::uint8_t NetDevice::control_command(std::uint8_t cls, std::uint8_t cmd, std::span<const std::uint8_t> data) noexcept
{
    const std::uint64_t f = acked_features();
    switch (cls) {
    case VIRTIO_NET_CTRL_RX: {
        // §5.1.6.5.1: PROMISC and ALLMULTI need CTRL_RX, the other four CTRL_RX_EXTRA.
        const bool allowed = cmd <= VIRTIO_NET_CTRL_RX_ALLMULTI ? has_feature(f, VIRTIO_NET_F_CTRL_RX)
                                                                : has_feature(f, VIRTIO_NET_F_CTRL_RX_EXTRA);
        const auto on = parse_rx_mode_switch(data);
        return allowed && on && filter_.set_rx_mode(cmd, *on) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
    }
    case VIRTIO_NET_CTRL_MAC:
        if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET && has_feature(f, VIRTIO_NET_F_CTRL_RX)) {
            const auto table = parse_mac_table_set(data);
            if (!table) {
                return VIRTIO_NET_ERR;
            }
            filter_.set_mac_table(*table);
            return VIRTIO_NET_OK;
        }
        if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET && has_feature(f, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
            const auto mac = parse_mac_addr_set(data);
            if (!mac) {
                return VIRTIO_NET_ERR;
            }
            // §5.1.6.5.2: the mac field shows the new address before the command completes.
            set_config_obj(offsetof(VirtioNetConfig, mac), *mac);
            filter_.set_mac(*mac);
            return VIRTIO_NET_OK;
        }
        return VIRTIO_NET_ERR;
    case VIRTIO_NET_CTRL_VLAN: {
        const auto id = parse_vlan_id(data);
        if (!has_feature(f, VIRTIO_NET_F_CTRL_VLAN) || !id) {
            return VIRTIO_NET_ERR;
        }
        if (cmd == VIRTIO_NET_CTRL_VLAN_ADD) {
            return filter_.add_vlan(*id) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
        }
        if (cmd == VIRTIO_NET_CTRL_VLAN_DEL) {
            return filter_.remove_vlan(*id) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
        }
        return VIRTIO_NET_ERR;
    }
    case VIRTIO_NET_CTRL_ANNOUNCE:
        // §5.1.6.5.4: the device clears ANNOUNCE before it uses the ack's buffer.
        if (cmd != VIRTIO_NET_CTRL_ANNOUNCE_ACK || !data.empty() || !has_feature(f, VIRTIO_NET_F_GUEST_ANNOUNCE)) {
            return VIRTIO_NET_ERR;
        }
        set_status_bits(0, VIRTIO_NET_S_ANNOUNCE);
        return VIRTIO_NET_OK;
    case VIRTIO_NET_CTRL_MQ:
        return control_mq(cmd, data);
    case VIRTIO_NET_CTRL_GUEST_OFFLOADS:
        if (cmd != VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET || !has_feature(f, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)) {
            return VIRTIO_NET_ERR;
        }
        return control_offloads(data);
    default:
        return VIRTIO_NET_ERR;
    }
}

std::uint8_t NetDevice::control_mq(std::uint8_t cmd, std::span<const std::uint8_t> data) noexcept
{
    const std::uint64_t f = acked_features();
    const RssLimits limits {
        .queue_pairs = options_.queue_pairs,
        .max_key_size = static_cast<std::uint8_t>(RSS_MAX_KEY_SIZE),
        .max_indirection_table_length = RSS_MAX_TABLE_LENGTH,
        .supported_hash_types = VIRTIO_NET_RSS_HASH_TYPE_ALL,
    };
    switch (cmd) {
    case VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: {
        // §5.1.6.5.5: 1..max_virtqueue_pairs; automatic steering from now on.
        if (!has_feature(f, VIRTIO_NET_F_MQ) || data.size() != sizeof(VirtioNetCtrlMq)) {
            return VIRTIO_NET_ERR;
        }
        const std::uint16_t n = static_cast<std::uint16_t>(data[0] | data[1] << 8);
        if (n < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || n > options_.queue_pairs) {
            return VIRTIO_NET_ERR;
        }
        active_pairs_ = n;
        rss_.reset();
        return VIRTIO_NET_OK;
    }
    case VIRTIO_NET_CTRL_MQ_RSS_CONFIG: {
        if (!has_feature(f, VIRTIO_NET_F_RSS)) {
            return VIRTIO_NET_ERR;
        }
        auto cfg = parse_rss_config(data, limits);
        if (!cfg) {
            VMM_LOG_GUEST(spdlog::level::warn, "virtio-net: RSS config refused: {}", cfg.error().describe());
            return VIRTIO_NET_ERR;
        }
        // §5.1.6.5.7.1: max_tx_vq is how many transmit queues the driver uses; the table names
        // the receive queues.
        active_pairs_ = std::max<std::uint16_t>(1, cfg->max_tx_vq);
        for (std::uint16_t qi : cfg->indirection_table) {
            active_pairs_ = std::max<std::uint16_t>(active_pairs_, static_cast<std::uint16_t>(qi + 1));
        }
        active_pairs_ = std::min(active_pairs_, options_.queue_pairs);
        // An all-zero hash_types turns RSS off (Linux does so when it disables rxhash).
        if (cfg->hash_types == 0) {
            rss_.reset();
        } else {
            rss_ = std::move(*cfg);
        }
        return VIRTIO_NET_OK;
    }
    case VIRTIO_NET_CTRL_MQ_HASH_CONFIG: {
        if (!has_feature(f, VIRTIO_NET_F_HASH_REPORT)) {
            return VIRTIO_NET_ERR;
        }
        auto cfg = parse_hash_config(data, limits);
        if (!cfg) {
            VMM_LOG_GUEST(spdlog::level::warn, "virtio-net: hash config refused: {}", cfg.error().describe());
            return VIRTIO_NET_ERR;
        }
        hash_ = std::move(*cfg);
        return VIRTIO_NET_OK;
    }
    default:
        return VIRTIO_NET_ERR;
    }
}

std::uint8_t NetDevice::control_offloads(std::span<const std::uint8_t> data) noexcept
{
    // §5.1.6.5.8: a le64 of GUEST_* feature bits, a subset of the negotiated ones.
    if (data.size() != 8) {
        return VIRTIO_NET_ERR;
    }
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        bits |= std::uint64_t { data[i] } << (8 * i);
    }
    const std::uint64_t negotiated = acked_features() & GUEST_OFFLOAD_MASK;
    if ((bits & ~negotiated) != 0) {
        return VIRTIO_NET_ERR;
    }
    guest_offload_bits_ = bits;
    apply_guest_offloads();
    return VIRTIO_NET_OK;
}

} // namespace vmm::virtio::net
