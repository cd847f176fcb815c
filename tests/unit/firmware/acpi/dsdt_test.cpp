// SPDX-License-Identifier: Apache-2.0
// Tests of the DSDT: well-formed AML, the expected devices, interrupts and \_S5_.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "arch/x86_64/layout.hpp"
#include "firmware/acpi/aml.hpp"
#include "firmware/acpi/dsdt.hpp"
#include "firmware/acpi/pm_registers.hpp"
#include "tests/unit/firmware/acpi/aml_walker.hpp"

using namespace vmm;
using namespace vmm::acpi;

namespace {

AcpiPlatform full_platform()
{
    AcpiPlatform p;
    p.cpus = 2;
    p.com1 = true;
    p.pvpanic = true;
    p.mmio_slots = {
        { x86::VIRTIO_MMIO_START, x86::VIRTIO_MMIO_SLOT_SIZE, x86::IRQ_VIRTIO_MMIO_FIRST },
        { x86::VIRTIO_MMIO_START + x86::VIRTIO_MMIO_SLOT_SIZE, x86::VIRTIO_MMIO_SLOT_SIZE,
            x86::IRQ_VIRTIO_MMIO_FIRST + 1 },
    };
    return p;
}

std::vector<std::uint8_t> dsdt(const AcpiPlatform& p)
{
    auto r = build_dsdt(p);
    REQUIRE(r.has_value());
    return *r;
}

test::AmlWalk walk(const std::vector<std::uint8_t>& table)
{
    REQUIRE(table.size() > sizeof(SdtHeader));
    return test::walk_aml(std::span(table).subspan(sizeof(SdtHeader)));
}

bool has(const std::vector<std::string>& v, const std::string& s)
{
    return std::find(v.begin(), v.end(), s) != v.end();
}

// Extended interrupt flags: consumer | edge, active high, exclusive.
constexpr std::uint8_t EDGE_HIGH_EXCLUSIVE = 0x03;

} // namespace

TEST_CASE(
    "every PkgLength in the DSDT bounds its contents exactly and the terms fill the table", "[acpi][dsdt]")
{
    const auto t = dsdt(full_platform());
    const auto w = walk(t);
    INFO(w.error);
    REQUIRE(w.ok);
    CHECK(w.top_level_terms == 2); // \_S5_ and \_SB
    CHECK(w.last_top_level_end == t.size() - sizeof(SdtHeader));
}

TEST_CASE("the DSDT header length matches the table and its checksum is zero", "[acpi][dsdt]")
{
    const auto t = dsdt(full_platform());
    SdtHeader h {};
    std::memcpy(&h, t.data(), sizeof(h));
    CHECK(h.length == t.size());
    CHECK(std::string(h.signature.begin(), h.signature.end()) == "DSDT");
    unsigned sum = 0;
    for (const auto b : t) {
        sum += b;
    }
    CHECK(sum % 256 == 0);
}

TEST_CASE(
    "the DSDT describes COM1, the power button, the GED, pvpanic and each virtio-mmio slot", "[acpi][dsdt]")
{
    const auto w = walk(dsdt(full_platform()));
    REQUIRE(w.ok);
    CHECK(w.devices == std::vector<std::string> { "COM1", "PWRB", "GED0", "PEVT", "VR00", "VR01" });
    CHECK(has(w.strings, "ACPI0013"));
    CHECK(has(w.strings, "QEMU0001"));
    CHECK(std::count(w.strings.begin(), w.strings.end(), "LNRO0005") == 2);
    CHECK(has(w.names, "_S5_"));
    CHECK(has(w.names, "_EVT") == false); // a Method, not a Name
    CHECK(w.resource_templates == 5);     // COM1, GED, pvpanic, two slots
}

TEST_CASE("COM1 and pvpanic are left out when the platform lacks them", "[acpi][dsdt]")
{
    AcpiPlatform p = full_platform();
    p.com1 = false;
    p.pvpanic = false;
    p.mmio_slots.clear();
    const auto w = walk(dsdt(p));
    REQUIRE(w.ok);
    CHECK(w.devices == std::vector<std::string> { "PWRB", "GED0" });
    CHECK_FALSE(has(w.strings, "QEMU0001"));
}

TEST_CASE("COM1, the GED and the slots use edge-triggered active-high exclusive interrupts", "[acpi][dsdt]")
{
    const auto w = walk(dsdt(full_platform()));
    REQUIRE(w.ok);
    REQUIRE(w.interrupts.size() == 4);
    CHECK(w.interrupts[0].gsi == x86::IRQ_COM1);
    CHECK(w.interrupts[1].gsi == x86::IRQ_ACPI_GED);
    CHECK(w.interrupts[2].gsi == x86::IRQ_VIRTIO_MMIO_FIRST);
    CHECK(w.interrupts[3].gsi == x86::IRQ_VIRTIO_MMIO_FIRST + 1);
    CHECK(w.interrupts[1].flags == EDGE_HIGH_EXCLUSIVE);
    CHECK(w.interrupts[3].flags == EDGE_HIGH_EXCLUSIVE);
}

TEST_CASE("the \\_S5_ package carries the sleep type the sleep device powers off on", "[acpi][dsdt]")
{
    const auto t = dsdt(full_platform());
    // Name(_S5_, Package(4) {5, 5, 0, 0}) is the first term.
    const std::vector<std::uint8_t> expected { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a,
        S5_SLEEP_TYPE, 0x0a, S5_SLEEP_TYPE, 0x00, 0x00 };
    const auto first = std::span(t).subspan(sizeof(SdtHeader), expected.size());
    CHECK(std::vector<std::uint8_t>(first.begin(), first.end()) == expected);
}

TEST_CASE("the GED's _EVT reads the event port and notifies the power button", "[acpi][dsdt]")
{
    const auto t = dsdt(full_platform());
    const auto contains = [&](const std::vector<std::uint8_t>& needle) {
        return std::search(t.begin(), t.end(), needle.begin(), needle.end()) != t.end();
    };
    // OperationRegion(GDST, SystemIO, PORT_ACPI_GED, 1)
    CHECK(contains({ 0x5b, 0x80, 'G', 'D', 'S', 'T', 0x01, 0x0b, x86::PORT_ACPI_GED & 0xff,
        x86::PORT_ACPI_GED >> 8, 0x01 }));
    // Notify(\_SB.PWRB, 0x80)
    CHECK(contains({ 0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80 }));
}

TEST_CASE("a virtio-mmio slot beyond 32 bits or with an IRQ past the IOAPIC is refused", "[acpi][dsdt]")
{
    AcpiPlatform high = full_platform();
    high.mmio_slots = { { 0xffff'f000, 0x2000, x86::IRQ_VIRTIO_MMIO_FIRST } };
    CHECK_FALSE(build_dsdt(high).has_value());

    AcpiPlatform wrap = full_platform();
    wrap.mmio_slots = { { ~std::uint64_t { 0 }, 2, x86::IRQ_VIRTIO_MMIO_FIRST } };
    CHECK_FALSE(build_dsdt(wrap).has_value());

    AcpiPlatform irq = full_platform();
    irq.mmio_slots = { { x86::VIRTIO_MMIO_START, x86::VIRTIO_MMIO_SLOT_SIZE, x86::IOAPIC_PINS } };
    CHECK_FALSE(build_dsdt(irq).has_value());
}

TEST_CASE("the walker rejects a PkgLength that overruns its parent", "[acpi][dsdt]")
{
    // Scope(\_SB) claiming 0x20 bytes with only 5 present.
    const std::vector<std::uint8_t> bad { 0x10, 0x20, 0x5c, '_', 'S', 'B', '_' };
    CHECK_FALSE(test::walk_aml(bad).ok);
}

TEST_CASE(
    "the walker rejects packages and buffers whose contents disagree with their PkgLength", "[acpi][dsdt]")
{
    // Package declaring 2 elements whose PkgLength holds 1.
    const std::vector<std::uint8_t> short_package { 0x08, 'X', '_', '_', '_', 0x12, 0x03, 0x02, 0x01 };
    CHECK_FALSE(test::walk_aml(short_package).ok);
    // Buffer declaring 3 bytes whose PkgLength holds 2.
    const std::vector<std::uint8_t> short_buffer { 0x08, 'X', '_', '_', '_', 0x11, 0x05, 0x0a, 0x03, 0xaa,
        0xbb };
    CHECK_FALSE(test::walk_aml(short_buffer).ok);
    // The same buffer with its third byte is well-formed.
    const std::vector<std::uint8_t> good_buffer { 0x08, 'X', '_', '_', '_', 0x11, 0x06, 0x0a, 0x03, 0xaa,
        0xbb, 0xcc };
    CHECK(test::walk_aml(good_buffer).ok);
}

// ---- PCIe host bridge ------------------------------------------------------------------------

namespace {

AcpiPlatform pci_platform()
{
    AcpiPlatform p = full_platform();
    p.pci = PciHostBridgeInfo { .ecam_base = x86::PCI_ECAM_START,
        .bus_start = 0,
        .bus_end = 0,
        .mmio32_base = x86::PCI_MMIO32_START,
        .mmio32_size = x86::PCI_MMIO32_SIZE,
        .mmio64_base = x86::PCI_MMIO64_ALIGN,
        .mmio64_size = x86::PCI_MMIO64_SIZE,
        .intx_gsis = { 20, 21, 22, 23 } };
    return p;
}

bool contains(const std::vector<std::uint8_t>& t, const std::vector<std::uint8_t>& needle)
{
    return std::search(t.begin(), t.end(), needle.begin(), needle.end()) != t.end();
}

std::vector<std::uint8_t> eisa(const char* id)
{
    const auto v = aml::eisa_id_value(id);
    REQUIRE(v);
    return { 0x0c, static_cast<std::uint8_t>(*v), static_cast<std::uint8_t>(*v >> 8),
        static_cast<std::uint8_t>(*v >> 16), static_cast<std::uint8_t>(*v >> 24) };
}

} // namespace

TEST_CASE("the host bridge is PNP0A08 compatible with PNP0A03, with _SEG, _BBN, _CRS, _PRT and _OSC",
    "[acpi][dsdt][pci]")
{
    const auto t = dsdt(pci_platform());
    const auto w = walk(t);
    INFO(w.error);
    REQUIRE(w.ok);

    CHECK(has(w.devices, "PCI0"));
    CHECK(contains(t, eisa("PNP0A08")));
    CHECK(contains(t, eisa("PNP0A03")));
    CHECK(has(w.names, "_SEG"));
    CHECK(has(w.names, "_BBN"));
    CHECK(has(w.names, "_PRT"));
    CHECK(has(w.methods, "_OSC"));
    CHECK(has(w.names, "CDW1"));
}

TEST_CASE("the host bridge's _CRS has bus 0, the 32-bit window and the 64-bit window", "[acpi][dsdt][pci]")
{
    const auto w = walk(dsdt(pci_platform()));
    REQUIRE(w.ok);

    REQUIRE(w.address_spaces.size() == 3);
    CHECK(w.address_spaces[0].type == 2);
    CHECK(w.address_spaces[0].min == 0);
    CHECK(w.address_spaces[0].max == 0);
    CHECK(w.address_spaces[1].type == 0);
    CHECK(w.address_spaces[1].min == x86::PCI_MMIO32_START);
    CHECK(w.address_spaces[1].max == x86::PCI_MMIO32_START + x86::PCI_MMIO32_SIZE - 1);
    CHECK(w.address_spaces[2].min == x86::PCI_MMIO64_ALIGN);
    CHECK(w.address_spaces[2].max == x86::PCI_MMIO64_ALIGN + x86::PCI_MMIO64_SIZE - 1);
    // Not prefetchable (_MEM bits 2:1 zero): the BARs in the windows are not.
    CHECK((w.address_spaces[1].type_flags & 0x6) == 0);
    CHECK((w.address_spaces[2].type_flags & 0x6) == 0);
}

TEST_CASE("the host bridge claims the 0xCF8 ports and ECAM is a motherboard resource", "[acpi][dsdt][pci]")
{
    const auto t = dsdt(pci_platform());
    const auto w = walk(t);
    REQUIRE(w.ok);

    // IO(Decode16, 0xCF8, 0xCF8, 1, 8)
    CHECK(contains(t, { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 }));
    CHECK(has(w.devices, "PRES"));
    CHECK(contains(t, eisa("PNP0C02")));
    REQUIRE(w.fixed_memory.size() == 3); // the two virtio-mmio slots, then PRES
    CHECK(w.fixed_memory[2] == (x86::PCI_ECAM_START << 32 | x86::PCI_ECAM_BUS_SIZE));
}

TEST_CASE("_PRT routes INTA..INTD of all 32 slots, swizzled over the four INTx pins", "[acpi][dsdt][pci]")
{
    const auto t = dsdt(pci_platform());
    const auto w = walk(t);
    REQUIRE(w.ok);

    CHECK(w.packages == 1 + 1 + 32 * 4); // \_S5_, _PRT, its entries
    // Slot 1, pin INTA: Package(4) { 0x0001FFFF, Zero, Zero, 21 }
    CHECK(contains(t, { 0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0x0a, 21 }));
    // Slot 3, pin INTB: (3 + 1) % 4 -> INTA's pin 20
    CHECK(contains(t, { 0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x03, 0x00, 0x01, 0x00, 0x0a, 20 }));
}

TEST_CASE("_OSC knows the PCI host bridge UUID and flags any other", "[acpi][dsdt][pci]")
{
    const auto t = dsdt(pci_platform());
    const auto uuid = aml::uuid_bytes("33DB4D5B-1FF7-401C-9657-7441C03DD766");
    REQUIRE(uuid);

    CHECK(contains(t, *uuid));
    // Or(CDW1, 4, CDW1): unrecognised UUID.
    CHECK(contains(t, { 0x7d, 'C', 'D', 'W', '1', 0x0a, 0x04, 'C', 'D', 'W', '1' }));
    // Return(Arg3)
    CHECK(contains(t, { 0xa4, 0x6b }));
}

TEST_CASE("a host bridge with ECAM or windows out of range, or INTx past the IOAPIC, is refused",
    "[acpi][dsdt][pci]")
{
    AcpiPlatform ecam = pci_platform();
    ecam.pci->ecam_base = 0xffff'0000;
    AcpiPlatform window = pci_platform();
    window.pci->mmio64_base = 0x8000'0000;
    AcpiPlatform intx = pci_platform();
    intx.pci->intx_gsis[3] = 24;

    CHECK_FALSE(build_dsdt(ecam));
    CHECK_FALSE(build_dsdt(window));
    CHECK_FALSE(build_dsdt(intx));
}

TEST_CASE("the host bridge describes slots 1 to 31 by _ADR, with no _STA or _EJ0", "[acpi][dsdt][pci]")
{
    const auto t = dsdt(pci_platform());
    const auto w = walk(t);
    INFO(w.error);
    REQUIRE(w.ok);
    for (unsigned slot = 1; slot < 32; ++slot) {
        CHECK(has(w.devices, fmt::format("SL{:02X}", slot)));
    }
    CHECK_FALSE(has(w.devices, "SL00")); // the host bridge function
    CHECK_FALSE(has(w.methods, "_EJ0"));
    CHECK_FALSE(has(w.methods, "_STA"));
    // Name(_ADR, 0x1f0000): slot 31, function 0.
    CHECK(contains(t, { 0x08, '_', 'A', 'D', 'R', 0x0c, 0x00, 0x00, 0x1f, 0x00 }));
}

TEST_CASE("with PCI the GED's _EVT sends the host bridge a bus check; without, it does not", "[acpi][dsdt][pci]")
{
    // Notify(\_SB.PCI0, Zero)
    const std::vector<std::uint8_t> bus_check { 0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 0x00 };
    CHECK(contains(dsdt(pci_platform()), bus_check));
    CHECK_FALSE(contains(dsdt(full_platform()), bus_check));
}
