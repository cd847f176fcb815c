// SPDX-License-Identifier: Apache-2.0
// TransportHost: what a virtio transport needs from the VMM (the event loop, queue kicks, DMA).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "virtio/memory/dma_space.hpp"
#include "vmm/base/result.hpp"

namespace vmm {
class EventLoop;
} // namespace vmm

namespace vmm::virtio {

// One queue's notification path. signal() (any thread) makes the event loop run the queue's
// handler once or more; signals may coalesce. bind() asks KVM to signal it directly when the
// guest writes to a notify address (an ioeventfd), so such a notify costs no exit to the VMM.
class QueueKick {
public:
    QueueKick() = default;
    QueueKick(const QueueKick&) = delete;
    QueueKick& operator=(const QueueKick&) = delete;
    virtual ~QueueKick() = default;

    virtual void signal() noexcept = 0;
    // Guest writes of `len` bytes (0: any length, MMIO only) at `addr`, equal to `match` when
    // given, signal the kick in the kernel. One binding at a time: a second bind() replaces it.
    [[nodiscard]] virtual Result<> bind(std::uint64_t addr, std::uint32_t len, std::optional<std::uint64_t> match) = 0;
    virtual void unbind() noexcept = 0;
    // Times the loop ran the handler.
    [[nodiscard]] virtual std::uint64_t handled() const noexcept = 0;
};

// Implemented by the VMM over KVM and the event loop, and by tests over plain calls.
class TransportHost {
public:
    TransportHost() = default;
    TransportHost(const TransportHost&) = delete;
    TransportHost& operator=(const TransportHost&) = delete;
    virtual ~TransportHost() = default;

    // Runs f on the event-loop thread and returns once it has run: device activation and reset
    // must be complete before the vCPU that asked for them sees the new status. The loop
    // thread never takes a transport's lock, so a transport may call this while holding it.
    virtual void run_on_loop(const std::function<void()>& f) = 0;
    // A kick whose handler runs on the loop thread.
    [[nodiscard]] virtual Result<std::unique_ptr<QueueKick>> make_kick(std::function<void()> handler) = 0;
    // For devices' own descriptors (tap, timers, sockets); null in unit tests.
    [[nodiscard]] virtual EventLoop* loop() noexcept = 0;
};

// How a device's DMA is addressed, chosen at FEATURES_OK (virtio 1.2 §6.1,
// VIRTIO_F_ACCESS_PLATFORM). `direct` is guest-physical; `translated`, when set, is the
// device's endpoint behind the virtio-iommu. A device behind the IOMMU offers
// ACCESS_PLATFORM and refuses FEATURES_OK without it: no access may bypass the IOMMU.
struct DmaSpaces {
    const DmaSpace* direct = nullptr;
    const DmaSpace* translated = nullptr;
};

} // namespace vmm::virtio

namespace vmm::virtio {

// An edge-triggered interrupt line (an irqfd on x86): trigger() from any thread.
class IrqLine {
public:
    IrqLine() = default;
    IrqLine(const IrqLine&) = delete;
    IrqLine& operator=(const IrqLine&) = delete;
    virtual ~IrqLine() = default;
    virtual void trigger() noexcept = 0;
};

// A level-triggered interrupt line (PCI INTx): asserted while the device has an interrupt
// pending. set_level() from any thread, lock-free; the caller keeps the state the level is
// derived from and calls it whenever that may have changed.
class LevelIrqLine {
public:
    LevelIrqLine() = default;
    LevelIrqLine(const LevelIrqLine&) = delete;
    LevelIrqLine& operator=(const LevelIrqLine&) = delete;
    virtual ~LevelIrqLine() = default;
    virtual void set_level(bool asserted) noexcept = 0;
};

} // namespace vmm::virtio
