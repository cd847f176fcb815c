// SPDX-License-Identifier: Apache-2.0
// KvmTransportHost: virtio transports on KVM ioeventfds and irqfds and the event loop.
#pragma once

#include <cstdint>
#include <memory>

#include "virtio/transport/transport_host.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm {

// Kicks are eventfds watched on the loop (the handler drains the eventfd first) and bound to
// KVM ioeventfds; run_on_loop() is EventLoop::call (a direct call on the loop thread itself).
class KvmTransportHost final : public virtio::TransportHost {
public:
    KvmTransportHost(EventLoop& loop, const kvm::VmFd& vm) : loop_(&loop), vm_(&vm) {}

    void run_on_loop(const std::function<void()>& f) override;
    [[nodiscard]] Result<std::unique_ptr<virtio::QueueKick>> make_kick(std::function<void()> handler) override;
    [[nodiscard]] EventLoop* loop() noexcept override { return loop_; }

    // An edge-triggered line into the in-kernel IOAPIC pin `gsi`, through an irqfd.
    [[nodiscard]] Result<std::unique_ptr<virtio::IrqLine>> make_irq_line(std::uint32_t gsi);
    // A level-triggered line into IOAPIC pin `gsi` (PCI INTx), through an irqfd with a resample
    // eventfd: set_level() only touches an atomic and the eventfd; KVM lowers the line when the
    // guest acknowledges the interrupt, and the loop raises it again while the level is held.
    [[nodiscard]] Result<std::unique_ptr<virtio::LevelIrqLine>> make_level_irq_line(std::uint32_t gsi);

private:
    EventLoop* loop_;
    const kvm::VmFd* vm_;
};

} // namespace vmm
