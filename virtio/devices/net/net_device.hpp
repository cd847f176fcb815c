// SPDX-License-Identifier: Apache-2.0
// NetDevice: virtio-net (virtio 1.2 §5.1) over a NetBackend.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "virtio/device_base.hpp"
#include "virtio/status_faults.hpp"
#include "virtio/devices/net/frame.hpp"
#include "virtio/devices/net/net_backend.hpp"
#include "virtio/devices/net/rss.hpp"
#include "virtio/devices/net/rx_filter.hpp"
#include "virtio/spec/net.hpp"

namespace vmm::virtio::net {

// What the device offers; the config parser fills it (net_config.hpp) within these bounds.
struct NetOptions {
    static constexpr std::uint16_t MAX_QUEUE_PAIRS = 64;
    static constexpr std::uint16_t MAX_QUEUE_SIZE = 4096;
    static constexpr std::uint16_t MIN_MTU = 68;   // §5.1.4: mtu 68..65535
    static constexpr std::uint16_t MAX_MTU = 65535 - 14 - 4;

    MacAddress mac {};
    std::uint16_t queue_pairs = 1;  // MQ offered above 1
    std::uint16_t queue_size = 256; // power of two
    std::uint16_t mtu = 1500;
    std::uint32_t speed = VIRTIO_NET_SPEED_UNKNOWN; // Mbit/s
    std::uint8_t duplex = VIRTIO_NET_DUPLEX_UNKNOWN;
    bool offloads = true; // checksum and segmentation offloads, both directions as possible
    bool rss = true;      // RSS and hash reporting
};

// Per queue pair, for the API's status.
struct PairCounters {
    std::uint64_t rx_frames = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_frames = 0;
    std::uint64_t tx_bytes = 0;
};

// Drops, by reason, for the API's status. Each is a frame the guest or the host sent that went
// nowhere, never an error of the VMM.
struct NetDrops {
    std::uint64_t tx_malformed = 0;   // no header, too short or too long, offload the driver may not ask for
    std::uint64_t tx_offload = 0;     // a checksum or segmentation request the frame contradicts
    std::uint64_t tx_backend = 0;     // the backend failed to send
    std::uint64_t tx_link_down = 0;   // sent while the link was down
    std::uint64_t rx_no_buffers = 0;  // not counted per frame: turns the guest had no buffers
    std::uint64_t rx_too_big = 0;     // did not fit the guest's buffers, or over the MTU without GSO
    std::uint64_t rx_filtered = 0;    // the receive filter (MAC, VLAN, rx mode) said no
    std::uint64_t rx_backend = 0;     // the backend failed to receive
    std::uint64_t ctrl_errors = 0;    // control commands answered VIRTIO_NET_ERR
};

// Queues: receiveq(k) = 2k, transmitq(k) = 2k + 1, controlq = 2 * queue_pairs (§5.1.2).
//
// Transmit: each frame is sent to the backend from the guest's buffers, with the driver's
// header checked against the negotiated offloads. A backend with virtio-net headers gets the
// frame as it is (a TSO frame stays one frame); for one without, the frame is copied once, its
// checksum completed and segmented in software. Receive: frames are read straight into the
// guest's buffers (several with VIRTIO_NET_F_MRG_RXBUF; the ones not needed go back to the
// ring), then filtered and given their header; with RSS steering on, a frame is first read
// into the device's bounce buffer, hashed, and copied to the queue the indirection table names.
// Everything runs on the loop thread; nothing is kept across loop turns except the queues.
// The control queue's error status and command classes, for injected faults (net_ctrl.cpp).
extern const std::array<ErrorStatus, 1> NET_CTRL_STATUSES;
extern const std::array<std::string_view, 6> NET_CTRL_CLASSES;

class NetDevice final : public DeviceBase {
public:
    NetDevice(std::unique_ptr<NetBackend> backend, NetOptions options);
    ~NetDevice() override;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    void reset_queue(std::uint16_t queue_index) noexcept override;
    [[nodiscard]] Result<> enable_queue(Queue queue) override;

    // ---- Host side (loop thread) ----
    // Sets the STATUS link bit and tells the driver (§5.1.4).
    void set_link(bool up) noexcept;
    [[nodiscard]] bool link_up() const noexcept { return link_up_; }
    // Asks the driver to announce itself (gratuitous ARP / unsolicited NA), §5.1.6.5.4.
    [[nodiscard]] Result<> announce() noexcept;
    [[nodiscard]] nlohmann::json status() const override;
    [[nodiscard]] const NetOptions& options() const noexcept { return options_; }
    [[nodiscard]] NetBackend& backend() noexcept { return *backend_; }
    [[nodiscard]] const NetDrops& drops() const noexcept { return drops_; }
    // Control commands answered VIRTIO_NET_ERR on purpose, by class (§5.1.6.5).
    [[nodiscard]] StatusFaults* status_faults() noexcept override { return &status_faults_; }
    [[nodiscard]] const PairCounters& counters(std::uint16_t pair) const noexcept { return pairs_.at(pair).counters; }
    [[nodiscard]] std::uint16_t active_pairs() const noexcept { return active_pairs_; }
    [[nodiscard]] const RxFilter& filter() const noexcept { return filter_; }
    [[nodiscard]] const std::optional<RssConfig>& rss() const noexcept { return rss_; }

    // The largest frame a guest may hand over or be given: 64 KiB of GSO payload plus headers
    // (§5.1.6.3.1: 65550 bytes).
    static constexpr std::size_t MAX_FRAME = 65550;
    // The GUEST_* features that say what the driver takes on receive (§5.1.6.5.8: the ones
    // VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET switches).
    static constexpr std::uint64_t GUEST_OFFLOAD_MASK = feature_bit(VIRTIO_NET_F_GUEST_CSUM)
        | feature_bit(VIRTIO_NET_F_GUEST_TSO4) | feature_bit(VIRTIO_NET_F_GUEST_TSO6)
        | feature_bit(VIRTIO_NET_F_GUEST_ECN) | feature_bit(VIRTIO_NET_F_GUEST_UFO)
        | feature_bit(VIRTIO_NET_F_GUEST_USO4) | feature_bit(VIRTIO_NET_F_GUEST_USO6);
    // rss_max_indirection_table_length (§5.1.4: at least 128).
    static constexpr std::uint16_t RSS_MAX_TABLE_LENGTH = 128;

private:
    struct Pair {
        std::optional<Queue> rx;
        std::optional<Queue> tx;
        bool tx_waiting = false; // the backend would block: a writable watch resumes transmit
        PairCounters counters;
    };

    bool on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept override;

    [[nodiscard]] std::uint16_t rx_pair_of(std::size_t backend_queue) const noexcept;
    [[nodiscard]] std::size_t backend_queue_of(std::uint16_t pair) const noexcept;
    [[nodiscard]] bool steering() const noexcept;
    [[nodiscard]] Offloads guest_offloads() const noexcept;
    void apply_guest_offloads() noexcept;
    void set_status_bits(std::uint16_t set, std::uint16_t clear) noexcept;

    // net_tx.cpp
    void transmit(std::uint16_t pair) noexcept;
    // true: the chain was consumed (sent or dropped); false: the backend would block.
    [[nodiscard]] bool transmit_one(std::uint16_t pair, DescriptorChain& chain) noexcept;
    [[nodiscard]] bool transmit_plain(std::uint16_t pair, const VirtioNetHdrV1& hdr, Reader& frame) noexcept;

    // net_rx.cpp
    [[nodiscard]] std::size_t max_rx_frame() const noexcept;
    void receive(std::size_t backend_queue) noexcept;
    // One frame from `backend_queue` straight into `pair`'s buffers. false: stop for now (the
    // backend is empty and a watch is armed, or the guest has no buffers).
    [[nodiscard]] bool receive_direct(std::size_t backend_queue, std::uint16_t pair) noexcept;
    // One frame through the bounce buffer, to the pair its RSS hash names.
    [[nodiscard]] bool receive_steered(std::size_t backend_queue) noexcept;
    [[nodiscard]] std::size_t take_rx_buffers(Queue& q, std::size_t need) noexcept;
    void return_rx_buffers(Queue& q, std::size_t keep) noexcept;
    [[nodiscard]] bool frame_acceptable(const VirtioNetHdrV1* from_backend, std::size_t frame_len,
        std::span<const std::uint8_t> head) noexcept;
    // The frame is in the buffers of rx_chains_ (layout_) after the header room: writes the
    // header, uses the buffers it takes and gives the rest back.
    void deliver(Queue& q, std::uint16_t pair, std::size_t frame_len, const VirtioNetHdrV1* from_backend,
        const std::optional<HashResult>& hash) noexcept;
    void arm_rx_watch(std::size_t backend_queue) noexcept;

    // net_ctrl.cpp
    void control() noexcept;
    [[nodiscard]] std::uint8_t control_command(std::uint8_t cls, std::uint8_t cmd, std::span<const std::uint8_t> data) noexcept;
    [[nodiscard]] std::uint8_t control_mq(std::uint8_t cmd, std::span<const std::uint8_t> data) noexcept;
    [[nodiscard]] std::uint8_t control_offloads(std::span<const std::uint8_t> data) noexcept;

    std::unique_ptr<NetBackend> backend_;
    NetOptions options_;
    std::vector<Pair> pairs_;
    std::optional<Queue> ctrl_;
    EventLoop* loop_ = nullptr;

    // Negotiated state (loop thread, from activation).
    std::size_t hdr_len_ = sizeof(VirtioNetHdrV1); // 12, or 20 with HASH_REPORT
    bool mrg_rxbuf_ = false;
    bool hash_report_ = false;
    std::uint64_t guest_offload_bits_ = 0; // GUEST_* features in force (CTRL_GUEST_OFFLOADS can narrow them)
    std::uint16_t active_pairs_ = 1;
    RxFilter filter_;
    std::optional<RssConfig> rss_;  // RSS steering (MQ_RSS_CONFIG) with a table
    std::optional<RssConfig> hash_; // hash reporting only (MQ_HASH_CONFIG)
    bool link_up_ = true;
    bool announce_pending_ = false;

    // Watches hold this weakly: one that fires after the device is gone or reset does nothing.
    std::shared_ptr<NetDevice*> self_;
    std::uint64_t generation_ = 0; // bumped by reset()
    // Per backend queue: a readable watch is armed; receiving stopped for want of buffers
    // (an rx notification resumes it).
    std::vector<bool> rx_armed_;
    std::vector<bool> rx_blocked_;

    std::vector<std::uint8_t> bounce_; // MAX_FRAME + header: steered receive, plain transmit
    std::vector<std::uint8_t> segment_; // one segment of a software-segmented frame
    std::uint32_t ipv6_frag_id_ = 0;    // identification of software IPv6 UFO fragments

    // Receive scratch, reused for every frame: the buffers taken, their sizes, their writable
    // bytes in order, what the backend reads into, the frame's first bytes, and the pairs that
    // got frames this turn.
    std::vector<DescriptorChain> rx_chains_;
    std::vector<std::size_t> chain_caps_;
    IovecList layout_;
    IovecList io_;
    std::array<std::uint8_t, 128> head_ {};
    std::vector<std::uint16_t> rx_touched_;
    NetDrops drops_;
    StatusFaults status_faults_ { NET_CTRL_STATUSES, NET_CTRL_CLASSES };
};

} // namespace vmm::virtio::net
