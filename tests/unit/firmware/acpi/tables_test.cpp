// SPDX-License-Identifier: Apache-2.0
// Tests of the ACPI blob: RSDP, XSDT, FADT, MADT layout, checksums and limits.
#include <cstdint>
#include <cstring>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "arch/x86_64/layout.hpp"
#include "firmware/acpi/pm_registers.hpp"
#include "firmware/acpi/tables.hpp"
#include "firmware/acpi/viot.hpp"

using namespace vmm;
using namespace vmm::acpi;

namespace {

constexpr std::uint64_t BASE = x86::ACPI_START;

struct Blob {
    std::vector<std::uint8_t> bytes;
    std::uint64_t rsdp_addr = 0;

    template<class T> T at(std::uint64_t gpa) const
    {
        T v {};
        REQUIRE(gpa >= BASE);
        REQUIRE(gpa - BASE + sizeof(T) <= bytes.size());
        std::memcpy(&v, bytes.data() + (gpa - BASE), sizeof(T));
        return v;
    }

    // The whole table at gpa, bounded by its header's length, which must lie inside the blob.
    std::span<const std::uint8_t> table(std::uint64_t gpa) const
    {
        const auto h = at<SdtHeader>(gpa);
        REQUIRE(h.length >= sizeof(SdtHeader));
        REQUIRE(gpa - BASE + h.length <= bytes.size());
        return std::span(bytes).subspan(gpa - BASE, h.length);
    }

    std::vector<std::uint64_t> xsdt_entries() const
    {
        const auto r = at<Rsdp>(rsdp_addr);
        const auto t = table(r.xsdt_address);
        std::vector<std::uint64_t> out((t.size() - sizeof(SdtHeader)) / 8);
        std::memcpy(out.data(), t.data() + sizeof(SdtHeader), out.size() * 8);
        return out;
    }

    // The table the XSDT lists with this signature.
    std::optional<std::uint64_t> find(const std::string& sig) const
    {
        for (const auto a : xsdt_entries()) {
            const auto h = at<SdtHeader>(a);
            if (std::string(h.signature.begin(), h.signature.end()) == sig) {
                return a;
            }
        }
        return std::nullopt;
    }
};

Blob build(const AcpiPlatform& p)
{
    auto r = build_acpi(p, BASE, x86::ACPI_SIZE);
    REQUIRE(r.has_value());
    Blob b;
    for (const auto x : r->bytes) {
        b.bytes.push_back(static_cast<std::uint8_t>(x));
    }
    b.rsdp_addr = r->rsdp_addr;
    return b;
}

AcpiPlatform platform(std::uint32_t cpus)
{
    AcpiPlatform p;
    p.cpus = cpus;
    p.pvpanic = true;
    p.mmio_slots = {
        { x86::VIRTIO_MMIO_START, x86::VIRTIO_MMIO_SLOT_SIZE, x86::IRQ_VIRTIO_MMIO_FIRST },
        { x86::VIRTIO_MMIO_START + x86::VIRTIO_MMIO_SLOT_SIZE, x86::VIRTIO_MMIO_SLOT_SIZE,
            x86::IRQ_VIRTIO_MMIO_FIRST + 1 },
    };
    return p;
}

unsigned byte_sum(std::span<const std::uint8_t> b)
{
    return std::accumulate(b.begin(), b.end(), 0U) & 0xffU;
}

struct MadtCounts {
    std::size_t entries = 0;
    std::size_t local_apics = 0;
    std::size_t x2apics = 0;
    std::size_t io_apics = 0;
    std::size_t overrides = 0;
    std::uint32_t last_x2apic_id = 0;
    std::uint8_t last_apic_id = 0;
    bool lengths_ok = true;
};

MadtCounts count_madt(std::span<const std::uint8_t> madt)
{
    MadtCounts c;
    std::size_t off = sizeof(MadtHeader);
    while (off + 2 <= madt.size()) {
        const std::uint8_t type = madt[off];
        const std::uint8_t len = madt[off + 1];
        if (len < 2 || off + len > madt.size()) {
            c.lengths_ok = false;
            break;
        }
        ++c.entries;
        if (type == MADT_TYPE_LOCAL_APIC) {
            ++c.local_apics;
            c.last_apic_id = madt[off + 3];
        } else if (type == MADT_TYPE_LOCAL_X2APIC) {
            ++c.x2apics;
            std::memcpy(&c.last_x2apic_id, madt.data() + off + 4, 4);
        } else if (type == MADT_TYPE_IO_APIC) {
            ++c.io_apics;
        } else if (type == MADT_TYPE_INTERRUPT_OVERRIDE) {
            ++c.overrides;
        }
        off += len;
    }
    c.lengths_ok = c.lengths_ok && off == madt.size();
    return c;
}

} // namespace

TEST_CASE(
    "the RSDP comes first, is revision 2 with valid checksums, and points at the XSDT", "[acpi][tables]")
{
    const Blob b = build(platform(4));
    CHECK(b.rsdp_addr == BASE);
    const auto r = b.at<Rsdp>(b.rsdp_addr);
    CHECK(std::string(r.signature.begin(), r.signature.end()) == "RSD PTR ");
    CHECK(r.revision == 2);
    CHECK(r.length == 36);
    CHECK(r.rsdt_address == 0);
    const auto raw = std::span(b.bytes).first(36);
    CHECK(byte_sum(raw.first(20)) == 0);
    CHECK(byte_sum(raw) == 0);
    const auto xsdt = b.at<SdtHeader>(r.xsdt_address);
    CHECK(std::string(xsdt.signature.begin(), xsdt.signature.end()) == "XSDT");
}

TEST_CASE("the XSDT lists the FADT and the MADT, and the FADT's X_DSDT points at the DSDT", "[acpi][tables]")
{
    const Blob b = build(platform(4));
    CHECK(b.xsdt_entries().size() == 2);
    REQUIRE(b.find("FACP").has_value());
    REQUIRE(b.find("APIC").has_value());
    const auto fadt = b.at<Fadt>(*b.find("FACP"));
    CHECK(fadt.dsdt == 0);
    const auto dsdt = b.at<SdtHeader>(fadt.x_dsdt);
    CHECK(std::string(dsdt.signature.begin(), dsdt.signature.end()) == "DSDT");
    CHECK(dsdt.revision == 2);
}

TEST_CASE("every table's checksum is zero and its length lies inside the blob", "[acpi][tables]")
{
    const Blob b = build(platform(4));
    const auto r = b.at<Rsdp>(b.rsdp_addr);
    std::vector<std::uint64_t> tables = b.xsdt_entries();
    tables.push_back(static_cast<std::uint64_t>(r.xsdt_address)); // a copy: the field is packed
    tables.push_back(static_cast<std::uint64_t>(b.at<Fadt>(*b.find("FACP")).x_dsdt));
    REQUIRE(tables.size() == 4);
    for (const auto a : tables) {
        const auto t = b.table(a);
        INFO("table at " << a);
        CHECK(byte_sum(t) == 0);
        CHECK(a % 8 == 0);
    }
}

TEST_CASE(
    "the FADT is hardware-reduced revision 6 with sleep and reset registers in port I/O", "[acpi][tables]")
{
    const Blob b = build(platform(1));
    const auto f = b.at<Fadt>(*b.find("FACP"));
    CHECK(f.header.revision == 6);
    CHECK(f.header.length == sizeof(Fadt));
    CHECK((f.flags & FADT_F_HW_REDUCED_ACPI) != 0);
    CHECK((f.flags & FADT_F_RESET_REG_SUP) != 0);
    CHECK((f.flags & FADT_F_PWR_BUTTON) != 0);
    CHECK(f.legacy_blks == std::array<std::uint32_t, 8> {});
    CHECK(f.smi_cmd == 0);
    CHECK(f.firmware_ctrl == 0);
    CHECK(f.x_firmware_ctrl == 0);

    CHECK(f.sleep_control_reg.space_id == GAS_SYSTEM_IO);
    CHECK(f.sleep_control_reg.bit_width == 8);
    CHECK(f.sleep_control_reg.access_size == GAS_ACCESS_BYTE);
    CHECK(f.sleep_control_reg.address == x86::PORT_ACPI_SLEEP + SLEEP_CONTROL_OFFSET);
    CHECK(f.sleep_status_reg.space_id == GAS_SYSTEM_IO);
    CHECK(f.sleep_status_reg.address == x86::PORT_ACPI_SLEEP + SLEEP_STATUS_OFFSET);
    CHECK(f.reset_reg.space_id == GAS_SYSTEM_IO);
    CHECK(f.reset_reg.bit_width == 8);
    CHECK(f.reset_reg.address == x86::PORT_ACPI_SLEEP + RESET_OFFSET);
    CHECK(f.reset_value == RESET_VALUE);
}

TEST_CASE("the FADT boot flags say no VGA and leave MSI and ASPM alone", "[acpi][tables]")
{
    const Blob b = build(platform(1));
    const auto f = b.at<Fadt>(*b.find("FACP"));
    CHECK((f.iapc_boot_arch & IAPC_BOOT_ARCH_VGA_NOT_PRESENT) != 0);
    CHECK((f.iapc_boot_arch & IAPC_BOOT_ARCH_MSI_NOT_SUPPORTED) == 0);
    CHECK((f.iapc_boot_arch & IAPC_BOOT_ARCH_PCIE_ASPM_CONTROLS) == 0);
    CHECK((f.iapc_boot_arch & IAPC_BOOT_ARCH_8042) == 0);
    CHECK((f.iapc_boot_arch & IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT) != 0);
}

TEST_CASE("the FADT reports an 8042 and a CMOS RTC when the platform has them", "[acpi][tables]")
{
    AcpiPlatform p = platform(1);
    p.i8042 = true;
    p.cmos_rtc = true;
    const Blob b = build(p);
    const auto f = b.at<Fadt>(*b.find("FACP"));
    CHECK((f.iapc_boot_arch & IAPC_BOOT_ARCH_8042) != 0);
    CHECK((f.iapc_boot_arch & IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT) == 0);
}

TEST_CASE("the MADT has one Local APIC per vCPU, one IOAPIC and the IRQ0 override", "[acpi][tables]")
{
    const std::uint32_t cpus = GENERATE(1U, 4U, 64U, 255U);
    const Blob b = build(platform(cpus));
    const auto madt = b.table(*b.find("APIC"));
    const auto h = b.at<MadtHeader>(*b.find("APIC"));
    CHECK(h.local_apic_address == x86::APIC_START);
    const MadtCounts c = count_madt(madt);
    CHECK(c.lengths_ok);
    CHECK(c.entries == cpus + 1 + MADT_OVERRIDE_COUNT);
    CHECK(c.local_apics == cpus);
    CHECK(c.x2apics == 0);
    CHECK(c.last_apic_id == cpus - 1);
    CHECK(c.io_apics == 1);
    CHECK(c.overrides == MADT_OVERRIDE_COUNT);
}

TEST_CASE("vCPUs from APIC ID 255 on get Local x2APIC entries", "[acpi][tables]")
{
    const std::uint32_t cpus = GENERATE(256U, 300U, 1024U);
    const Blob b = build(platform(cpus));
    const MadtCounts c = count_madt(b.table(*b.find("APIC")));
    CHECK(c.lengths_ok);
    CHECK(c.entries == cpus + 1 + MADT_OVERRIDE_COUNT);
    CHECK(c.local_apics == 255);
    CHECK(c.last_apic_id == 254);
    CHECK(c.x2apics == cpus - 255);
    CHECK(c.last_x2apic_id == cpus - 1);
}

TEST_CASE("the IOAPIC starts at GSI 0 and ISA IRQ 0 is routed to GSI 2", "[acpi][tables]")
{
    const Blob b = build(platform(1));
    const auto madt_addr = *b.find("APIC");
    const auto io = b.at<MadtIoApic>(madt_addr + sizeof(MadtHeader) + sizeof(MadtLocalApic));
    CHECK(io.type == MADT_TYPE_IO_APIC);
    CHECK(io.address == x86::IOAPIC_START);
    CHECK(io.gsi_base == 0);
    const auto iso = b.at<MadtInterruptOverride>(
        madt_addr + sizeof(MadtHeader) + sizeof(MadtLocalApic) + sizeof(MadtIoApic));
    CHECK(iso.type == MADT_TYPE_INTERRUPT_OVERRIDE);
    CHECK(iso.bus == 0);
    CHECK(iso.source == 0);
    CHECK(iso.gsi == 2);
}

TEST_CASE("tables that do not fit max_size are refused", "[acpi][tables]")
{
    const auto r = build_acpi(platform(4), BASE, 256);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(Errc::out_of_range));
}

TEST_CASE("zero vCPUs, too many vCPUs or an unaligned base are refused", "[acpi][tables]")
{
    CHECK_FALSE(build_acpi(platform(0), BASE, x86::ACPI_SIZE).has_value());
    CHECK_FALSE(build_acpi(platform(ACPI_MAX_CPUS + 1), BASE, x86::ACPI_SIZE).has_value());
    CHECK_FALSE(build_acpi(platform(1), BASE + 8, x86::ACPI_SIZE).has_value());
}

TEST_CASE("tables that would run past the end of the address space are refused", "[acpi][tables]")
{
    CHECK_FALSE(build_acpi(platform(1), ~std::uint64_t { 0xf }, x86::ACPI_SIZE).has_value());
}

TEST_CASE("the checksum helper returns the byte that zeroes the sum", "[acpi][tables]")
{
    const std::vector<std::uint8_t> v { 0x10, 0x20, 0xff, 0x00 };
    CHECK(checksum(v) == 0xd1);
    CHECK(checksum(std::vector<std::uint8_t> {}) == 0);
}

TEST_CASE("without an IOMMU there is no VIOT", "[acpi][viot]")
{
    const auto b = build(platform(1));
    CHECK_FALSE(b.find("VIOT"));
}

TEST_CASE("the VIOT lists the MMIO IOMMU first and points every endpoint node at it", "[acpi][viot]")
{
    auto p = platform(1);
    ViotTopology t;
    t.iommu_mmio_base = x86::VIRTIO_MMIO_START;
    t.mmio_endpoints = { { 0x10001, x86::VIRTIO_MMIO_START + x86::VIRTIO_MMIO_SLOT_SIZE } };
    t.pci_ranges = { { 0, 0x0008, 0x00ff } };
    p.viot = t;

    const auto b = build(p);
    const auto addr = b.find("VIOT");
    REQUIRE(addr);
    const auto table = b.table(*addr);

    CHECK(byte_sum(table) == 0);
    CHECK(table.size() == 48 + 16 + 24 + 24);
    ViotHeader h {};
    std::memcpy(&h, table.data(), sizeof(h));
    CHECK(h.node_count == 3);
    CHECK(h.node_offset == 48);
    ViotVirtioIommuMmio iommu {};
    std::memcpy(&iommu, table.data() + 48, sizeof(iommu));
    CHECK(iommu.h.type == VIOT_NODE_VIRTIO_IOMMU_MMIO);
    CHECK(iommu.h.length == 16);
    CHECK(iommu.base_address == x86::VIRTIO_MMIO_START);
    ViotPciRange range {};
    std::memcpy(&range, table.data() + 64, sizeof(range));
    CHECK(range.h.type == VIOT_NODE_PCI_RANGE);
    CHECK(range.bdf_start == 0x0008);
    CHECK(range.bdf_end == 0x00ff);
    CHECK(range.output_node == 48);
    ViotMmio ep {};
    std::memcpy(&ep, table.data() + 88, sizeof(ep));
    CHECK(ep.h.type == VIOT_NODE_MMIO);
    CHECK(ep.endpoint == 0x10001);
    CHECK(ep.base_address == x86::VIRTIO_MMIO_START + x86::VIRTIO_MMIO_SLOT_SIZE);
    CHECK(ep.output_node == 48);
}

TEST_CASE("a VIOT needs exactly one IOMMU", "[acpi][viot]")
{
    ViotTopology none;
    ViotTopology both;
    both.iommu_pci_bdf = 0x10;
    both.iommu_mmio_base = 0xd0000000;

    CHECK_FALSE(build_viot(none));
    CHECK_FALSE(build_viot(both));
}

namespace {

PciHostBridgeInfo pci_info()
{
    return PciHostBridgeInfo { .ecam_base = x86::PCI_ECAM_START,
        .bus_start = 0,
        .bus_end = 0,
        .mmio32_base = x86::PCI_MMIO32_START,
        .mmio32_size = x86::PCI_MMIO32_SIZE,
        .mmio64_base = x86::PCI_MMIO64_ALIGN,
        .mmio64_size = x86::PCI_MMIO64_SIZE,
        .intx_gsis = { 20, 21, 22, 23 } };
}

} // namespace

TEST_CASE("with a PCIe host bridge the XSDT lists an MCFG for segment 0 and its buses", "[acpi][tables][pci]")
{
    AcpiPlatform p = platform(1);
    p.pci = pci_info();

    const auto b = build(p);
    const auto mcfg = b.find("MCFG");

    REQUIRE(mcfg);
    const auto t = b.table(*mcfg);
    CHECK(t.size() == sizeof(McfgHeader) + sizeof(McfgAllocation));
    CHECK(byte_sum(t) == 0);
    CHECK(b.at<SdtHeader>(*mcfg).revision == 1);
    const auto a = b.at<McfgAllocation>(*mcfg + sizeof(McfgHeader));
    CHECK(a.base_address == x86::PCI_ECAM_START);
    CHECK(a.segment == 0);
    CHECK(a.start_bus == 0);
    CHECK(a.end_bus == 0);
}

TEST_CASE("without a host bridge there is no MCFG", "[acpi][tables][pci]")
{
    const auto b = build(platform(1));

    CHECK_FALSE(b.find("MCFG"));
}

TEST_CASE("the ECAM size covers 1 MiB per bus", "[acpi][tables][pci]")
{
    PciHostBridgeInfo info = pci_info();
    info.bus_end = 3;

    CHECK(ecam_size(info) == 4 * x86::PCI_ECAM_BUS_SIZE);
}
