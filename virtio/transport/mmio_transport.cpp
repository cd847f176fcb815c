// SPDX-License-Identifier: Apache-2.0
// MmioTransport: register decoding.
#include "virtio/transport/mmio_transport.hpp"

#include <cstring>

#include "vmm/base/log.hpp"

namespace vmm::virtio {
namespace {

[[nodiscard]] std::uint64_t with_low(std::uint64_t v, std::uint32_t low) noexcept
{
    return (v & ~std::uint64_t { 0xffffffff }) | low;
}

[[nodiscard]] std::uint64_t with_high(std::uint64_t v, std::uint32_t high) noexcept
{
    return (v & std::uint64_t { 0xffffffff }) | (std::uint64_t { high } << 32);
}

} // namespace

void MmioTransport::MmioInterrupt::raise(std::uint32_t bit) noexcept
{
    // virtio 1.2 §4.2.3.4: the bit stays set until the driver acknowledges it; every event is
    // one edge on the line, so an event after the driver read the status is not lost.
    status_.fetch_or(bit, std::memory_order_acq_rel);
    line_->trigger();
}

MmioTransport::MmioTransport(
    std::unique_ptr<Device> device, TransportHost& host, std::unique_ptr<IrqLine> irq, MmioOptions options)
    : options_(std::move(options))
    , irq_(std::move(irq))
    , core_(std::move(device), host, irq_, options_.transport)
{
}

MmioTransport::~MmioTransport() = default;

Result<std::shared_ptr<MmioTransport>> MmioTransport::create(
    std::unique_ptr<Device> device, TransportHost& host, std::unique_ptr<IrqLine> irq, MmioOptions options)
{
    auto t = std::make_shared<MmioTransport>(std::move(device), host, std::move(irq), std::move(options));
    VMM_TRY(t->core_.init());
    // §4.2.2: the driver writes the queue index to QueueNotify, 32 bits wide.
    for (std::uint16_t i = 0; i < t->core_.num_queues(); ++i) {
        VMM_TRY(t->core_.kick(i)->bind(t->options_.base + mmio::QUEUE_NOTIFY, 4, i));
    }
    return t;
}

void MmioTransport::reset()
{
    std::lock_guard lock(mutex_);
    core_.reset();
    irq_.clear();
}

const ShmRegion* MmioTransport::shm_region() const noexcept
{
    for (const auto& r : options_.shm) {
        if (r.id == shm_sel_) {
            return &r;
        }
    }
    return nullptr;
}

void MmioTransport::read(std::uint64_t offset, std::span<std::byte> data) noexcept
{
    std::fill(data.begin(), data.end(), std::byte { 0 });
    // Guest-controlled: offset and width. Invariant: the bus only routes accesses inside the
    // window, so offset + size <= SIZE.
    std::lock_guard lock(mutex_);
    if (offset >= mmio::CONFIG) {
        core_.device().read_config(static_cast<std::uint32_t>(offset - mmio::CONFIG), data);
        return;
    }
    // §4.2.2.2: control registers are read 32 bits wide and aligned.
    if (data.size() != 4 || offset % 4 != 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte read at {:#x}; registers are 32-bit", core_.name(),
            data.size(), offset);
        return;
    }
    const std::uint32_t v = read_register(static_cast<std::uint32_t>(offset));
    std::memcpy(data.data(), &v, sizeof(v));
}

void MmioTransport::write(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    std::lock_guard lock(mutex_);
    if (offset >= mmio::CONFIG) {
        if (!core_.device().write_config(static_cast<std::uint32_t>(offset - mmio::CONFIG), data)) {
            core_.conformance().record(DriverRule::config_write_read_only);
        }
        return;
    }
    if (data.size() != 4 || offset % 4 != 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte write at {:#x}; registers are 32-bit", core_.name(),
            data.size(), offset);
        return;
    }
    std::uint32_t v = 0;
    std::memcpy(&v, data.data(), sizeof(v));
    write_register(static_cast<std::uint32_t>(offset), v);
}

std::uint32_t MmioTransport::read_register(std::uint32_t offset) noexcept
{
    QueueConfig* q = core_.queue(queue_sel_);
    const ShmRegion* shm = shm_region();
    switch (offset) {
    case mmio::MAGIC_VALUE:
        return mmio::MAGIC;
    case mmio::VERSION:
        return mmio::VERSION_MODERN;
    case mmio::DEVICE_ID:
        return static_cast<std::uint32_t>(core_.device().type());
    case mmio::VENDOR_ID:
        return mmio::VENDOR;
    case mmio::DEVICE_FEATURES:
        return core_.device_features_word(device_features_sel_);
    case mmio::QUEUE_NUM_MAX:
        return q != nullptr ? q->max_size() : 0; // §4.2.2: 0 means the queue is not available
    case mmio::QUEUE_READY:
        return q != nullptr && q->ready() ? 1 : 0;
    case mmio::INTERRUPT_STATUS:
        return irq_.status();
    case mmio::STATUS:
        return core_.status();
    case mmio::SHM_LEN_LOW:
        return shm != nullptr ? static_cast<std::uint32_t>(shm->length) : 0xffffffff;
    case mmio::SHM_LEN_HIGH:
        return shm != nullptr ? static_cast<std::uint32_t>(shm->length >> 32) : 0xffffffff;
    case mmio::SHM_BASE_LOW:
        return shm != nullptr ? static_cast<std::uint32_t>(shm->base) : 0xffffffff;
    case mmio::SHM_BASE_HIGH:
        return shm != nullptr ? static_cast<std::uint32_t>(shm->base >> 32) : 0xffffffff;
    case mmio::QUEUE_RESET:
        return 0; // queue resets complete before the write returns
    case mmio::CONFIG_GENERATION:
        return core_.config_generation();
    default:
        // Write-only and undefined registers read as zero.
        return 0;
    }
}

void MmioTransport::write_register(std::uint32_t offset, std::uint32_t value)
{
    QueueConfig* q = core_.queue(queue_sel_);
    switch (offset) {
    case mmio::DEVICE_FEATURES_SEL:
        device_features_sel_ = value;
        return;
    case mmio::DRIVER_FEATURES:
        core_.write_driver_features_word(driver_features_sel_, value);
        return;
    case mmio::DRIVER_FEATURES_SEL:
        driver_features_sel_ = value;
        return;
    case mmio::QUEUE_SEL:
        queue_sel_ = value;
        return;
    case mmio::QUEUE_NOTIFY:
        core_.notify_trapped(value);
        return;
    case mmio::INTERRUPT_ACK:
        irq_.ack(value);
        return;
    case mmio::STATUS:
        core_.write_status(static_cast<std::uint8_t>(value));
        if (value == 0) {
            irq_.clear(); // §4.2.2.1: reset clears InterruptStatus
        }
        return;
    case mmio::SHM_SEL:
        shm_sel_ = value;
        return;
    default:
        break;
    }
    // Per-queue registers: QueueSel must name a queue the device has.
    if (q == nullptr) {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: write of {:#x} to register {:#x} for queue {}, which does not exist",
            core_.name(), value, offset, queue_sel_);
        return;
    }
    switch (offset) {
    case mmio::QUEUE_NUM:
        // Guest-controlled: a size that does not fit 16 bits becomes 0, which activation refuses.
        q->set_size(value <= 0xffff ? static_cast<std::uint16_t>(value) : 0);
        return;
    case mmio::QUEUE_READY:
        core_.set_queue_ready(queue_sel_, value != 0);
        return;
    case mmio::QUEUE_DESC_LOW:
        q->set_desc_addr(with_low(q->desc_addr(), value));
        return;
    case mmio::QUEUE_DESC_HIGH:
        q->set_desc_addr(with_high(q->desc_addr(), value));
        return;
    case mmio::QUEUE_DRIVER_LOW:
        q->set_driver_addr(with_low(q->driver_addr(), value));
        return;
    case mmio::QUEUE_DRIVER_HIGH:
        q->set_driver_addr(with_high(q->driver_addr(), value));
        return;
    case mmio::QUEUE_DEVICE_LOW:
        q->set_device_addr(with_low(q->device_addr(), value));
        return;
    case mmio::QUEUE_DEVICE_HIGH:
        q->set_device_addr(with_high(q->device_addr(), value));
        return;
    case mmio::QUEUE_RESET:
        if (value == 1) {
            core_.reset_queue(queue_sel_);
        }
        return;
    default:
        VMM_LOG_GUEST(spdlog::level::warn, "{}: write of {:#x} to read-only or undefined register {:#x}",
            core_.name(), value, offset);
        return;
    }
}

} // namespace vmm::virtio
