// SPDX-License-Identifier: Apache-2.0
// MmioTransport: a virtio device behind the virtio-mmio (version 2) register window.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "virtio/spec/mmio.hpp"
#include "virtio/transport/transport_core.hpp"
#include "vmm/bus/bus.hpp"

namespace vmm::virtio {

// A shared memory region the VMM placed in guest-physical space (virtio 1.2 §2.10).
struct ShmRegion {
    std::uint8_t id = 0;
    std::uint64_t base = 0;
    std::uint64_t length = 0;
};

struct MmioOptions {
    std::uint64_t base = 0; // guest-physical address of the window (for ioeventfds and logs)
    TransportOptions transport;
    std::vector<ShmRegion> shm;
};

// virtio 1.2 §4.2. The register window is a BusDevice on the MMIO bus; queue notifies go to
// per-queue ioeventfds at QueueNotify matched on the queue index, so a driver's notify costs no
// exit to the VMM (a notify that does not match, e.g. one carrying notification data, arrives
// as a trapped write and is signalled by hand). Interrupts: InterruptStatus plus one
// edge-triggered line.
class MmioTransport final : public BusDevice {
public:
    static constexpr std::uint64_t SIZE = 0x1000;

    [[nodiscard]] static Result<std::shared_ptr<MmioTransport>> create(std::unique_ptr<Device> device,
        TransportHost& host, std::unique_ptr<IrqLine> irq, MmioOptions options);
    ~MmioTransport() override;

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override;

    // Device reset from the VMM (shutdown).
    void reset();

    [[nodiscard]] TransportCore& core() noexcept { return core_; }
    [[nodiscard]] std::uint64_t base() const noexcept { return options_.base; }
    [[nodiscard]] std::uint32_t interrupt_status() const noexcept { return irq_.status(); }

    MmioTransport(std::unique_ptr<Device> device, TransportHost& host, std::unique_ptr<IrqLine> irq,
        MmioOptions options); // use create()

private:
    class MmioInterrupt final : public Interrupt {
    public:
        explicit MmioInterrupt(std::unique_ptr<IrqLine> line) : line_(std::move(line)) {}
        void trigger_queue(std::uint16_t) noexcept override { raise(mmio::INT_VRING); }
        void trigger_config() noexcept override { raise(mmio::INT_CONFIG); }
        void signal_needs_reset() noexcept override { }
        void ack(std::uint32_t bits) noexcept { status_.fetch_and(~bits, std::memory_order_acq_rel); }
        void clear() noexcept { status_.store(0, std::memory_order_release); }
        [[nodiscard]] std::uint32_t status() const noexcept { return status_.load(std::memory_order_acquire); }

    private:
        void raise(std::uint32_t bit) noexcept;
        std::unique_ptr<IrqLine> line_;
        std::atomic<std::uint32_t> status_ { 0 };
    };

    [[nodiscard]] std::uint32_t read_register(std::uint32_t offset) noexcept;
    void write_register(std::uint32_t offset, std::uint32_t value);
    [[nodiscard]] const ShmRegion* shm_region() const noexcept;

    MmioOptions options_;
    MmioInterrupt irq_;
    TransportCore core_;
    std::mutex mutex_; // every register access
    std::uint32_t device_features_sel_ = 0;
    std::uint32_t driver_features_sel_ = 0;
    std::uint32_t queue_sel_ = 0;
    std::uint32_t shm_sel_ = 0;
};

} // namespace vmm::virtio
