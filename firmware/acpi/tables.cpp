// SPDX-License-Identifier: Apache-2.0
// Builders for the fixed ACPI tables (RSDP, XSDT, FADT, MADT) and their layout in guest memory.
#include "firmware/acpi/tables.hpp"

#include <cstring>

#include "arch/x86_64/layout.hpp"
#include "firmware/acpi/dsdt.hpp"
#include "firmware/acpi/pm_registers.hpp"
#include "firmware/acpi/viot.hpp"

namespace vmm::acpi {

namespace {

constexpr std::uint8_t FADT_REVISION = 6;
constexpr std::uint8_t FADT_MINOR_VERSION = 4; // ACPI 6.4
constexpr std::uint8_t MADT_REVISION = 5;
constexpr std::uint8_t XSDT_REVISION = 1;
constexpr std::uint8_t MCFG_REVISION = 1;
constexpr std::uint8_t RSDP_REVISION = 2;
// "VIREOVMM" read as a little-endian u64.
constexpr std::uint64_t HYPERVISOR_VENDOR_IDENTITY = 0x4d4d'564f'4552'4956;
// MPS INTI flags (Table 5.50): polarity and trigger "conform to the bus", i.e. ISA edge/high.
constexpr std::uint16_t MPS_INTI_CONFORMING = 0;

// Tables start 8-byte aligned; the RSDP's 16-byte alignment comes from base_gpa.
constexpr std::uint64_t TABLE_ALIGN = 8;
constexpr std::uint64_t RSDP_ALIGN = 16;

constexpr Gas io_byte_register(std::uint64_t port)
{
    return Gas { GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE, port };
}

} // namespace

std::uint8_t checksum(std::span<const std::uint8_t> bytes) noexcept
{
    unsigned sum = 0;
    for (const auto b : bytes) {
        sum += b;
    }
    return static_cast<std::uint8_t>(0x100U - (sum & 0xffU));
}

SdtHeader make_header(const char (&signature)[5], std::uint8_t revision) noexcept
{
    SdtHeader h {};
    std::memcpy(h.signature.data(), signature, h.signature.size());
    h.revision = revision;
    h.oem_id = OEM_ID;
    h.oem_table_id = OEM_TABLE_ID;
    h.oem_revision = OEM_REVISION;
    h.creator_id = CREATOR_ID;
    h.creator_revision = CREATOR_REVISION;
    return h;
}

void finish_table(std::vector<std::uint8_t>& table)
{
    // Invariant: every table is built from an SdtHeader and is far below 4 GiB.
    SdtHeader h {};
    std::memcpy(&h, table.data(), sizeof(h));
    h.length = static_cast<std::uint32_t>(table.size());
    h.checksum = 0;
    std::memcpy(table.data(), &h, sizeof(h));
    table[offsetof(SdtHeader, checksum)] = checksum(table);
}

std::vector<std::uint8_t> build_fadt(const FadtOptions& options)
{
    Fadt f {};
    f.header = make_header("FACP", FADT_REVISION);
    // ACPI 6.4 §5.2.9: with HW_REDUCED_ACPI the fixed hardware blocks (PM1, PM timer, GPE,
    // SMI_CMD) are absent and stay zero; sleep and reset go through the registers below.
    f.flags = FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON
        | FADT_F_WBINVD;
    std::uint16_t boot_arch = IAPC_BOOT_ARCH_VGA_NOT_PRESENT;
    if (options.i8042_present) {
        boot_arch |= IAPC_BOOT_ARCH_8042;
    }
    if (!options.cmos_rtc_present) {
        boot_arch |= IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT;
    }
    f.iapc_boot_arch = boot_arch;
    f.reset_reg = io_byte_register(x86::PORT_ACPI_SLEEP + RESET_OFFSET);
    f.reset_value = RESET_VALUE;
    f.minor_version = FADT_MINOR_VERSION;
    // §5.2.9: when X_DSDT is set, DSDT must be zero.
    f.x_dsdt = options.dsdt_address;
    f.sleep_control_reg = io_byte_register(x86::PORT_ACPI_SLEEP + SLEEP_CONTROL_OFFSET);
    f.sleep_status_reg = io_byte_register(x86::PORT_ACPI_SLEEP + SLEEP_STATUS_OFFSET);
    f.hypervisor_vendor_identity = HYPERVISOR_VENDOR_IDENTITY;

    std::vector<std::uint8_t> out;
    append_struct(out, f);
    finish_table(out);
    return out;
}

std::vector<std::uint8_t> build_madt(std::uint32_t cpus)
{
    std::vector<std::uint8_t> out;
    MadtHeader m {};
    m.header = make_header("APIC", MADT_REVISION);
    m.local_apic_address = static_cast<std::uint32_t>(x86::APIC_START);
    // KVM's in-kernel irqchip emulates the dual 8259s too.
    m.flags = MADT_PCAT_COMPAT;
    append_struct(out, m);

    // vCPU i has APIC ID i and ACPI processor UID i.
    for (std::uint32_t i = 0; i < cpus; ++i) {
        if (i <= MADT_MAX_XAPIC_ID) {
            const auto id = static_cast<std::uint8_t>(i);
            append_struct(out, MadtLocalApic { MADT_TYPE_LOCAL_APIC, 8, id, id, MADT_LAPIC_ENABLED });
        } else {
            append_struct(out, MadtLocalX2Apic { MADT_TYPE_LOCAL_X2APIC, 16, 0, i, MADT_LAPIC_ENABLED, i });
        }
    }
    // One IOAPIC, ID 0 as KVM's in-kernel IOAPIC resets to, carrying GSIs 0..IOAPIC_PINS-1.
    append_struct(
        out, MadtIoApic { MADT_TYPE_IO_APIC, 12, 0, 0, static_cast<std::uint32_t>(x86::IOAPIC_START), 0 });
    // The PIT's ISA IRQ 0 arrives at IOAPIC pin 2, as on PC hardware (§5.2.12.5). The other ISA
    // IRQs map 1:1 and need no override.
    append_struct(
        out, MadtInterruptOverride { MADT_TYPE_INTERRUPT_OVERRIDE, 10, 0, 0, 2, MPS_INTI_CONFORMING });

    finish_table(out);
    return out;
}

std::vector<std::uint8_t> build_mcfg(const PciHostBridgeInfo& pci)
{
    std::vector<std::uint8_t> out;
    append_struct(out, McfgHeader { make_header("MCFG", MCFG_REVISION), {} });
    // Segment 0 only.
    append_struct(out, McfgAllocation { pci.ecam_base, 0, pci.bus_start, pci.bus_end, 0 });
    finish_table(out);
    return out;
}

std::vector<std::uint8_t> build_xsdt(std::span<const std::uint64_t> table_addresses)
{
    std::vector<std::uint8_t> out;
    append_struct(out, make_header("XSDT", XSDT_REVISION));
    for (const auto a : table_addresses) {
        append_struct(out, a);
    }
    finish_table(out);
    return out;
}

Rsdp build_rsdp(std::uint64_t xsdt_address) noexcept
{
    Rsdp r {};
    r.signature = { 'R', 'S', 'D', ' ', 'P', 'T', 'R', ' ' };
    r.oem_id = OEM_ID;
    r.revision = RSDP_REVISION;
    r.length = sizeof(Rsdp);
    r.xsdt_address = xsdt_address;
    // §5.2.5.3: the first checksum covers the ACPI 1.0 part, the extended one the whole.
    const auto bytes = std::as_bytes(std::span(&r, 1));
    std::array<std::uint8_t, sizeof(Rsdp)> raw {};
    std::memcpy(raw.data(), bytes.data(), raw.size());
    r.checksum = checksum(std::span(raw).first(RSDP_V1_LENGTH));
    raw[offsetof(Rsdp, checksum)] = r.checksum;
    r.extended_checksum = checksum(raw);
    return r;
}

Result<AcpiBlob> build_acpi(const AcpiPlatform& platform, std::uint64_t base_gpa, std::uint64_t max_size)
{
    if (platform.cpus == 0 || platform.cpus > ACPI_MAX_CPUS) {
        return fail(Errc::invalid_argument, "ACPI: {} vCPUs, expected 1..{}", platform.cpus, ACPI_MAX_CPUS);
    }
    if (base_gpa % RSDP_ALIGN != 0) {
        return fail(Errc::invalid_argument, "ACPI: base {:#x} is not 16-byte aligned", base_gpa);
    }

    std::vector<std::byte> blob;
    // Append a table at the next aligned offset; returns its guest address. Sizes are checked
    // against max_size (a few hundred KiB at most), so the additions below cannot overflow.
    auto place = [&](std::span<const std::uint8_t> table) -> Result<std::uint64_t> {
        const std::uint64_t offset = (blob.size() + TABLE_ALIGN - 1) / TABLE_ALIGN * TABLE_ALIGN;
        if (offset > max_size || table.size() > max_size - offset) {
            return fail(Errc::out_of_range,
                "ACPI: the tables need more than the {:#x} bytes reserved for them", max_size);
        }
        std::uint64_t addr = 0;
        if (__builtin_add_overflow(base_gpa, offset + table.size(), &addr)) {
            return fail(
                Errc::out_of_range, "ACPI: tables at {:#x} run past the end of the address space", base_gpa);
        }
        blob.resize(offset);
        for (const auto b : table) {
            blob.push_back(std::byte { b });
        }
        return base_gpa + offset;
    };

    // The RSDP first, at base_gpa. Its XSDT pointer is patched once the XSDT is placed.
    Rsdp rsdp = build_rsdp(0);
    std::vector<std::uint8_t> rsdp_bytes;
    append_struct(rsdp_bytes, rsdp);
    const std::uint64_t rsdp_addr = VMM_TRY(place(rsdp_bytes));

    const auto dsdt = VMM_TRY(build_dsdt(platform));
    const std::uint64_t dsdt_addr = VMM_TRY(place(dsdt));

    std::vector<std::uint64_t> xsdt_entries;
    const auto fadt = build_fadt(FadtOptions {
        .dsdt_address = dsdt_addr, .i8042_present = platform.i8042, .cmos_rtc_present = platform.cmos_rtc });
    xsdt_entries.push_back(VMM_TRY(place(fadt)));
    xsdt_entries.push_back(VMM_TRY(place(build_madt(platform.cpus))));
    if (platform.pci) {
        // PCI Firmware 3.3 §4.1.2: the MCFG is how the OS finds ECAM.
        xsdt_entries.push_back(VMM_TRY(place(build_mcfg(*platform.pci))));
    }
    if (platform.viot) {
        const auto viot = VMM_TRY(build_viot(*platform.viot));
        xsdt_entries.push_back(VMM_TRY(place(viot)));
    }

    const std::uint64_t xsdt_addr = VMM_TRY(place(build_xsdt(xsdt_entries)));
    rsdp = build_rsdp(xsdt_addr);
    std::memcpy(blob.data(), &rsdp, sizeof(rsdp));

    return AcpiBlob { std::move(blob), rsdp_addr };
}

} // namespace vmm::acpi
