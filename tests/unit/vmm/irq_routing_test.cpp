// SPDX-License-Identifier: Apache-2.0
// gsi_routing_table(): the irqchip routes KVM installs by default, then the MSI routes.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "vmm/kvm/irq_routing.hpp"

using namespace vmm;
using namespace vmm::kvm;

namespace {

std::size_t count_irqchip(
    const std::vector<kvm_irq_routing_entry>& t, std::uint32_t gsi, std::uint32_t chip, std::uint32_t pin)
{
    return static_cast<std::size_t>(std::count_if(t.begin(), t.end(), [&](const kvm_irq_routing_entry& e) {
        return e.gsi == gsi && e.type == KVM_IRQ_ROUTING_IRQCHIP && e.u.irqchip.irqchip == chip
            && e.u.irqchip.pin == pin;
    }));
}

} // namespace

TEST_CASE("the routing table keeps every IOAPIC pin and the 8259 pins, as KVM's default has them", "[kvm][routing]")
{
    const auto t = gsi_routing_table({});

    CHECK(t.size() == 24 + 16);
    CHECK(count_irqchip(t, 4, KVM_IRQCHIP_IOAPIC, 4) == 1); // COM1
    CHECK(count_irqchip(t, 4, KVM_IRQCHIP_PIC_MASTER, 4) == 1);
    CHECK(count_irqchip(t, 9, KVM_IRQCHIP_PIC_SLAVE, 1) == 1);
    CHECK(count_irqchip(t, 16, KVM_IRQCHIP_IOAPIC, 16) == 1); // virtio-mmio
    CHECK(count_irqchip(t, 23, KVM_IRQCHIP_IOAPIC, 23) == 1); // PCI INTx
    CHECK(count_irqchip(t, 16, KVM_IRQCHIP_PIC_MASTER, 0) == 0);
}

TEST_CASE("MSI routes follow the irqchip ones with their address split in halves", "[kvm][routing]")
{
    const std::vector<MsiRoute> msi { { FIRST_MSI_GSI, { 0x1'fee0'1000, 0x4041 } } };

    const auto t = gsi_routing_table(msi);

    REQUIRE(t.size() == 41);
    const auto& e = t.back();
    CHECK(e.gsi == 24);
    CHECK(e.type == KVM_IRQ_ROUTING_MSI);
    CHECK(e.u.msi.address_lo == 0xfee0'1000);
    CHECK(e.u.msi.address_hi == 1);
    CHECK(e.u.msi.data == 0x4041);
}
