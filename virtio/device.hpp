// SPDX-License-Identifier: Apache-2.0
// Device: the transport-agnostic interface of a virtio device model, and its activation context.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "virtio/interrupt.hpp"
#include "virtio/memory/dma_space.hpp"
#include "virtio/queue/queue.hpp"
#include "virtio/spec/device_types.hpp"
#include "virtio/spec/features.hpp"
#include "vmm/base/result.hpp"

namespace vmm {
class EventLoop;
} // namespace vmm

namespace vmm::virtio {

class StatusFaults;

// What a device gets when the driver sets DRIVER_OK (or, for enable_queue(), one queue).
struct ActivationContext {
    // The queues the driver enabled, activated, in index order; Queue::index() names each.
    // A device that needs a queue the driver left disabled fails activation.
    std::vector<Queue> queues;
    Interrupt& interrupt;
    // For addresses carried inside requests (balloon PFNs, GPU backing pages). Queue buffers
    // are already resolved in each chain.
    const DmaSpace& dma;
    // Only for device-private fds (tap, timers, backend sockets); null in unit tests.
    EventLoop* loop = nullptr;
};

// Host memory that a device puts into guest-physical space outside RAM (virtio-pmem's range).
// The VMM maps it as a KVM memory slot of its own at an address it picks, and names the
// address to the device with place_guest_window() before the guest runs; the guest reaches it
// with its own loads and stores, not through the device's queues.
struct GuestWindow {
    std::byte* host = nullptr;
    std::uint64_t size = 0;  // a multiple of `align`
    std::uint64_t align = 0; // of the guest-physical base; a power of two
    bool read_only = false;  // a KVM_MEM_READONLY slot: guest writes are dropped
};

// Implemented by every device model. The transports own the register state and the status
// state machine and call in; a device never knows whether it sits on virtio-mmio or virtio-pci.
//
// Threads: features(), ack_features(), config_size(), read_config(), write_config() and
// config_generation() run on vCPU threads under the transport lock (and must be safe against
// the device's own config updates from the loop). activate(), reset(), on_queue_notify(),
// reset_queue() and enable_queue() run on the event-loop thread.
class Device {
public:
    Device() = default;
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;
    virtual ~Device() = default;

    [[nodiscard]] virtual DeviceType type() const noexcept = 0;
    // One entry per queue: its maximum size (QueueNumMax / queue_size's initial value).
    [[nodiscard]] virtual std::span<const std::uint16_t> queue_max_sizes() const noexcept = 0;

    // Offered features. VIRTIO_F_VERSION_1 at least (virtio 1.2 §6.2: devices MUST offer it).
    [[nodiscard]] virtual std::uint64_t features() const noexcept { return feature_bit(VIRTIO_F_VERSION_1); }
    // The driver's accepted subset, at FEATURES_OK. The transport has already refused bits
    // that were not offered.
    virtual void ack_features(std::uint64_t features) noexcept { (void)features; }

    // Device configuration space (virtio 1.2 §2.5). Reads past the end return zeros; writes past
    // the end are ignored.
    [[nodiscard]] virtual std::uint32_t config_size() const noexcept { return 0; }
    virtual void read_config(std::uint32_t offset, std::span<std::byte> out) const noexcept
    {
        (void)offset;
        for (auto& b : out) {
            b = std::byte { 0 };
        }
    }
    // Returns whether the write went to a field the driver may write (the device's section
    // says which, e.g. §5.2.4 blk writeback): the transports count the others as a driver
    // violation. A refused write changes nothing.
    virtual bool write_config(std::uint32_t offset, std::span<const std::byte> in) noexcept
    {
        (void)offset;
        (void)in;
        return false;
    }
    // The error statuses its requests can be made to end in (virtio/status_faults.hpp); null
    // for a device whose requests have no status.
    [[nodiscard]] virtual StatusFaults* status_faults() noexcept { return nullptr; }
    // Changes whenever the device changes its configuration space (virtio 1.2 §2.5).
    [[nodiscard]] virtual std::uint32_t config_generation() const noexcept { return 0; }

    // DRIVER_OK: take the queues and start. An error makes the transport set
    // DEVICE_NEEDS_RESET.
    [[nodiscard]] virtual Result<> activate(ActivationContext ctx) = 0;
    // Device reset (virtio 1.2 §2.4): drop the queues, cancel or finish every request that
    // still touches guest memory, and return to the pre-activation state. When it returns the
    // device must not touch guest memory or send notifications until activated again.
    virtual void reset() noexcept = 0;
    // The driver notified queue `queue_index` (its eventfd is already drained). May come before
    // activation or for a queue the device does not have: ignore it then.
    virtual void on_queue_notify(std::uint16_t queue_index) noexcept = 0;

    // VIRTIO_F_RING_RESET (virtio 1.2 §2.6.1). Devices that offer the feature override both.
    // reset_queue: stop using the queue and drop it with its in-flight chains (chains already
    // handed to asynchronous I/O become stale: completing them does nothing).
    virtual void reset_queue(std::uint16_t queue_index) noexcept { (void)queue_index; }
    // The VM runs again after `paused_for` stopped (API pause, then resume); loop thread. A
    // device whose driver must hear of a long pause (vsock's TRANSPORT_RESET) tells it here.
    virtual void on_resume(std::chrono::nanoseconds paused_for) noexcept { (void)paused_for; }
    // For the API's status: the device's own state and counters (loop thread); null when it
    // has nothing beyond what the transport shows.
    [[nodiscard]] virtual nlohmann::json status() const { return nullptr; }

    // Behind the IOMMU, whether a driver may decline VIRTIO_F_ACCESS_PLATFORM and have the device
    // use guest-physical addresses (§6.1) instead of failing FEATURES_OK. Only for a device whose
    // driver works on guest-physical pages by design: Linux's virtio-balloon clears the bit in
    // its validate() and never maps its page lists through the DMA API.
    [[nodiscard]] virtual bool physical_dma_allowed() const noexcept { return false; }

    // The guest-physical window the device needs, if any (see GuestWindow); the VMM asks once,
    // before the guest runs, maps it and calls place_guest_window() with its base.
    [[nodiscard]] virtual std::optional<GuestWindow> guest_window() const noexcept { return std::nullopt; }
    virtual void place_guest_window(std::uint64_t gpa) noexcept { (void)gpa; }

    // The driver re-enabled a queue after reset_queue(): take it over.
    [[nodiscard]] virtual Result<> enable_queue(Queue queue)
    {
        return fail(Errc::unsupported, "{} device cannot re-enable queue {}", to_string(type()), queue.index());
    }
};

} // namespace vmm::virtio
