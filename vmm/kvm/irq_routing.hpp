// SPDX-License-Identifier: Apache-2.0
// KVM GSI routing: the in-kernel irqchip's pins plus one MSI route per PCI MSI-X vector.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include <linux/kvm.h>

#include "vmm/kvm/kvm.hpp"
#include "vmm/pci/msix.hpp"

namespace vmm::kvm {

// The IOAPIC's pins; MSI routes take the GSIs from here up.
inline constexpr std::uint32_t IRQCHIP_GSIS = 24;
inline constexpr std::uint32_t FIRST_MSI_GSI = IRQCHIP_GSIS;
inline constexpr std::uint32_t MAX_GSIS = 4096; // KVM_MAX_IRQ_ROUTES

struct MsiRoute {
    std::uint32_t gsi = 0;
    pci::MsiMessage message;
};

// The whole routing table to hand KVM_SET_GSI_ROUTING, which replaces the table the kernel has:
// first what KVM installs by default with the in-kernel irqchip (GSI 0..23 to the IOAPIC pin of
// the same number, GSI 0..15 also to the two 8259s), so that the platform devices' interrupts
// (serial, virtio-mmio, PCI INTx) keep working, then the MSI routes.
[[nodiscard]] std::vector<kvm_irq_routing_entry> gsi_routing_table(std::span<const MsiRoute> msi);

// pci::MsiRouter over KVM: each vector is a GSI from FIRST_MSI_GSI up with an irqfd; set_route()
// rewrites the routing table (vCPU threads, serialised here), trigger() writes the eventfd (any
// thread, lock-free). Must outlive its vectors.
class KvmMsiRouter final : public pci::MsiRouter {
public:
    explicit KvmMsiRouter(const VmFd& vm)
        : vm_(&vm)
    {
    }

    [[nodiscard]] Result<std::unique_ptr<pci::MsiVector>> allocate() override;

    // For the API and tests: routes installed now.
    [[nodiscard]] std::size_t routes() const;

private:
    friend class KvmMsiVector;
    [[nodiscard]] Result<> set_route(std::uint32_t gsi, const pci::MsiMessage& message);
    void release(std::uint32_t gsi, int eventfd) noexcept;
    [[nodiscard]] Result<> commit_locked();

    const VmFd* vm_;
    mutable std::mutex mutex_;
    std::map<std::uint32_t, pci::MsiMessage> routes_;
    std::uint32_t next_gsi_ = FIRST_MSI_GSI;
};

} // namespace vmm::kvm
