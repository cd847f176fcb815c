// SPDX-License-Identifier: Apache-2.0
// QueueConfig: a virtqueue's registers as the driver programs them, and activation into a Queue.
#pragma once

#include <cstdint>
#include <functional>

#include "virtio/interrupt.hpp"
#include "virtio/memory/dma_space.hpp"
#include "virtio/queue/queue.hpp"
#include "vmm/base/result.hpp"

namespace vmm::virtio {

// Owned by the transport; the setters run on vCPU threads under the transport lock. Holds
// values only; nothing is checked against guest memory until activate(), which snapshots the
// registers into a Queue (later register writes do not reach a running queue). activate()
// resolves the rings through the DMA space, whose mappings the event-loop thread owns, so the
// transport runs it there (EventLoop::call from the vCPU, as for DRIVER_OK).
class QueueConfig {
public:
    explicit QueueConfig(std::uint16_t max_size) noexcept;

    [[nodiscard]] std::uint16_t max_size() const noexcept { return max_size_; }
    [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
    [[nodiscard]] bool ready() const noexcept { return ready_; }
    [[nodiscard]] std::uint64_t desc_addr() const noexcept { return desc_; }
    [[nodiscard]] std::uint64_t driver_addr() const noexcept { return driver_; }
    [[nodiscard]] std::uint64_t device_addr() const noexcept { return device_; }
    [[nodiscard]] const RingState& ring_state() const noexcept { return state_; }

    // Guest-controlled: stored as written and validated by activate() (whether the size must be
    // a power of two depends on the negotiated ring layout). Ignored, with a rate-limited log
    // line, while the queue is enabled: virtio 1.2 §4.1.4.3.2 and §4.2.2.2 have the driver
    // configure a queue before enabling it.
    void set_size(std::uint16_t size) noexcept;
    void set_desc_addr(std::uint64_t addr) noexcept;
    void set_driver_addr(std::uint64_t addr) noexcept;
    void set_device_addr(std::uint64_t addr) noexcept;
    void set_ready(bool ready) noexcept;
    // Snapshot restore and tests only: where the device starts in the rings.
    void set_ring_state(const RingState& state) noexcept;

    // Validates the configuration (virtio 1.2 §2.7 and §2.8: size non-zero, at most max_size
    // and 2^15, a power of two for split rings; each part aligned and wholly resolvable through
    // `dma` with the access the device needs; parts not overlapping) and builds the running
    // queue. The transport calls it at DRIVER_OK for every enabled queue, or when a queue is
    // re-enabled after a per-queue reset. `dma`, `interrupt` and `faults` (injected completion
    // faults, optional) must outlive the Queue.
    [[nodiscard]] Result<Queue> activate(std::uint16_t index, const DmaSpace& dma, std::uint64_t acked_features,
        Interrupt& interrupt, CompletionFaults* faults = nullptr) const;

    // Back to the reset values (virtio 1.2 §2.6.1, device reset or VIRTIO_F_RING_RESET): size
    // = max_size, addresses 0, not enabled, ring state zero.
    void reset() noexcept;

    // Called for each size or address write refused because the queue is enabled (the
    // transport counts it as a driver violation).
    void on_refused_write(std::function<void()> hook) { refused_hook_ = std::move(hook); }

private:
    [[nodiscard]] bool writable(const char* what) const noexcept;
    std::function<void()> refused_hook_;

    std::uint16_t max_size_;
    std::uint16_t size_;
    std::uint64_t desc_ = 0;
    std::uint64_t driver_ = 0;
    std::uint64_t device_ = 0;
    bool ready_ = false;
    RingState state_;
};

} // namespace vmm::virtio
