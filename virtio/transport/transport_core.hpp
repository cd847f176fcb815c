// SPDX-License-Identifier: Apache-2.0
// TransportCore: the register semantics virtio-mmio and virtio-pci share.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "virtio/device.hpp"
#include "virtio/interrupt.hpp"
#include "virtio/transport/conformance.hpp"
#include "virtio/transport/timing_faults.hpp"
#include "virtio/queue/queue_config.hpp"
#include "virtio/transport/transport_host.hpp"

namespace vmm::virtio {

// Transport-level choices, per device.
struct TransportOptions {
    // Offer VIRTIO_F_RING_PACKED (virtio 1.2 §2.8).
    bool packed = true;
    // Offer VIRTIO_F_NOTIFICATION_DATA (§2.9); unset: the transport's default. On by default
    // on virtio-pci, where it is free (a notify address per queue, whose ioeventfd matches any
    // value); off by default on virtio-mmio, where notifications then carry data an ioeventfd
    // cannot match, so each one costs an exit to the VMM.
    std::optional<bool> notification_data;
    DmaSpaces dma;
    // For log lines: "virtio-mmio@0xd0000000 (rng)".
    std::string name = "virtio";
};

// One device's transport-independent state: feature negotiation, the status state machine
// (virtio 1.2 §2.1, §3.1), queue configuration, activation, device and queue reset, and the
// DEVICE_NEEDS_RESET latch. A transport decodes its registers and calls in.
//
// Threads: everything except the noted members is called by the transport on vCPU threads,
// under the transport's lock, which serialises all of it. Activation and resets run on the
// loop through TransportHost::run_on_loop while that lock is held; the loop side only touches
// atomics here (needs-reset latch, interrupt forwarding), never the lock.
class TransportCore {
public:
    // The transport-specific interrupt (an MMIO status word, MSI-X vectors) must outlive the core.
    TransportCore(std::unique_ptr<Device> device, TransportHost& host, Interrupt& interrupt, TransportOptions options);
    TransportCore(const TransportCore&) = delete;
    TransportCore& operator=(const TransportCore&) = delete;
    ~TransportCore();

    // Creates a kick per queue; its handler runs the device's on_queue_notify on the loop.
    [[nodiscard]] Result<> init();

    [[nodiscard]] Device& device() noexcept { return *device_; }
    [[nodiscard]] const Device& device() const noexcept { return *device_; }
    [[nodiscard]] const std::string& name() const noexcept { return options_.name; }
    [[nodiscard]] TransportHost& host() noexcept { return *host_; }

    // ---- Features (virtio 1.2 §2.2) ----
    [[nodiscard]] std::uint64_t offered_features() const noexcept { return offered_; }
    // 32 bits of the offered features; 0 past bit 63.
    [[nodiscard]] std::uint32_t device_features_word(std::uint32_t select) const noexcept;
    // Guest-controlled: stored as written until FEATURES_OK; ignored afterwards (§2.2: the
    // driver MUST NOT change features after FEATURES_OK) and for select > 1.
    void write_driver_features_word(std::uint32_t select, std::uint32_t value) noexcept;
    [[nodiscard]] std::uint32_t driver_features_word(std::uint32_t select) const noexcept;
    // What FEATURES_OK accepted; 0 before.
    [[nodiscard]] std::uint64_t negotiated_features() const noexcept { return negotiated_; }

    // ---- Status (§2.1) ----
    // DEVICE_NEEDS_RESET included once latched.
    [[nodiscard]] std::uint8_t status() const noexcept;
    // The state machine: 0 resets the device; FEATURES_OK is refused (does not stick) when the
    // driver accepted bits that were not offered, left out VERSION_1, or left out
    // ACCESS_PLATFORM behind an IOMMU; DRIVER_OK activates the device and its enabled queues,
    // and a failure there latches DEVICE_NEEDS_RESET. Clearing bits other than by a reset is
    // ignored (§2.1.1: the driver MUST NOT clear a device status bit).
    void write_status(std::uint8_t value);
    [[nodiscard]] bool driver_ok() const noexcept;

    // ---- Queues ----
    [[nodiscard]] std::uint16_t num_queues() const noexcept { return static_cast<std::uint16_t>(configs_.size()); }
    // nullptr for an index the device does not have.
    [[nodiscard]] QueueConfig* queue(std::uint32_t index) noexcept;
    // QueueReady / queue_enable. Enabling a queue after DRIVER_OK hands it to the running device
    // (after a VIRTIO_F_RING_RESET reset); disabling one is only allowed through reset.
    void set_queue_ready(std::uint32_t index, bool ready);
    // QueueReset / queue_reset (§2.6.1, VIRTIO_F_RING_RESET): stops the queue and returns its
    // registers to their reset values. Done before this returns, so it never reads as busy.
    void reset_queue(std::uint32_t index);
    // A notify that reached the VMM as a trapped register write (no ioeventfd matched):
    // `value` is the queue index, or the notification data with VIRTIO_F_NOTIFICATION_DATA.
    void notify_trapped(std::uint32_t value) noexcept;
    [[nodiscard]] QueueKick* kick(std::uint32_t index) noexcept;

    // ---- Configuration space (§2.5) ----
    [[nodiscard]] std::uint32_t config_generation() const noexcept { return device_->config_generation(); }

    // ---- Loop side ----
    // §2.1.2: latch DEVICE_NEEDS_RESET and, once DRIVER_OK is set, send a configuration change
    // notification. Any thread.
    void signal_needs_reset() noexcept;

    // Injected fault (the API's fault-inject): FEATURES_OK does not stick while set, as if the
    // device could not work with any feature set. Any thread.
    void set_refuse_features_ok(bool refuse) noexcept { refuse_features_ok_.store(refuse); }
    [[nodiscard]] bool refuses_features_ok() const noexcept { return refuse_features_ok_.load(); }
    // Timing faults from the API (loop thread); null before init().
    [[nodiscard]] TimingFaults* timing() noexcept { return timing_.get(); }
    [[nodiscard]] const TimingFaults* timing() const noexcept { return timing_.get(); }
    // The driver's violations of the spec's driver requirements seen so far (any thread).
    [[nodiscard]] ConformanceLog& conformance() noexcept { return conformance_; }
    [[nodiscard]] const ConformanceLog& conformance() const noexcept { return conformance_; }
    // Counters for tests and the API (any thread).
    [[nodiscard]] std::uint64_t trapped_notifies() const noexcept { return trapped_notifies_.load(); }
    [[nodiscard]] std::uint64_t kicked_notifies() const noexcept;
    [[nodiscard]] std::uint64_t activations() const noexcept { return activations_.load(); }

    // Device reset, as a status write of 0 does it; also used when the VM shuts down.
    void reset();

private:
    // Forwards queue and config interrupts to the transport's interrupt, and takes queue
    // faults as NEEDS_RESET.
    class InterruptRelay final : public Interrupt {
    public:
        InterruptRelay(TransportCore& core, Interrupt& target) : core_(&core), target_(&target) {}
        void trigger_queue(std::uint16_t queue_index) noexcept override
        {
            if (core_->timing_ && core_->timing_->hold_queue_irq(queue_index)) {
                return; // sent later (an injected delay)
            }
            target_->trigger_queue(queue_index);
        }
        void trigger_config() noexcept override { target_->trigger_config(); }
        void signal_needs_reset() noexcept override { core_->signal_needs_reset(); }
        void report_queue_fault(QueueFault fault) noexcept override { core_->conformance_.record(rule_for(fault)); }

    private:
        TransportCore* core_;
        Interrupt* target_;
    };

    [[nodiscard]] bool accept_features() noexcept;
    [[nodiscard]] Result<> activate();
    [[nodiscard]] const DmaSpace& dma() const noexcept;

    std::unique_ptr<Device> device_;
    TransportHost* host_;
    Interrupt* interrupt_;
    InterruptRelay relay_;
    TransportOptions options_;
    std::uint64_t offered_ = 0;
    std::uint64_t driver_features_ = 0;
    std::uint64_t negotiated_ = 0;
    std::atomic<std::uint8_t> status_ { 0 };
    std::vector<QueueConfig> configs_;
    std::vector<bool> active_; // queue handed to the device
    std::vector<std::unique_ptr<QueueKick>> kicks_;
    std::atomic<std::uint64_t> trapped_notifies_ { 0 };
    std::atomic<std::uint64_t> activations_ { 0 };
    std::atomic<bool> refuse_features_ok_ { false };
    ConformanceLog conformance_;
    std::unique_ptr<TimingFaults> timing_; // destroyed first: its timers call into the rest
};

} // namespace vmm::virtio
