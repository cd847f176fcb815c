// SPDX-License-Identifier: Apache-2.0
// plan_virtio: virtio-mmio slots, interrupt pins, and the command-line form.
#include <catch2/catch.hpp>

#include "arch/x86_64/layout.hpp"
#include "vmm/virtio/virtio_devices.hpp"

using Catch::Matchers::Contains;
using namespace vmm;

namespace {

config::VmConfig with_devices(std::size_t mmio, std::size_t pci)
{
    config::VmConfig cfg;
    for (std::size_t i = 0; i < mmio + pci; ++i) {
        config::DeviceConfig d;
        d.type = "rng";
        d.transport = i < mmio ? config::Transport::mmio : config::Transport::pci;
        d.origin = fmt::format("devices[{}]", i);
        cfg.devices.push_back(d);
    }
    return cfg;
}

} // namespace

TEST_CASE("virtio-mmio devices get consecutive windows and distinct pins, in config order", "[vmm][virtio]")
{
    const auto plan = plan_virtio(with_devices(3, 0));

    REQUIRE(plan);
    REQUIRE(plan->mmio_slots.size() == 3);
    CHECK(plan->mmio_slots[0].base == x86::VIRTIO_MMIO_START);
    CHECK(plan->mmio_slots[1].base == x86::VIRTIO_MMIO_START + x86::VIRTIO_MMIO_SLOT_SIZE);
    CHECK(plan->mmio_slots[2].irq == x86::VIRTIO_MMIO_IRQS[2]);
    CHECK(plan->entries.size() == 3);
    CHECK(plan->cmdline_extra.empty());
}

TEST_CASE("with mmio_discovery cmdline the slots go on the kernel command line, not in the DSDT", "[vmm][virtio]")
{
    auto cfg = with_devices(2, 0);
    cfg.mmio_discovery = config::MmioDiscovery::cmdline;

    const auto plan = plan_virtio(cfg);

    REQUIRE(plan);
    CHECK(plan->mmio_slots.empty());
    CHECK(plan->cmdline_extra == " virtio_mmio.device=4K@0xd0000000:16 virtio_mmio.device=4K@0xd0001000:17");
}

TEST_CASE("more virtio-mmio devices than interrupt pins is refused, naming the entry", "[vmm][virtio]")
{
    const auto plan = plan_virtio(with_devices(std::size(x86::VIRTIO_MMIO_IRQS) + 1, 0));

    REQUIRE_FALSE(plan);
    CHECK_THAT(plan.error().describe(), Contains("devices[13]") && Contains("pci"));
}

TEST_CASE("the virtio-mmio pins avoid the platform devices' pins", "[vmm][virtio]")
{
    for (std::uint32_t irq : x86::VIRTIO_MMIO_IRQS) {
        CHECK(irq < x86::IOAPIC_PINS);
        CHECK(irq != x86::IRQ_COM1);
        CHECK(irq != x86::IRQ_ACPI_GED);
        CHECK(irq > 4);
        CHECK(irq != 8);
        for (std::uint32_t intx : x86::PCI_INTX_IRQS) {
            CHECK(irq != intx);
        }
    }
}

TEST_CASE("devices behind the IOMMU get endpoint IDs and VIOT nodes; the others do not", "[vmm][virtio][iommu]")
{
    auto cfg = with_devices(3, 0);
    cfg.devices[0].type = "iommu";
    cfg.devices[2].iommu = true;

    const auto plan = plan_virtio(cfg);

    REQUIRE(plan);
    CHECK(plan->iommu == std::optional<std::size_t>(0));
    CHECK_FALSE(plan->entries[1].endpoint);
    CHECK(plan->entries[2].endpoint == std::optional<std::uint32_t>(VirtioPlan::MMIO_ENDPOINT_BASE + 2));
    REQUIRE(plan->viot);
    CHECK(plan->viot->iommu_mmio_base == std::optional<std::uint64_t>(x86::VIRTIO_MMIO_START));
    REQUIRE(plan->viot->mmio_endpoints.size() == 1);
    CHECK(plan->viot->mmio_endpoints[0].base == x86::VIRTIO_MMIO_START + 2 * x86::VIRTIO_MMIO_SLOT_SIZE);
}

TEST_CASE("a device behind an IOMMU that is not configured is refused with the fix", "[vmm][virtio][iommu]")
{
    auto cfg = with_devices(2, 0);
    cfg.devices[1].iommu = true;

    const auto plan = plan_virtio(cfg);

    REQUIRE_FALSE(plan);
    CHECK_THAT(plan.error().describe(), Contains("devices[1]") && Contains("type=iommu"));
}

TEST_CASE("two IOMMUs are refused", "[vmm][virtio][iommu]")
{
    auto cfg = with_devices(2, 0);
    cfg.devices[0].type = "iommu";
    cfg.devices[1].type = "iommu";

    CHECK_FALSE(plan_virtio(cfg));
}

TEST_CASE("virtio-pci devices take slots 1, 2, ... of bus 0 in config order", "[vmm][virtio]")
{
    const auto plan = plan_virtio(with_devices(1, 2));

    REQUIRE(plan);
    REQUIRE(plan->entries.size() == 3);
    CHECK(plan->entries[0].pci_slot == 0); // the virtio-mmio one
    CHECK(plan->entries[1].pci_slot == 1);
    CHECK(plan->entries[2].pci_slot == 2);
}

TEST_CASE("more virtio-pci devices than bus 0 has slots is refused, naming the entry", "[vmm][virtio]")
{
    const auto plan = plan_virtio(with_devices(0, 32));

    REQUIRE_FALSE(plan);
    CHECK_THAT(plan.error().describe(), Contains("devices[31]"));
}

TEST_CASE("slot s's INTA# lands on an INTx pin by the swizzle the DSDT describes", "[vmm][virtio]")
{
    CHECK(x86::pci_intx_irq(0, 0) == 20);
    CHECK(x86::pci_intx_irq(1, 0) == 21);
    CHECK(x86::pci_intx_irq(3, 1) == 20);
    CHECK(x86::pci_intx_irq(31, 0) == 23);
}

TEST_CASE("an IOMMU on virtio-pci and a PCI device behind it: VIOT nodes by BDF", "[vmm][virtio][iommu]")
{
    auto cfg = with_devices(1, 3);
    cfg.devices[1].type = "iommu";
    cfg.devices[0].iommu = true;
    cfg.devices[3].iommu = true;

    const auto plan = plan_virtio(cfg);

    REQUIRE(plan);
    REQUIRE(plan->viot);
    CHECK(plan->viot->iommu_pci_bdf == std::optional<std::uint16_t>(1 << 3));
    CHECK(plan->entries[3].endpoint == std::optional<std::uint32_t>(3 << 3));
    REQUIRE(plan->viot->pci_ranges.size() == 1);
    CHECK(plan->viot->pci_ranges[0].bdf_start == 3 << 3);
    CHECK(plan->viot->pci_ranges[0].bdf_end == 3 << 3);
    CHECK(plan->viot->pci_ranges[0].endpoint_start == 3 << 3);
    // The PCI device not behind the IOMMU is in no range.
    CHECK_FALSE(plan->entries[2].endpoint);
    REQUIRE(plan->viot->mmio_endpoints.size() == 1);
}

TEST_CASE("virtio-mem regions go after the 64-bit PCI window, 1 GiB aligned, before other device memory",
    "[vmm][virtio]")
{
    config::VmConfig cfg = with_devices(1, 0);
    cfg.memory = 512ULL << 20;
    for (const char* params : { R"({"region_size": "1536M"})", R"({"region_size": "2G"})" }) {
        config::DeviceConfig d;
        d.type = "mem";
        d.transport = config::Transport::pci;
        d.origin = fmt::format("devices[{}]", cfg.devices.size());
        d.params = nlohmann::json::parse(params);
        cfg.devices.push_back(d);
    }
    const auto plan = plan_virtio(cfg);
    REQUIRE(plan);
    const std::uint64_t start = x86::device_memory_start(512ULL << 20);
    CHECK_FALSE(plan->entries[0].hotplug);
    REQUIRE(plan->entries[1].hotplug);
    REQUIRE(plan->entries[2].hotplug);
    CHECK(plan->entries[1].hotplug->base.raw == start);
    CHECK(plan->entries[1].hotplug->size == 1536ULL << 20);
    CHECK(plan->entries[1].hotplug->hotplug);
    CHECK(plan->entries[2].hotplug->base.raw == start + (2ULL << 30));
    REQUIRE(plan->hotplug.size() == 2);
    CHECK(plan->device_memory_start == start + (4ULL << 30));

    // Without any, device memory starts where it always did; a bad region is the entry's error.
    CHECK(plan_virtio(with_devices(1, 0))->device_memory_start == x86::device_memory_start(cfg.memory));
    cfg.devices[1].params = nlohmann::json::parse(R"({"region_size": "1M"})");
    CHECK_THAT(plan_virtio(cfg).error().describe(), Contains("devices[1] (type \"mem\")"));
}
