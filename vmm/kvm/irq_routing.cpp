// SPDX-License-Identifier: Apache-2.0
// KVM GSI routing.
#include "vmm/kvm/irq_routing.hpp"

#include <optional>

#include <spdlog/spdlog.h>

#include "vmm/base/event_fd.hpp"

namespace vmm::kvm {

std::vector<kvm_irq_routing_entry> gsi_routing_table(std::span<const MsiRoute> msi)
{
    constexpr std::uint32_t PIC_PINS = 8;
    constexpr std::uint32_t PIC_GSIS = 16;
    std::vector<kvm_irq_routing_entry> table;
    auto irqchip = [&](std::uint32_t gsi, std::uint32_t chip, std::uint32_t pin) {
        kvm_irq_routing_entry e {};
        e.gsi = gsi;
        e.type = KVM_IRQ_ROUTING_IRQCHIP;
        e.u.irqchip.irqchip = chip;
        e.u.irqchip.pin = pin;
        table.push_back(e);
    };
    // The same entries, in the same order, as the kernel's default table (arch/x86/kvm/irq_comm.c).
    for (std::uint32_t gsi = 0; gsi < IRQCHIP_GSIS; ++gsi) {
        irqchip(gsi, KVM_IRQCHIP_IOAPIC, gsi);
        if (gsi < PIC_GSIS) {
            irqchip(gsi, gsi < PIC_PINS ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % PIC_PINS);
        }
    }
    for (const auto& r : msi) {
        kvm_irq_routing_entry e {};
        e.gsi = r.gsi;
        e.type = KVM_IRQ_ROUTING_MSI;
        e.u.msi.address_lo = static_cast<std::uint32_t>(r.message.address);
        e.u.msi.address_hi = static_cast<std::uint32_t>(r.message.address >> 32);
        e.u.msi.data = r.message.data;
        table.push_back(e);
    }
    return table;
}

class KvmMsiVector final : public pci::MsiVector {
public:
    KvmMsiVector(KvmMsiRouter& router, EventFd fd, std::uint32_t gsi)
        : router_(&router)
        , fd_(std::move(fd))
        , gsi_(gsi)
    {
    }
    KvmMsiVector(const KvmMsiVector&) = delete;
    KvmMsiVector& operator=(const KvmMsiVector&) = delete;
    ~KvmMsiVector() override { router_->release(gsi_, fd_.fd()); }

    [[nodiscard]] Result<> set_route(const pci::MsiMessage& message) override
    {
        return router_->set_route(gsi_, message);
    }
    // The irqfd: KVM injects the GSI's current route from the eventfd's wake-up.
    void trigger() noexcept override { fd_.signal(); }

private:
    KvmMsiRouter* router_;
    EventFd fd_;
    std::uint32_t gsi_;
};

Result<std::unique_ptr<pci::MsiVector>> KvmMsiRouter::allocate()
{
    std::uint32_t gsi = 0;
    {
        std::lock_guard lock(mutex_);
        if (next_gsi_ >= MAX_GSIS) {
            return fail(Errc::out_of_range, "no GSI left for another MSI-X vector (KVM allows {})", MAX_GSIS);
        }
        gsi = next_gsi_++;
    }
    auto fd = VMM_TRY(EventFd::create());
    // An irqfd on a GSI without a route injects nothing: the vector is silent until routed.
    VMM_TRY(vm_->irqfd(fd.fd(), gsi));
    return std::unique_ptr<pci::MsiVector>(std::make_unique<KvmMsiVector>(*this, std::move(fd), gsi));
}

std::size_t KvmMsiRouter::routes() const
{
    std::lock_guard lock(mutex_);
    return routes_.size();
}

Result<> KvmMsiRouter::commit_locked()
{
    std::vector<MsiRoute> msi;
    msi.reserve(routes_.size());
    for (const auto& [gsi, message] : routes_) {
        msi.push_back(MsiRoute { gsi, message });
    }
    return vm_->set_gsi_routing(gsi_routing_table(msi));
}

Result<> KvmMsiRouter::set_route(std::uint32_t gsi, const pci::MsiMessage& message)
{
    std::lock_guard lock(mutex_);
    auto it = routes_.find(gsi);
    if (it != routes_.end() && it->second == message) {
        return {};
    }
    const auto previous = it != routes_.end() ? std::optional(it->second) : std::nullopt;
    routes_[gsi] = message;
    if (auto r = commit_locked(); !r) {
        // Guest-controlled message that KVM refused: keep the table it had, so that every other
        // route stays in place.
        if (previous) {
            routes_[gsi] = *previous;
        } else {
            routes_.erase(gsi);
        }
        (void)commit_locked();
        return r;
    }
    return {};
}

void KvmMsiRouter::release(std::uint32_t gsi, int eventfd) noexcept
{
    if (auto r = vm_->irqfd(eventfd, gsi, true); !r) {
        spdlog::warn("removing the irqfd of GSI {}: {}", gsi, r.error().describe());
    }
    std::lock_guard lock(mutex_);
    if (routes_.erase(gsi) != 0) {
        (void)commit_locked();
    }
}

} // namespace vmm::kvm
