// SPDX-License-Identifier: Apache-2.0
// Interrupt: how a device and its queues signal the driver, implemented by each transport.
#pragma once

#include <cstdint>

#include "virtio/queue/queue_fault.hpp"

namespace vmm::virtio {

// Implemented by the transports: virtio-mmio with an interrupt status word plus an irqfd,
// virtio-pci with MSI-X vectors (or INTx and the ISR). Called from the event-loop thread; an
// implementation must not block and must not call back into the device.
class Interrupt {
public:
    Interrupt() = default;
    Interrupt(const Interrupt&) = delete;
    Interrupt& operator=(const Interrupt&) = delete;
    virtual ~Interrupt() = default;

    // virtio 1.2 §2.3: a used buffer notification for queue `queue_index`.
    virtual void trigger_queue(std::uint16_t queue_index) noexcept = 0;
    // virtio 1.2 §2.3: a configuration change notification.
    virtual void trigger_config() noexcept = 0;
    // virtio 1.2 §2.1.2: the device hit an error it cannot recover from without a reset. The
    // transport sets DEVICE_NEEDS_RESET and, if DRIVER_OK is set, sends a configuration change
    // notification. Queue faults arrive here; so may device-level faults.
    virtual void signal_needs_reset() noexcept = 0;
    // Which driver error stopped a queue, for the driver-conformance report; followed by
    // signal_needs_reset().
    virtual void report_queue_fault(QueueFault fault) noexcept { (void)fault; }
};

} // namespace vmm::virtio
