// SPDX-License-Identifier: Apache-2.0
// VsockDevice: activation, reset, the connection table and the API's status.
#include "virtio/devices/vsock/vsock_device.hpp"

#include <array>

#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::vsock {
namespace {

constexpr std::array<std::uint16_t, 3> QUEUE_SIZES { VsockDevice::QUEUE_SIZE, VsockDevice::QUEUE_SIZE,
    VsockDevice::QUEUE_SIZE };

std::uint64_t offered(const VsockOptions& o) noexcept
{
    std::uint64_t f = feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX)
        | feature_bit(VIRTIO_F_RING_PACKED) | feature_bit(VIRTIO_VSOCK_F_STREAM);
    if (o.seqpacket) {
        f |= feature_bit(VIRTIO_VSOCK_F_SEQPACKET);
    }
    return f;
}

// Status lists at most this many connections (the counts are always complete).
constexpr std::size_t STATUS_CONNECTIONS = 64;

} // namespace

VsockDevice::VsockDevice(std::unique_ptr<VsockHost> host, VsockOptions options)
    : DeviceBase(DeviceType::vsock, { QUEUE_SIZES.begin(), QUEUE_SIZES.end() }, offered(options),
        sizeof(VirtioVsockConfig))
    , host_(std::move(host))
    , options_(options)
    , self_(std::make_shared<VsockDevice*>(this))
{
    VirtioVsockConfig cfg {};
    cfg.guest_cid = le64(options_.guest_cid);
    set_config_obj(0, cfg);
}

VsockDevice::~VsockDevice()
{
    self_.reset();
    host_->stop();
    close_all();
}

Result<> VsockDevice::activate(ActivationContext ctx)
{
    if (ctx.queues.size() != 3) {
        return fail(Errc::invalid_argument, "virtio-vsock needs its rx, tx and event queues, got {}", ctx.queues.size());
    }
    for (Queue& q : ctx.queues) {
        switch (q.index()) {
        case VSOCK_RX_QUEUE:
            rxq_.emplace(std::move(q));
            break;
        case VSOCK_TX_QUEUE:
            txq_.emplace(std::move(q));
            break;
        default:
            eventq_.emplace(std::move(q));
            break;
        }
    }
    loop_ = ctx.loop;
    set_interrupt(&ctx.interrupt);
    VMM_TRY(host_->start([weak = std::weak_ptr<VsockDevice*>(self_), gen = generation_](HostRequest r) {
        if (auto self = weak.lock(); self && (*self)->generation_ == gen) {
            (*self)->host_request(std::move(r));
        }
    }));
    return {};
}

void VsockDevice::reset() noexcept
{
    ++generation_;
    host_->stop();
    close_all();
    replies_.clear();
    pending_events_ = 0;
    receive_posted_ = false;
    rxq_.reset();
    txq_.reset();
    eventq_.reset();
    loop_ = nullptr;
    reset_base();
}

void VsockDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    switch (queue_index) {
    case VSOCK_RX_QUEUE:
        receive();
        break;
    case VSOCK_TX_QUEUE:
        transmit();
        break;
    case VSOCK_EVENT_QUEUE:
        deliver_events();
        break;
    default:
        break;
    }
}

void VsockDevice::on_resume(std::chrono::nanoseconds paused_for) noexcept
{
    if (options_.reset_after_pause.count() > 0 && paused_for >= options_.reset_after_pause) {
        VMM_LOG_GUEST(spdlog::level::info, "virtio-vsock: paused for {} ms: transport reset",
            std::chrono::duration_cast<std::chrono::milliseconds>(paused_for).count());
        transport_reset();
    }
}

void VsockDevice::transport_reset() noexcept
{
    if (!eventq_) {
        return; // not active: the driver starts from nothing anyway
    }
    ++counters_.transport_resets;
    close_all();
    replies_.clear();
    ++pending_events_;
    deliver_events();
}

void VsockDevice::deliver_events() noexcept
{
    if (!eventq_) {
        return;
    }
    Queue& q = *eventq_;
    while (pending_events_ > 0) {
        auto chain = q.pop();
        if (!chain) {
            break; // the next event-queue notification delivers it
        }
        VirtioVsockEvent ev {};
        ev.id = le32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
        if (chain->writer().write_obj(ev)) {
            --pending_events_;
        }
        // A buffer too small for the event is used empty; the event waits for the next one.
        q.add_used(std::move(*chain));
    }
    q.notify_if_needed();
}

Connection* VsockDevice::lookup(ConnKey key) noexcept
{
    const auto it = connections_.find(key);
    return it == connections_.end() ? nullptr : it->second.get();
}

const Connection* VsockDevice::find(ConnKey key) const noexcept
{
    const auto it = connections_.find(key);
    return it == connections_.end() ? nullptr : it->second.get();
}

Connection* VsockDevice::open(ConnKey key, SocketType type, UniqueFd fd) noexcept
{
    if (loop_ == nullptr || connections_.size() >= options_.max_connections || connections_.contains(key)) {
        return nullptr;
    }
    try {
        auto c = std::make_unique<Connection>(loop_->io(), fd.release(), key, type, options_.buffer_size, next_serial_++);
        Connection* raw = c.get();
        connections_.emplace(key, std::move(c));
        ++counters_.connections_opened;
        return raw;
    } catch (const std::exception& e) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-vsock: no connection {}:{}: {}", key.guest_port, key.host_port, e.what());
        return nullptr;
    }
}

void VsockDevice::close(ConnKey key) noexcept
{
    if (connections_.erase(key) != 0) {
        ++counters_.connections_closed;
    }
    // Its turn in rx_turns_ finds nothing and is skipped.
}

void VsockDevice::close_all() noexcept
{
    counters_.connections_closed += connections_.size();
    connections_.clear();
    rx_turns_.clear();
}

void VsockDevice::abort(Connection& c) noexcept
{
    if (c.host_initiated && c.owe_request) {
        close(c.key); // the guest was never asked: there is nothing to tell it
        return;
    }
    // The host end goes at once; the guest learns of it from the RST, after which the
    // connection is gone.
    c.owe_rst = true;
    c.owe_request = c.owe_response = c.owe_shutdown = c.owe_credit = false;
    boost::system::error_code ec;
    c.host.close(ec);
    c.out.clear();
    c.out_at = 0;
    c.messages.clear();
    c.assembling.clear();
    c.inbound_pending = false;
    schedule_rx(c);
}

std::optional<std::uint32_t> VsockDevice::allocate_host_port(std::uint32_t guest_port) noexcept
{
    // A free port in [FIRST_HOST_PORT, 2^32 - 2]; the table is far smaller than the range, so
    // the search ends quickly.
    for (std::uint32_t tries = 0; tries <= options_.max_connections; ++tries) {
        const std::uint32_t port = next_host_port_;
        next_host_port_ = next_host_port_ >= 0xfffffffeU ? FIRST_HOST_PORT : next_host_port_ + 1;
        if (!connections_.contains(ConnKey { guest_port, port })) {
            return port;
        }
    }
    return std::nullopt;
}

bool VsockDevice::type_allowed(std::uint16_t type) const noexcept
{
    // §5.10.3: stream always (1.2: no feature bit needed); seqpacket only when negotiated.
    return type == VIRTIO_VSOCK_TYPE_STREAM
        || (type == VIRTIO_VSOCK_TYPE_SEQPACKET && acked(VIRTIO_VSOCK_F_SEQPACKET));
}

std::size_t VsockDevice::held_bytes() const noexcept
{
    std::size_t n = 0;
    for (const auto& [key, c] : connections_) {
        n += c->output_bytes() + c->assembling.size() + (c->inbound.size() - c->inbound_at);
    }
    return n;
}

nlohmann::json VsockDevice::status() const
{
    auto list = nlohmann::json::array();
    for (const auto& [key, c] : connections_) {
        if (list.size() >= STATUS_CONNECTIONS) {
            break;
        }
        list.push_back({
            { "guest_port", key.guest_port },
            { "host_port", key.host_port },
            { "type", to_string(c->type) },
            { "state", c->state_name() },
            { "initiator", c->host_initiated ? "host" : "guest" },
            { "guest_credit",
                { { "buf_alloc", c->peer.buf_alloc }, { "fwd_cnt", c->peer.fwd_cnt }, { "tx_cnt", c->peer.tx_cnt },
                    { "free", c->peer.free() } } },
            { "host_buffer",
                { { "buf_alloc", c->local.buf_alloc }, { "buffered", c->local.buffered() },
                    { "fwd_cnt", c->local.fwd_cnt } } },
            { "bytes_to_guest", c->bytes_to_guest },
            { "bytes_to_host", c->bytes_to_host },
        });
    }
    const VsockCounters& n = counters_;
    return {
        { "guest_cid", options_.guest_cid },
        { "host", host_->status() },
        { "connections", connections_.size() },
        { "max_connections", options_.max_connections },
        { "open", list },
        { "pending_replies", replies_.size() },
        { "held_bytes", held_bytes() },
        { "counters",
            { { "opened", n.connections_opened }, { "closed", n.connections_closed },
                { "transport_resets", n.transport_resets } } },
        { "dropped",
            { { "malformed", n.malformed }, { "bad_cid", n.bad_cid }, { "bad_type", n.bad_type },
                { "bad_op", n.bad_op }, { "no_connection", n.no_connection },
                { "credit_overrun", n.credit_overrun }, { "refused", n.refused },
                { "replies_dropped", n.replies_dropped } } },
    };
}

} // namespace vmm::virtio::vsock
