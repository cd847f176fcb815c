// SPDX-License-Identifier: Apache-2.0
// ConsoleDevice.
#include "virtio/devices/console/console.hpp"

#include <algorithm>
#include <cstddef>

#include "virtio/spec/console.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio {
namespace {

// Stands in for a missing backend: no host side, output discarded.
class NoBackend final : public PortBackend {
public:
    void start(Events /*events*/) override { }
    void write(std::span<const std::byte> /*data*/) noexcept override { }
    void set_input_paused(bool /*paused*/) noexcept override { }
    [[nodiscard]] bool connected() const noexcept override { return false; }
};

// The cols/rows pair of the configuration space, written as one update.
struct ConsoleSize {
    le16 cols;
    le16 rows;
};
static_assert(sizeof(ConsoleSize) == 4 && WireType<ConsoleSize>);

std::uint64_t offered_features(const ConsoleOptions& o) noexcept
{
    std::uint64_t f = feature_bit(VIRTIO_CONSOLE_F_SIZE) | feature_bit(VIRTIO_CONSOLE_F_MULTIPORT)
        | feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX)
        | feature_bit(VIRTIO_F_RING_PACKED);
    if (o.emergency_write) {
        f |= feature_bit(VIRTIO_CONSOLE_F_EMERG_WRITE);
    }
    return f;
}

std::size_t port_count_of(const ConsoleOptions& o) noexcept
{
    return std::clamp<std::size_t>(o.ports.size(), 1, ConsoleDevice::MAX_PORTS);
}

// Hands chains to `use` while `wanted()` holds, with the notification handshake of queue.hpp,
// and leaves notifications enabled so that the driver's next buffers wake the device.
template <class Wanted, class Use>
void drain(Queue& q, Wanted wanted, Use use)
{
    for (;;) {
        q.disable_notification();
        while (wanted()) {
            auto chain = q.pop();
            if (!chain) {
                break;
            }
            use(std::move(*chain));
        }
        if (!wanted()) {
            (void)q.enable_notification();
            break;
        }
        if (!q.enable_notification()) {
            break;
        }
    }
    q.notify_if_needed();
}

const char* event_name(std::uint16_t event) noexcept
{
    switch (event) {
    case VIRTIO_CONSOLE_DEVICE_ADD:
        return "DEVICE_ADD";
    case VIRTIO_CONSOLE_DEVICE_REMOVE:
        return "DEVICE_REMOVE";
    case VIRTIO_CONSOLE_CONSOLE_PORT:
        return "CONSOLE_PORT";
    case VIRTIO_CONSOLE_RESIZE:
        return "RESIZE";
    case VIRTIO_CONSOLE_PORT_NAME:
        return "PORT_NAME";
    default:
        return "?";
    }
}

} // namespace

ConsoleDevice::ConsoleDevice(ConsoleOptions options)
    : DeviceBase(DeviceType::console,
        std::vector<std::uint16_t>(2 * (port_count_of(options) + 1), QUEUE_SIZE), offered_features(options),
        sizeof(VirtioConsoleConfig))
    , console_port_(options.console_port)
    , emergency_write_(options.emergency_write)
    , cols_(options.cols)
    , rows_(options.rows)
{
    const std::size_t n = port_count_of(options);
    options.ports.resize(n);
    ports_.reserve(n);
    for (auto& spec : options.ports) {
        Port& p = ports_.emplace_back();
        p.name = std::move(spec.name);
        p.backend = spec.backend ? std::move(spec.backend) : std::make_unique<NoBackend>();
    }
    VirtioConsoleConfig config;
    config.cols.set(cols_);
    config.rows.set(rows_);
    config.max_nr_ports.set(static_cast<std::uint32_t>(n));
    set_config_obj(0, config);
    // Invariant: ports_ does not change size from here on, so the callbacks' indices hold.
    for (std::size_t k = 0; k < n; ++k) {
        ports_[k].backend->start(PortBackend::Events {
            [this, k](std::span<const std::byte> data) { on_input(k, data); },
            [this, k](bool connected) { on_connection(k, connected); },
        });
    }
}

ConsoleDevice::~ConsoleDevice()
{
    // Backends first, so that no event reaches a half-destroyed device.
    for (Port& p : ports_) {
        p.backend.reset();
    }
}

Result<> ConsoleDevice::activate(ActivationContext ctx)
{
    const bool multiport = acked(VIRTIO_CONSOLE_F_MULTIPORT);
    std::vector<std::optional<Queue>> queues(queue_max_sizes().size());
    for (Queue& q : ctx.queues) {
        if (q.index() >= queues.size()) {
            return fail(Errc::invalid_argument, "virtio-console has no queue {}", q.index());
        }
        const std::uint16_t index = q.index();
        // virtio 1.2 §5.3.2: only port 0's queues exist without MULTIPORT; others are unused.
        if (multiport || index < 2) {
            queues[index].emplace(std::move(q));
        }
    }
    if (!queues[0] || !queues[1]) {
        return fail(Errc::invalid_argument, "virtio-console needs port 0's queues 0 and 1 enabled");
    }
    if (multiport && (!queues[VIRTIO_CONSOLE_CONTROL_RX_QUEUE] || !queues[VIRTIO_CONSOLE_CONTROL_TX_QUEUE])) {
        return fail(
            Errc::invalid_argument, "virtio-console with MULTIPORT needs control queues 2 and 3 enabled");
    }
    drop_guest_state(); // in case the transport activates again without a reset
    multiport_ = multiport;
    if (multiport) {
        control_rx_ = std::move(queues[VIRTIO_CONSOLE_CONTROL_RX_QUEUE]);
        control_tx_ = std::move(queues[VIRTIO_CONSOLE_CONTROL_TX_QUEUE]);
    }
    for (std::size_t k = 0; k < ports_.size(); ++k) {
        Port& p = ports_[k];
        auto& rx = queues[console_rx_queue(static_cast<std::uint32_t>(k))];
        auto& tx = queues[console_tx_queue(static_cast<std::uint32_t>(k))];
        if (rx && tx) {
            p.rx = std::move(rx);
            p.tx = std::move(tx);
        } else if (multiport) {
            VMM_LOG_GUEST(
                spdlog::level::warn, "virtio-console: port {} has a queue disabled; not announcing it", k);
        }
    }
    set_interrupt(&ctx.interrupt);
    active_ = true;
    if (!multiport) {
        // Without the control queues port 0 is the console, open from the start.
        ports_[0].ready = true;
        ports_[0].guest_open = true;
        flush_input(ports_[0]);
    }
    return {};
}

void ConsoleDevice::reset() noexcept
{
    drop_guest_state();
    reset_base();
}

void ConsoleDevice::drop_guest_state() noexcept
{
    active_ = false;
    multiport_ = false;
    device_ready_ = false;
    outbox_.clear();
    control_rx_.reset();
    control_tx_.reset();
    for (Port& p : ports_) {
        p.rx.reset();
        p.tx.reset();
        p.added = false;
        p.ready = false;
        p.guest_open = false;
        // p.input stays: it is the host's, and goes to the guest once the port is set up again.
    }
}

void ConsoleDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    if (!active_) {
        return; // spurious notification before activation or after reset
    }
    if (queue_index == VIRTIO_CONSOLE_CONTROL_RX_QUEUE) {
        flush_control();
        return;
    }
    if (queue_index == VIRTIO_CONSOLE_CONTROL_TX_QUEUE) {
        handle_control();
        return;
    }
    // Queues 0/1 are port 0's; 2k+2 and 2k+3 are port k's.
    const std::size_t k = queue_index < 2 ? 0 : (queue_index - 2U) / 2U;
    if (k >= ports_.size()) {
        return;
    }
    Port& p = ports_[k];
    if (queue_index % 2 == 0) {
        flush_input(p);
    } else if (p.tx) {
        transmit(p);
    }
}

void ConsoleDevice::resize(std::uint16_t cols, std::uint16_t rows)
{
    cols_ = cols;
    rows_ = rows;
    ConsoleSize size;
    size.cols.set(cols);
    size.rows.set(rows);
    update_config_obj(offsetof(VirtioConsoleConfig, cols), size);
    // Linux ignores configuration changes once MULTIPORT is negotiated and takes the size
    // from RESIZE messages instead.
    if (multiport_ && console_port_ && ports_[0].ready) {
        send(0, VIRTIO_CONSOLE_RESIZE, 0);
        flush_control();
    }
}

std::filesystem::path ConsoleDevice::pty_path(std::size_t port) const
{
    return port < ports_.size() ? ports_[port].backend->pty_path() : std::filesystem::path();
}

std::size_t ConsoleDevice::pending_input(std::size_t port) const noexcept
{
    return port < ports_.size() ? ports_[port].input.size() : 0;
}

std::uint64_t ConsoleDevice::dropped_input(std::size_t port) const noexcept
{
    return port < ports_.size() ? ports_[port].dropped_input : 0;
}

// ---- Configuration space ----------------------------------------------------------------------

bool ConsoleDevice::on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    // virtio 1.2 §5.3.5.1: a write to emerg_wr is accepted at any time, even before the
    // device is set up, and its low byte goes out. The other fields are read-only.
    constexpr std::size_t at = offsetof(VirtioConsoleConfig, emerg_wr);
    if (!emergency_write_ || offset > at || offset + in.size() <= at) {
        return false;
    }
    ports_[0].backend->write(in.subspan(at - offset, 1));
    return true;
}

// ---- Data ---------------------------------------------------------------------------------------

bool ConsoleDevice::can_deliver(const Port& p) const noexcept
{
    // Linux discards what reaches a generic port that no process has open, so input waits
    // for the driver's PORT_OPEN (which it also sends for console ports).
    return active_ && p.rx && p.ready && p.guest_open;
}

void ConsoleDevice::on_input(std::size_t port, std::span<const std::byte> data) noexcept
{
    Port& p = ports_[port];
    // Straight into the guest's buffers when nothing older is waiting.
    const std::size_t sent = p.input.empty() ? deliver(p, data) : 0;
    const auto rest = data.subspan(sent);
    const std::size_t kept = p.input.push(rest);
    if (kept < rest.size()) {
        p.dropped_input += rest.size() - kept;
        VMM_LOG_GUEST(spdlog::level::warn,
            "virtio-console: port {}: {} input bytes dropped; the backend delivered input while paused", port,
            rest.size() - kept);
    }
    update_pause(p);
}

void ConsoleDevice::on_connection(std::size_t port, bool connected) noexcept
{
    if (multiport_ && ports_[port].ready) {
        send(static_cast<std::uint32_t>(port), VIRTIO_CONSOLE_PORT_OPEN, connected ? 1 : 0);
        flush_control();
    }
}

std::size_t ConsoleDevice::deliver(Port& p, std::span<const std::byte> data) noexcept
{
    if (data.empty() || !can_deliver(p)) {
        return 0;
    }
    std::size_t done = 0;
    drain(
        *p.rx, [&] { return done < data.size(); },
        [&](DescriptorChain&& chain) {
            Writer& w = chain.writer();
            const std::size_t n = std::min(w.available(), data.size() - done);
            // Invariant: n <= w.available().
            (void)w.write(data.subspan(done, n));
            done += n;
            p.rx->add_used(std::move(chain));
        });
    return done;
}

void ConsoleDevice::flush_input(Port& p) noexcept
{
    while (!p.input.empty()) {
        const auto piece = p.input.pieces()[0];
        const std::size_t n = deliver(p, piece);
        p.input.consume(n);
        if (n < piece.size()) {
            break;
        }
    }
    update_pause(p);
}

void ConsoleDevice::update_pause(Port& p) noexcept
{
    const bool pause = !p.input.empty();
    if (pause != p.input_paused) {
        p.input_paused = pause;
        p.backend->set_input_paused(pause);
    }
}

void ConsoleDevice::transmit(Port& p) noexcept
{
    drain(
        *p.tx, [] { return true; },
        [&](DescriptorChain&& chain) {
            Reader& r = chain.reader();
            // Straight from guest memory; the backend copies only what its consumer does not
            // take at once.
            for (const iovec& v : r.iovecs(r.available())) {
                // Safety: the iovec covers v.iov_len bytes of guest RAM resolved for this chain.
                p.backend->write(std::span(static_cast<const std::byte*>(v.iov_base), v.iov_len));
            }
            p.tx->add_used(std::move(chain), 0);
        });
}

// ---- Control queues ------------------------------------------------------------------------------

void ConsoleDevice::handle_control() noexcept
{
    if (!control_tx_) {
        return;
    }
    drain(
        *control_tx_, [] { return true; },
        [&](DescriptorChain&& chain) {
            handle_control_message(chain.reader());
            control_tx_->add_used(std::move(chain), 0);
        });
}

void ConsoleDevice::handle_control_message(Reader& reader) noexcept
{
    // Guest-controlled: the whole message. Copied out once, then checked.
    const auto msg = reader.read_obj<VirtioConsoleControl>();
    if (!msg) {
        VMM_LOG_GUEST(spdlog::level::warn,
            "virtio-console: control message of {} bytes is shorter than {}; ignored", reader.available(),
            sizeof(VirtioConsoleControl));
        return;
    }
    const std::uint32_t id = msg->id.get();
    const std::uint16_t event = msg->event.get();
    const std::uint16_t value = msg->value.get();
    switch (event) {
    case VIRTIO_CONSOLE_DEVICE_READY:
        on_device_ready(value); // id is unused (Linux sends 0xffffffff)
        return;
    case VIRTIO_CONSOLE_PORT_READY:
        on_port_ready(id, value);
        return;
    case VIRTIO_CONSOLE_PORT_OPEN:
        on_port_open(id, value);
        return;
    case VIRTIO_CONSOLE_DEVICE_ADD:
    case VIRTIO_CONSOLE_DEVICE_REMOVE:
    case VIRTIO_CONSOLE_CONSOLE_PORT:
    case VIRTIO_CONSOLE_RESIZE:
    case VIRTIO_CONSOLE_PORT_NAME:
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-console: {} (port {}) is the device's to send; ignored",
            event_name(event), id);
        return;
    default:
        VMM_LOG_GUEST(
            spdlog::level::warn, "virtio-console: unknown control event {} (port {}); ignored", event, id);
        return;
    }
}

void ConsoleDevice::on_device_ready(std::uint16_t value) noexcept
{
    if (value != 1) {
        VMM_LOG_GUEST(
            spdlog::level::warn, "virtio-console: the driver reports DEVICE_READY {}: it failed", value);
        return;
    }
    if (device_ready_) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-console: repeated DEVICE_READY; ignored");
        return;
    }
    device_ready_ = true;
    // virtio 1.2 §5.3.6.2.1: each port once, and all below max_nr_ports.
    for (std::size_t k = 0; k < ports_.size(); ++k) {
        Port& p = ports_[k];
        if (p.rx && p.tx) {
            p.added = true;
            send(static_cast<std::uint32_t>(k), VIRTIO_CONSOLE_DEVICE_ADD, 1);
        }
    }
    flush_control();
}

void ConsoleDevice::on_port_ready(std::uint32_t id, std::uint16_t value) noexcept
{
    if (id >= ports_.size() || !ports_[id].added) {
        VMM_LOG_GUEST(
            spdlog::level::warn, "virtio-console: PORT_READY for port {}, which was not added; ignored", id);
        return;
    }
    Port& p = ports_[id];
    if (value != 1) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-console: the driver failed to set up port {}", id);
        return;
    }
    if (p.ready) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-console: repeated PORT_READY for port {}; ignored", id);
        return;
    }
    p.ready = true;
    if (id == 0 && console_port_) {
        // After CONSOLE_PORT, so that the driver's console exists when the size arrives.
        send(0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
        send(0, VIRTIO_CONSOLE_RESIZE, 0);
    }
    if (!p.name.empty()) {
        send(id, VIRTIO_CONSOLE_PORT_NAME, 1);
    }
    if (p.backend->connected()) {
        send(id, VIRTIO_CONSOLE_PORT_OPEN, 1);
    }
    flush_control();
}

void ConsoleDevice::on_port_open(std::uint32_t id, std::uint16_t value) noexcept
{
    if (id >= ports_.size() || !ports_[id].ready) {
        VMM_LOG_GUEST(
            spdlog::level::warn, "virtio-console: PORT_OPEN for port {}, which is not set up; ignored", id);
        return;
    }
    if (value > 1) {
        VMM_LOG_GUEST(spdlog::level::warn,
            "virtio-console: PORT_OPEN {} for port {} is neither 0 nor 1; ignored", value, id);
        return;
    }
    Port& p = ports_[id];
    p.guest_open = value == 1;
    flush_input(p);
}

void ConsoleDevice::send(std::uint32_t port, std::uint16_t event, std::uint16_t value) noexcept
{
    // Only the latest state matters for these, which keeps the backlog bounded however often
    // a host client comes and goes while the driver posts no buffers.
    if (event == VIRTIO_CONSOLE_PORT_OPEN || event == VIRTIO_CONSOLE_RESIZE) {
        for (Message& m : outbox_) {
            if (m.port == port && m.event == event) {
                m.value = value;
                return;
            }
        }
    }
    outbox_.push_back(Message { port, event, value });
}

void ConsoleDevice::flush_control() noexcept
{
    if (!control_rx_ || outbox_.empty()) {
        return;
    }
    drain(
        *control_rx_, [&] { return !outbox_.empty(); },
        [&](DescriptorChain&& chain) {
            write_message(outbox_.front(), chain.writer());
            if (chain.writer().bytes_written() > 0) {
                outbox_.pop_front();
            }
            control_rx_->add_used(std::move(chain));
        });
}

void ConsoleDevice::write_message(const Message& m, Writer& w) const noexcept
{
    VirtioConsoleControl header;
    header.id.set(m.port);
    header.event.set(m.event);
    header.value.set(m.value);
    VirtioConsoleResize size;
    size.rows.set(rows_);
    size.cols.set(cols_);
    std::span<const std::byte> payload;
    if (m.event == VIRTIO_CONSOLE_PORT_NAME) {
        // virtio 1.2 §5.3.6.2: UTF-8, without a NUL; Linux sizes the name by the used length.
        payload = std::as_bytes(std::span(ports_[m.port].name));
    } else if (m.event == VIRTIO_CONSOLE_RESIZE) {
        payload = std::as_bytes(std::span(&size, 1));
    }
    if (w.available() < sizeof(header) + payload.size()) {
        // A correct driver posts page-sized buffers; this one goes back empty and the message
        // waits for the next.
        VMM_LOG_GUEST(spdlog::level::warn,
            "virtio-console: control receive buffer of {} bytes is too small for a {}-byte message",
            w.available(), sizeof(header) + payload.size());
        return;
    }
    // Invariant: both fit (checked above).
    (void)w.write_obj(header);
    (void)w.write(payload);
}

} // namespace vmm::virtio
