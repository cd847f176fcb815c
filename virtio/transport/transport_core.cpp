// SPDX-License-Identifier: Apache-2.0
// TransportCore: features, status, queues, activation and resets.
#include "virtio/transport/transport_core.hpp"

#include "virtio/queue/notification_data.hpp"
#include "virtio/spec/features.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio {
namespace {

// What the virtqueue core implements for every device. Bits that depend on the device
// (IN_ORDER, RING_RESET) come from the device's own features().
constexpr std::uint64_t GENERIC_FEATURES = feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_INDIRECT_DESC)
    | feature_bit(VIRTIO_F_EVENT_IDX);

} // namespace

TransportCore::TransportCore(
    std::unique_ptr<Device> device, TransportHost& host, Interrupt& interrupt, TransportOptions options)
    : device_(std::move(device))
    , host_(&host)
    , interrupt_(&interrupt)
    , relay_(*this, interrupt)
    , options_(std::move(options))
{
    std::uint64_t f = device_->features() | GENERIC_FEATURES;
    f &= ~(feature_bit(VIRTIO_F_RING_PACKED) | feature_bit(VIRTIO_F_NOTIFICATION_DATA)
        | feature_bit(VIRTIO_F_ACCESS_PLATFORM) | feature_bit(VIRTIO_F_NOTIF_CONFIG_DATA)
        | feature_bit(VIRTIO_F_SR_IOV) | feature_bit(VIRTIO_F_ADMIN_VQ));
    if (options_.packed) {
        f |= feature_bit(VIRTIO_F_RING_PACKED);
    }
    if (options_.notification_data.value_or(false)) {
        f |= feature_bit(VIRTIO_F_NOTIFICATION_DATA);
    }
    if (options_.dma.translated != nullptr) {
        f |= feature_bit(VIRTIO_F_ACCESS_PLATFORM);
    }
    offered_ = f;
    for (auto max : device_->queue_max_sizes()) {
        configs_.emplace_back(max);
        configs_.back().on_refused_write([this] { conformance_.record(DriverRule::queue_changed_while_enabled); });
    }
    active_.assign(configs_.size(), false);
}

TransportCore::~TransportCore() = default;

Result<> TransportCore::init()
{
    kicks_.clear();
    timing_ = std::make_unique<TimingFaults>(
        host_->loop(), num_queues(), [this](std::uint16_t q) { device_->on_queue_notify(q); },
        [this](std::uint16_t q) {
            if (driver_ok()) { // not after a reset that came while the interrupt waited
                interrupt_->trigger_queue(q);
            }
        },
        [this] {
            if (driver_ok()) {
                interrupt_->trigger_config();
            }
        });
    for (std::uint16_t i = 0; i < num_queues(); ++i) {
        kicks_.push_back(VMM_TRY(host_->make_kick([this, i] {
            if (!timing_->hold_notify(i)) {
                device_->on_queue_notify(i);
            }
        })));
    }
    return {};
}

std::uint32_t TransportCore::device_features_word(std::uint32_t select) const noexcept
{
    return select < 2 ? static_cast<std::uint32_t>(offered_ >> (32 * select)) : 0;
}

void TransportCore::write_driver_features_word(std::uint32_t select, std::uint32_t value) noexcept
{
    if ((status() & VIRTIO_CONFIG_S_FEATURES_OK) != 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: driver features written after FEATURES_OK; ignored", name());
        conformance_.record(DriverRule::features_after_features_ok);
        return;
    }
    if (select >= 2) {
        if (value != 0) {
            VMM_LOG_GUEST(spdlog::level::warn, "{}: driver accepted features in word {}; none exist", name(), select);
            conformance_.record(DriverRule::feature_not_offered);
        }
        return;
    }
    const unsigned shift = 32 * select;
    driver_features_ = (driver_features_ & ~(std::uint64_t { 0xffffffff } << shift)) | (std::uint64_t { value } << shift);
}

std::uint32_t TransportCore::driver_features_word(std::uint32_t select) const noexcept
{
    return select < 2 ? static_cast<std::uint32_t>(driver_features_ >> (32 * select)) : 0;
}

std::uint8_t TransportCore::status() const noexcept
{
    return status_.load(std::memory_order_acquire);
}

bool TransportCore::driver_ok() const noexcept
{
    return (status() & VIRTIO_CONFIG_S_DRIVER_OK) != 0;
}

bool TransportCore::accept_features() noexcept
{
    const std::uint64_t f = driver_features_;
    if (refuse_features_ok_.load()) {
        spdlog::info("{}: FEATURES_OK refused (injected fault)", name());
        return false;
    }
    // virtio 1.2 §2.2.1: the driver MUST NOT accept a feature the device did not offer.
    if ((f & ~offered_) != 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: driver accepted features {:#x} that were not offered; FEATURES_OK refused",
            name(), f & ~offered_);
        conformance_.record(DriverRule::feature_not_offered);
        return false;
    }
    // §6.1: a driver MUST accept VERSION_1 if offered; this device has no legacy interface.
    if (!has_feature(f, VIRTIO_F_VERSION_1)) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: driver did not accept VIRTIO_F_VERSION_1; FEATURES_OK refused", name());
        conformance_.record(DriverRule::version_1_not_accepted);
        return false;
    }
    // §6.1: a device MAY fail FEATURES_OK when ACCESS_PLATFORM is offered and not accepted.
    // Behind the IOMMU it must, unless the device is one whose driver works on guest-physical
    // pages by design: other DMA would bypass the translation.
    if (options_.dma.translated != nullptr && !has_feature(f, VIRTIO_F_ACCESS_PLATFORM)
        && !device_->physical_dma_allowed()) {
        VMM_LOG_GUEST(spdlog::level::warn,
            "{}: driver did not accept VIRTIO_F_ACCESS_PLATFORM for a device behind the IOMMU; FEATURES_OK refused",
            name());
        return false;
    }
    negotiated_ = f;
    device_->ack_features(f);
    return true;
}

const DmaSpace& TransportCore::dma() const noexcept
{
    if (has_feature(negotiated_, VIRTIO_F_ACCESS_PLATFORM) && options_.dma.translated != nullptr) {
        return *options_.dma.translated;
    }
    return *options_.dma.direct;
}

void TransportCore::write_status(std::uint8_t value)
{
    if (value == 0) {
        reset();
        return;
    }
    const std::uint8_t current = status();
    const auto old = static_cast<std::uint8_t>(current & ~VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET);
    // DEVICE_NEEDS_RESET is the device's to set.
    value = static_cast<std::uint8_t>(value & ~VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET);
    if ((old & ~value) != 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: driver cleared status bits {:#x} without a reset; ignored", name(),
            old & ~value);
        conformance_.record(DriverRule::status_bit_cleared);
    }
    const auto added = static_cast<std::uint8_t>(value & ~old);
    // Any step of initialisation after FAILED, without the reset in between.
    constexpr std::uint8_t INIT_STEPS = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER
        | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
    if ((old & VIRTIO_CONFIG_S_FAILED) != 0 && (added & INIT_STEPS) != 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: driver went on initialising after FAILED without a reset", name());
        conformance_.record(DriverRule::reinit_after_failed);
    }
    auto next = static_cast<std::uint8_t>(old | added);
    if ((added & VIRTIO_CONFIG_S_FEATURES_OK) != 0 && !accept_features()) {
        next = static_cast<std::uint8_t>(next & ~VIRTIO_CONFIG_S_FEATURES_OK);
    }
    status_.store(static_cast<std::uint8_t>(next | (current & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET)),
        std::memory_order_release);

    if ((added & VIRTIO_CONFIG_S_DRIVER_OK) == 0) {
        return;
    }
    if ((next & VIRTIO_CONFIG_S_FEATURES_OK) == 0) {
        // §3.1.1: FEATURES_OK comes before DRIVER_OK. A driver that skips it (or whose
        // features were refused) cannot have a working device.
        VMM_LOG_GUEST(spdlog::level::warn, "{}: DRIVER_OK without FEATURES_OK", name());
        conformance_.record(DriverRule::driver_ok_without_features_ok);
        signal_needs_reset();
        return;
    }
    if ((current & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET) != 0) {
        return; // a device in error stays stopped until the driver resets it
    }
    if (auto r = activate(); !r) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: activation failed: {}", name(), r.error().describe());
        signal_needs_reset();
    }
}

Result<> TransportCore::activate()
{
    Result<> result;
    host_->run_on_loop([&] {
        std::vector<Queue> queues;
        for (std::uint16_t i = 0; i < num_queues(); ++i) {
            if (!configs_[i].ready()) {
                continue;
            }
            auto q = configs_[i].activate(i, dma(), negotiated_, relay_, timing_.get());
            if (!q) {
                result = fail(std::move(q).error());
                return;
            }
            queues.push_back(std::move(q).value());
        }
        result = device_->activate(ActivationContext { std::move(queues), relay_, dma(), host_->loop() });
        if (!result) {
            return;
        }
        // Buffers made available (and notified) before DRIVER_OK found no running device; look
        // at every queue once so that none of them waits for a notify that already came.
        for (std::uint16_t i = 0; i < num_queues(); ++i) {
            if (configs_[i].ready()) {
                device_->on_queue_notify(i);
            }
        }
    });
    if (result) {
        for (std::uint16_t i = 0; i < num_queues(); ++i) {
            active_[i] = configs_[i].ready();
        }
        activations_.fetch_add(1, std::memory_order_relaxed);
    }
    return result;
}

QueueConfig* TransportCore::queue(std::uint32_t index) noexcept
{
    return index < configs_.size() ? &configs_[index] : nullptr;
}

void TransportCore::set_queue_ready(std::uint32_t index, bool ready)
{
    QueueConfig* cfg = queue(index);
    if (cfg == nullptr) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: driver enabled queue {}, which does not exist", name(), index);
        return;
    }
    if (!ready) {
        if (active_[index]) {
            // virtio-mmio lets a driver write 0 to stop a queue; with VIRTIO_F_RING_RESET that is
            // a queue reset, and without it only a device reset can take a queue from a
            // running device.
            if (has_feature(negotiated_, VIRTIO_F_RING_RESET)) {
                reset_queue(index);
            } else {
                VMM_LOG_GUEST(spdlog::level::warn, "{}: driver disabled running queue {} without a reset; ignored",
                    name(), index);
            }
            return;
        }
        cfg->set_ready(false);
        return;
    }
    if (cfg->ready()) {
        return;
    }
    cfg->set_ready(true);
    if (!driver_ok() || (status() & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET) != 0) {
        return; // picked up at DRIVER_OK
    }
    // §2.6.1.2: re-enabling a queue after a queue reset, on a running device.
    Result<> result;
    host_->run_on_loop([&] {
        auto q = cfg->activate(static_cast<std::uint16_t>(index), dma(), negotiated_, relay_, timing_.get());
        if (!q) {
            result = fail(std::move(q).error());
            return;
        }
        result = device_->enable_queue(std::move(q).value());
        if (result) {
            device_->on_queue_notify(static_cast<std::uint16_t>(index));
        }
    });
    if (!result) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: enabling queue {} failed: {}", name(), index, result.error().describe());
        signal_needs_reset();
        return;
    }
    active_[index] = true;
}

void TransportCore::reset_queue(std::uint32_t index)
{
    QueueConfig* cfg = queue(index);
    if (cfg == nullptr) {
        return;
    }
    if (!has_feature(negotiated_, VIRTIO_F_RING_RESET)) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: queue reset without VIRTIO_F_RING_RESET; ignored", name());
        return;
    }
    if (active_[index]) {
        host_->run_on_loop([&] { device_->reset_queue(static_cast<std::uint16_t>(index)); });
        active_[index] = false;
    }
    cfg->reset();
}

void TransportCore::notify_trapped(std::uint32_t value) noexcept
{
    trapped_notifies_.fetch_add(1, std::memory_order_relaxed);
    // §2.9: with VIRTIO_F_NOTIFICATION_DATA the low 16 bits are the queue index; the rest is
    // a hint the device does not need (it reads the ring itself).
    const std::uint32_t index
        = has_feature(negotiated_, VIRTIO_F_NOTIFICATION_DATA) ? decode_notification_data(value).vqn : value;
    if (index >= kicks_.size()) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: notify for queue {}, which does not exist", name(), index);
        conformance_.record(DriverRule::notify_unknown_queue);
        return;
    }
    // Seen exactly here, where the status is read at the moment of the write; a notify that an
    // ioeventfd takes reaches the loop later, when a reset may already have come between.
    if (!driver_ok()) {
        conformance_.record(DriverRule::notify_before_driver_ok);
    }
    kicks_[index]->signal();
}

QueueKick* TransportCore::kick(std::uint32_t index) noexcept
{
    return index < kicks_.size() ? kicks_[index].get() : nullptr;
}

std::uint64_t TransportCore::kicked_notifies() const noexcept
{
    std::uint64_t n = 0;
    for (const auto& k : kicks_) {
        n += k->handled();
    }
    return n;
}

void TransportCore::signal_needs_reset() noexcept
{
    const std::uint8_t before = status_.fetch_or(VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET, std::memory_order_acq_rel);
    // §2.1.2: once DRIVER_OK is set, a configuration change notification follows.
    if ((before & VIRTIO_CONFIG_S_DRIVER_OK) != 0 && (before & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET) == 0) {
        interrupt_->trigger_config();
    }
}

void TransportCore::reset()
{
    // §2.4: the device finishes or cancels everything that touches guest memory before the
    // driver can see status 0.
    host_->run_on_loop([this] { device_->reset(); });
    for (auto& c : configs_) {
        c.reset();
    }
    active_.assign(configs_.size(), false);
    driver_features_ = 0;
    negotiated_ = 0;
    status_.store(0, std::memory_order_release);
}

} // namespace vmm::virtio
