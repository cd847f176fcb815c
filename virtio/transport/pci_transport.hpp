// SPDX-License-Identifier: Apache-2.0
// PciTransport: a virtio device behind the modern (non-transitional) virtio-pci interface.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "virtio/spec/pci.hpp"
#include "virtio/transport/transport_core.hpp"
#include "vmm/pci/config_space.hpp"
#include "vmm/pci/msix.hpp"
#include "vmm/pci/pci_device.hpp"

namespace vmm::virtio {

// A shared memory region the device declares (virtio 1.2 §2.10); on PCI it is a window in a
// BAR. Only described for now: the window has no memory behind it yet.
struct PciShmRegion {
    std::uint8_t id = 0;
    std::uint64_t length = 0;
};

struct PciTransportOptions {
    // notification_data unset: offered (a notify address per queue makes it free).
    TransportOptions transport;
    std::vector<PciShmRegion> shm;
};

// virtio 1.2 §4.1, modern only. One PCI function with:
// - BAR 0, 64-bit memory, one 4 KiB page per structure: common configuration, ISR status,
//   device-specific configuration, notifications (one 4-byte address per queue,
//   notify_off_multiplier 4), then the MSI-X table and PBA;
// - BAR 2, 64-bit prefetchable memory, only with shared memory regions: one window per region;
// - capabilities: MSI-X (one vector per queue plus one for configuration changes), the virtio
//   structures, VIRTIO_PCI_CAP_PCI_CFG, one VIRTIO_PCI_CAP_SHARED_MEMORY_CFG per region, and a
//   VIRTIO_PCI_CAP_VENDOR_CFG naming the VMM version.
// Queue notifies go to per-queue ioeventfds at the queue's notify address, which match any
// value of any width (the queue index, or notification data); they move with BAR 0. A notify
// that reaches the VMM as a trapped write kicks the queue the address names. Interrupts: MSI-X
// when the driver enables it, else the ISR and INTx, a level line raised while the ISR is
// non-zero and lowered when the driver reads it.
//
// Threads: configuration and BAR accesses run on vCPU threads under one lock; interrupts come
// from the event loop through atomics only.
class PciTransport final : public pci::PciDevice {
public:
    static constexpr std::uint8_t REGS_BAR = 0;
    static constexpr std::uint8_t SHM_BAR = 2;
    static constexpr std::uint64_t COMMON_OFFSET = 0x0000;
    static constexpr std::uint64_t ISR_OFFSET = 0x1000;
    static constexpr std::uint64_t DEVICE_OFFSET = 0x2000;
    static constexpr std::uint64_t NOTIFY_OFFSET = 0x3000;
    static constexpr std::uint64_t PAGE = 0x1000;
    static constexpr std::uint32_t NOTIFY_OFF_MULTIPLIER = 4;
    // The vendor data capability's vendor_id (virtio 1.2 §4.1.4.8: anything but 0x1AF4). 0xFFFF
    // is the one value no PCI-SIG member can hold, so no other vendor's format is mistaken for
    // this one.
    static constexpr std::uint16_t VENDOR_CAP_VENDOR_ID = 0xffff;

    [[nodiscard]] static Result<std::shared_ptr<PciTransport>> create(std::unique_ptr<Device> device,
        TransportHost& host, pci::MsiRouter& msi, std::unique_ptr<LevelIrqLine> intx, PciTransportOptions options);
    ~PciTransport() override;

    // PciDevice.
    void config_read(std::uint32_t offset, std::span<std::byte> data) noexcept override;
    void config_write(std::uint32_t offset, std::span<const std::byte> data) noexcept override;
    void bar_read(std::uint8_t index, std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void bar_write(std::uint8_t index, std::uint64_t offset, std::span<const std::byte> data) noexcept override;
    [[nodiscard]] pci::BarSpecs bars() const override;
    [[nodiscard]] std::uint64_t bar_address(std::uint8_t index) const override;
    void set_bar_address(std::uint8_t index, std::uint64_t address) override;
    void attach(pci::BarMapper& mapper) override;

    // Device reset from the VMM (shutdown).
    void reset();
    // Surprise removal, a fault the API injects: from here on the function is gone. Its
    // configuration space and BARs read as all ones and ignore writes, as a function that no
    // longer answers does; its notify ioeventfds are unbound, MSI-X is off, and the device is
    // reset (it stops touching guest memory). Nothing plugs it back. On the loop thread:
    // `wait_step` runs while a vCPU holds the lock, since that vCPU may be waiting for the loop.
    void unplug(const std::function<void()>& wait_step);
    [[nodiscard]] bool unplugged() const noexcept { return unplugged_.load(std::memory_order_acquire); }
    // Guest accesses that reached the function after it went (a driver still polling it).
    [[nodiscard]] std::uint64_t accesses_after_unplug() const noexcept
    {
        return late_accesses_.load(std::memory_order_relaxed);
    }
    // Where BAR `index` is now, for the API: lock-free, so the loop thread may ask.
    [[nodiscard]] std::uint64_t current_bar_address(std::uint8_t index) const noexcept;

    [[nodiscard]] TransportCore& core() noexcept { return core_; }
    [[nodiscard]] const std::string& name() const noexcept { return core_.name(); }
    // Where things are in BAR 0.
    [[nodiscard]] std::uint64_t msix_table_offset() const noexcept { return table_offset_; }
    [[nodiscard]] std::uint64_t msix_pba_offset() const noexcept { return pba_offset_; }
    [[nodiscard]] std::uint64_t shm_offset(std::size_t region) const noexcept { return shm_offsets_.at(region); }
    // The ISR as it stands, without the read side effect (tests, status).
    [[nodiscard]] std::uint8_t isr_status() const noexcept { return irq_.isr(); }
    [[nodiscard]] bool msix_enabled() const noexcept { return msix_->enabled(); }

    PciTransport(std::unique_ptr<Device> device, TransportHost& host, std::unique_ptr<pci::Msix> msix,
        std::unique_ptr<LevelIrqLine> intx, PciTransportOptions options); // use create()

private:
    // MSI-X vectors per event while the driver has MSI-X enabled, else ISR plus INTx.
    class PciInterrupt final : public Interrupt {
    public:
        PciInterrupt(pci::Msix& msix, std::unique_ptr<LevelIrqLine> intx, std::size_t queues);

        // Loop side.
        void trigger_queue(std::uint16_t queue_index) noexcept override;
        void trigger_config() noexcept override;
        void signal_needs_reset() noexcept override { }

        // vCPU side, under the transport lock.
        [[nodiscard]] std::uint8_t read_isr() noexcept; // reads, clears, lowers INTx
        [[nodiscard]] std::uint8_t isr() const noexcept { return isr_.load(std::memory_order_acquire); }
        // INTx may be asserted: MSI-X off and INTx not disabled in the command register.
        void set_intx_allowed(bool allowed) noexcept;
        [[nodiscard]] std::uint16_t config_vector() const noexcept { return config_vector_.load(); }
        void set_config_vector(std::uint16_t v) noexcept { config_vector_.store(v); }
        [[nodiscard]] std::uint16_t queue_vector(std::size_t q) const noexcept { return queue_vectors_[q].load(); }
        void set_queue_vector(std::size_t q, std::uint16_t v) noexcept { queue_vectors_[q].store(v); }
        // Device reset: every event unmapped (§4.1.5.1.2), ISR clear, INTx low.
        void reset() noexcept;

    private:
        void fire_or_intx(std::uint16_t vector, std::uint8_t isr_bit) noexcept;
        void assert_intx() noexcept;

        pci::Msix* msix_;
        std::unique_ptr<LevelIrqLine> intx_;
        std::atomic<std::uint8_t> isr_ { 0 };
        std::atomic<bool> intx_allowed_ { true };
        std::atomic<std::uint16_t> config_vector_ { pci_spec::VIRTIO_MSI_NO_VECTOR };
        std::vector<std::atomic<std::uint16_t>> queue_vectors_;
    };

    [[nodiscard]] Result<> build_capabilities();
    void regs_read(std::uint64_t offset, std::span<std::byte> data) noexcept;
    void regs_write(std::uint64_t offset, std::span<const std::byte> data);
    [[nodiscard]] std::uint64_t common_read(std::uint32_t offset, std::size_t width) noexcept;
    void common_write(std::uint32_t offset, std::size_t width, std::uint64_t value);
    // VIRTIO_PCI_CAP_PCI_CFG: the BAR access the capability's fields describe, if they make one.
    void cfg_window_access(bool write);
    void on_bar_moved(std::uint8_t index, std::optional<std::uint64_t> base);
    void update_intx_allowed() noexcept;
    void snapshot_bars() noexcept;
    [[nodiscard]] std::uint16_t checked_vector(std::uint64_t value) const noexcept;
    [[nodiscard]] std::uint8_t config_generation() noexcept;
    // Under the lock: the function is gone; counts the access.
    [[nodiscard]] bool gone() noexcept;

    PciTransportOptions options_;
    std::unique_ptr<pci::Msix> msix_;
    PciInterrupt irq_;
    TransportCore core_;
    pci::ConfigSpace config_;
    mutable std::mutex mutex_; // every configuration and BAR access
    // Layout of the BARs.
    std::uint64_t notify_size_ = 0;
    std::uint64_t table_offset_ = 0;
    std::uint64_t pba_offset_ = 0;
    std::uint64_t regs_size_ = 0;
    std::vector<std::uint64_t> shm_offsets_;
    std::uint64_t shm_size_ = 0;
    // bar_address() of each BAR as of the last configuration write, for readers that must not
    // take the lock.
    std::array<std::atomic<std::uint64_t>, vmm::pci::BAR_COUNT> bar_snapshot_ {};
    // Capability offsets in configuration space.
    std::uint32_t msix_cap_ = 0;
    std::uint32_t cfg_cap_ = 0;
    // Common configuration selectors.
    std::uint32_t device_features_sel_ = 0;
    std::uint32_t driver_features_sel_ = 0;
    std::uint16_t queue_sel_ = 0;
    // A reset was written and device_status not read since (§4.1.4.3.2).
    bool reset_unconfirmed_ = false;
    // config_generation is 8 bits wide (§4.1.4.3.1): it moves on when the device's generation
    // has changed since the driver last read it, so that a wrap cannot hide a change.
    std::uint32_t seen_generation_ = 0;
    std::uint8_t generation_ = 0;
    std::atomic<bool> unplugged_ { false }; // written under the lock
    std::atomic<std::uint64_t> late_accesses_ { 0 };
};

// The PCI class code for a virtio device type (PCI Code and ID Assignment): storage for block
// and file systems, network for net, and so on; 0xff0000 ("fits no class") for the rest.
[[nodiscard]] std::uint32_t pci_class_code(DeviceType type) noexcept;

} // namespace vmm::virtio
