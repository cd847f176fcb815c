// SPDX-License-Identifier: Apache-2.0
// ACPI tables: the platform description, build_acpi(), and the fixed-table wire structs.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "firmware/acpi/viot_topology.hpp"
#include "vmm/base/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::acpi {

// ACPI tables are little-endian (ACPI 6.4 §5.2); the structs hold host integers, so the host
// must be little-endian too, as x86_64 and arm64 hosts are.
static_assert(std::endian::native == std::endian::little);

// ---- Platform description and entry point --------------------------------------------------

// A virtio-mmio transport: its register window and its IOAPIC pin (GSI).
struct MmioSlot {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    std::uint32_t irq = 0;
};

// A PCIe host bridge: PCI segment 0, its bus range and ECAM, the address windows it forwards to
// its bus, and the IOAPIC pins its INTx lines land on.
struct PciHostBridgeInfo {
    std::uint64_t ecam_base = 0; // where bus 0's configuration space would start
    std::uint8_t bus_start = 0;
    std::uint8_t bus_end = 0;
    std::uint64_t mmio32_base = 0;
    std::uint64_t mmio32_size = 0;
    std::uint64_t mmio64_base = 0;
    std::uint64_t mmio64_size = 0;
    // INTA#..INTD# of slot 0; slot s's pin p (0 = INTA#) lands on intx_gsis[(s + p) % 4], the
    // usual swizzle.
    std::array<std::uint32_t, 4> intx_gsis {};
};

// What the guest should find, as plain values (no live device objects).
struct AcpiPlatform {
    std::uint32_t cpus = 1;           // vCPU i has APIC ID i
    std::vector<MmioSlot> mmio_slots; // each becomes an LNRO0005 device
    bool com1 = true;                 // PNP0501 at PORT_COM1, IRQ_COM1
    bool pvpanic = false;             // QEMU0001 at PORT_PVPANIC
    bool i8042 = false;               // FADT IA-PC boot flag: an 8042 answers at 0x60/0x64
    bool cmos_rtc = false;            // FADT IA-PC boot flag: a CMOS RTC answers at 0x70
    // The virtio-iommu topology: a VIOT table when set.
    std::optional<ViotTopology> viot;
    // A PCIe host bridge: PNP0A08 in the DSDT (and its ECAM as a motherboard resource), MCFG
    // in the XSDT.
    std::optional<PciHostBridgeInfo> pci;
};

// vCPU IDs above this are refused: KVM's x86 vCPU ID limit.
inline constexpr std::uint32_t ACPI_MAX_CPUS = 4096;

struct AcpiBlob {
    std::vector<std::byte> bytes; // copy to base_gpa
    std::uint64_t rsdp_addr = 0;  // == base_gpa: the RSDP comes first
};

// Build RSDP, XSDT, FADT, MADT and DSDT laid out from `base_gpa` (16-byte aligned, so that a
// legacy scan of 0xe0000..0xfffff finds the RSDP there too). Fails when the platform is
// invalid or the tables need more than `max_size` bytes.
[[nodiscard]] Result<AcpiBlob> build_acpi(
    const AcpiPlatform& platform, std::uint64_t base_gpa, std::uint64_t max_size);

// ---- Wire structs ----------------------------------------------------------------------------

// Identity written into every table header.
inline constexpr std::array<std::uint8_t, 6> OEM_ID = { 'V', 'I', 'R', 'E', 'O', ' ' };
inline constexpr std::array<std::uint8_t, 8> OEM_TABLE_ID = { 'V', 'I', 'R', 'E', 'O', 'V', 'M', ' ' };
inline constexpr std::uint32_t OEM_REVISION = 1;
inline constexpr std::uint32_t CREATOR_ID = 0x45524956; // "VIRE"
inline constexpr std::uint32_t CREATOR_REVISION = 1;

#pragma pack(push, 1)

// ACPI 6.4 §5.2.5.3, Table 5.3.
struct Rsdp {
    std::array<std::uint8_t, 8> signature; // 0  "RSD PTR "
    std::uint8_t checksum;                 // 8  over the first 20 bytes
    std::array<std::uint8_t, 6> oem_id;    // 9
    std::uint8_t revision;                 // 15 2: ACPI 2.0 and later
    std::uint32_t rsdt_address;            // 16 0: no RSDT, the XSDT only
    std::uint32_t length;                  // 20 36
    std::uint64_t xsdt_address;            // 24
    std::uint8_t extended_checksum;        // 32 over all 36 bytes
    std::array<std::uint8_t, 3> reserved;  // 33
};
static_assert(sizeof(Rsdp) == 36 && WireType<Rsdp>);
inline constexpr std::size_t RSDP_V1_LENGTH = 20;

// §5.2.6, Table 5.4.
struct SdtHeader {
    std::array<std::uint8_t, 4> signature;    // 0
    std::uint32_t length;                     // 4 whole table, header included
    std::uint8_t revision;                    // 8
    std::uint8_t checksum;                    // 9 whole table sums to zero
    std::array<std::uint8_t, 6> oem_id;       // 10
    std::array<std::uint8_t, 8> oem_table_id; // 16
    std::uint32_t oem_revision;               // 24
    std::uint32_t creator_id;                 // 28
    std::uint32_t creator_revision;           // 32
};
static_assert(sizeof(SdtHeader) == 36 && WireType<SdtHeader>);

// Generic Address Structure, §5.2.3.2 Table 5.1.
struct Gas {
    std::uint8_t space_id;    // 0 0: SystemMemory, 1: SystemIO
    std::uint8_t bit_width;   // 1
    std::uint8_t bit_offset;  // 2
    std::uint8_t access_size; // 3 1: byte, 2: word, 3: dword, 4: qword
    std::uint64_t address;    // 4
};
static_assert(sizeof(Gas) == 12 && WireType<Gas>);
inline constexpr std::uint8_t GAS_SYSTEM_MEMORY = 0;
inline constexpr std::uint8_t GAS_SYSTEM_IO = 1;
inline constexpr std::uint8_t GAS_ACCESS_BYTE = 1;

// FADT revision 6, §5.2.9 Table 5.9. Fields a hardware-reduced platform leaves zero are kept so
// that the offsets stay those of the spec.
struct Fadt {
    SdtHeader header;                         // 0   "FACP"
    std::uint32_t firmware_ctrl;              // 36  0: no FACS
    std::uint32_t dsdt;                       // 40  0: X_DSDT is used
    std::uint8_t reserved0;                   // 44
    std::uint8_t preferred_pm_profile;        // 45
    std::uint16_t sci_int;                    // 46
    std::uint32_t smi_cmd;                    // 48
    std::uint8_t acpi_enable;                 // 52
    std::uint8_t acpi_disable;                // 53
    std::uint8_t s4bios_req;                  // 54
    std::uint8_t pstate_cnt;                  // 55
    std::array<std::uint32_t, 8> legacy_blks; // 56  PM1a/b EVT, PM1a/b CNT, PM2 CNT, PM_TMR, GPE0/1
    std::array<std::uint8_t, 6> legacy_lens;  // 88  PM1 EVT/CNT, PM2 CNT, PM_TMR, GPE0/1 lengths
    std::uint8_t gpe1_base;                   // 94
    std::uint8_t cst_cnt;                     // 95
    std::uint16_t p_lvl2_lat;                 // 96
    std::uint16_t p_lvl3_lat;                 // 98
    std::uint16_t flush_size;                 // 100
    std::uint16_t flush_stride;               // 102
    std::uint8_t duty_offset;                 // 104
    std::uint8_t duty_width;                  // 105
    std::uint8_t day_alrm;                    // 106
    std::uint8_t mon_alrm;                    // 107
    std::uint8_t century;                     // 108
    std::uint16_t iapc_boot_arch;             // 109
    std::uint8_t reserved1;                   // 111
    std::uint32_t flags;                      // 112
    Gas reset_reg;                            // 116
    std::uint8_t reset_value;                 // 128
    std::uint16_t arm_boot_arch;              // 129
    std::uint8_t minor_version;               // 131
    std::uint64_t x_firmware_ctrl;            // 132
    std::uint64_t x_dsdt;                     // 140
    std::array<Gas, 8> x_legacy_blks;         // 148 X_PM1a_EVT_BLK .. X_GPE1_BLK
    Gas sleep_control_reg;                    // 244
    Gas sleep_status_reg;                     // 256
    std::uint64_t hypervisor_vendor_identity; // 268
};
static_assert(sizeof(Fadt) == 276 && WireType<Fadt>);

// FADT Flags, Table 5.10.
inline constexpr std::uint32_t FADT_F_WBINVD = 1U << 0;
inline constexpr std::uint32_t FADT_F_PWR_BUTTON = 1U << 4; // no fixed power button
inline constexpr std::uint32_t FADT_F_SLP_BUTTON = 1U << 5; // no fixed sleep button
inline constexpr std::uint32_t FADT_F_RESET_REG_SUP = 1U << 10;
inline constexpr std::uint32_t FADT_F_HW_REDUCED_ACPI = 1U << 20;
// IA-PC boot architecture flags, Table 5.11.
inline constexpr std::uint16_t IAPC_BOOT_ARCH_8042 = 1U << 1;
inline constexpr std::uint16_t IAPC_BOOT_ARCH_VGA_NOT_PRESENT = 1U << 2;
inline constexpr std::uint16_t IAPC_BOOT_ARCH_MSI_NOT_SUPPORTED = 1U << 3;
inline constexpr std::uint16_t IAPC_BOOT_ARCH_PCIE_ASPM_CONTROLS = 1U << 4;
inline constexpr std::uint16_t IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT = 1U << 5;

// MADT, §5.2.12 Table 5.43, and its interrupt controller structures.
struct MadtHeader {
    SdtHeader header;                 // 0 "APIC"
    std::uint32_t local_apic_address; // 36
    std::uint32_t flags;              // 40 bit 0 PCAT_COMPAT
};
static_assert(sizeof(MadtHeader) == 44 && WireType<MadtHeader>);
inline constexpr std::uint32_t MADT_PCAT_COMPAT = 1U << 0;

inline constexpr std::uint8_t MADT_TYPE_LOCAL_APIC = 0;
inline constexpr std::uint8_t MADT_TYPE_IO_APIC = 1;
inline constexpr std::uint8_t MADT_TYPE_INTERRUPT_OVERRIDE = 2;
inline constexpr std::uint8_t MADT_TYPE_LOCAL_X2APIC = 9;
inline constexpr std::uint32_t MADT_LAPIC_ENABLED = 1U << 0;

struct MadtLocalApic { // §5.2.12.2
    std::uint8_t type;
    std::uint8_t length; // 8
    std::uint8_t processor_uid;
    std::uint8_t apic_id;
    std::uint32_t flags;
};
static_assert(sizeof(MadtLocalApic) == 8 && WireType<MadtLocalApic>);

struct MadtIoApic { // §5.2.12.3
    std::uint8_t type;
    std::uint8_t length; // 12
    std::uint8_t io_apic_id;
    std::uint8_t reserved;
    std::uint32_t address;
    std::uint32_t gsi_base;
};
static_assert(sizeof(MadtIoApic) == 12 && WireType<MadtIoApic>);

struct MadtInterruptOverride { // §5.2.12.5
    std::uint8_t type;
    std::uint8_t length; // 10
    std::uint8_t bus;    // 0: ISA
    std::uint8_t source; // ISA IRQ
    std::uint32_t gsi;
    std::uint16_t flags; // MPS INTI flags, Table 5.50
};
static_assert(sizeof(MadtInterruptOverride) == 10 && WireType<MadtInterruptOverride>);

struct MadtLocalX2Apic { // §5.2.12.12
    std::uint8_t type;
    std::uint8_t length; // 16
    std::uint16_t reserved;
    std::uint32_t x2apic_id;
    std::uint32_t flags;
    std::uint32_t processor_uid;
};
static_assert(sizeof(MadtLocalX2Apic) == 16 && WireType<MadtLocalX2Apic>);

// MCFG, PCI Firmware 3.3 §4.1.2 Table 4-2: the header, then one allocation per ECAM range.
struct McfgHeader {
    SdtHeader header;                     // 0 "MCFG"
    std::array<std::uint8_t, 8> reserved; // 36
};
static_assert(sizeof(McfgHeader) == 44 && WireType<McfgHeader>);

struct McfgAllocation { // Table 4-3
    std::uint64_t base_address; // 0 ECAM base: bus N starts at base + N << 20
    std::uint16_t segment;      // 8
    std::uint8_t start_bus;     // 10
    std::uint8_t end_bus;       // 11
    std::uint32_t reserved;     // 12
};
static_assert(sizeof(McfgAllocation) == 16 && WireType<McfgAllocation>);

#pragma pack(pop)

// Local APIC IDs 0..254 use Local APIC structures; 255 is the broadcast ID, so CPUs from
// there on use Local x2APIC structures (§5.2.12.12).
inline constexpr std::uint32_t MADT_MAX_XAPIC_ID = 254;

// The byte that makes `bytes` sum to zero mod 256, given that the checksum field inside
// them currently holds zero.
[[nodiscard]] std::uint8_t checksum(std::span<const std::uint8_t> bytes) noexcept;

// A header with the signature, revision and OEM identity; length and checksum are set by
// finish_table().
[[nodiscard]] SdtHeader make_header(const char (&signature)[5], std::uint8_t revision) noexcept;
// Write the table's length into its header and fix its checksum. `table` starts with an SdtHeader.
void finish_table(std::vector<std::uint8_t>& table);

template<WireType T> void append_struct(std::vector<std::uint8_t>& out, const T& v)
{
    const auto b = std::as_bytes(std::span(&v, 1));
    for (const auto x : b) {
        out.push_back(static_cast<std::uint8_t>(x));
    }
}

// Settings the FADT needs from the platform.
struct FadtOptions {
    std::uint64_t dsdt_address = 0;
    bool i8042_present = false;
    bool cmos_rtc_present = false;
};

[[nodiscard]] std::vector<std::uint8_t> build_fadt(const FadtOptions& options);
// Interrupt Source Overrides the MADT carries; the count is exposed for tests.
inline constexpr std::size_t MADT_OVERRIDE_COUNT = 1;
[[nodiscard]] std::vector<std::uint8_t> build_madt(std::uint32_t cpus);
// The ECAM range of a host bridge's buses, in bytes.
[[nodiscard]] constexpr std::uint64_t ecam_size(const PciHostBridgeInfo& pci) noexcept
{
    return (std::uint64_t { pci.bus_end } - pci.bus_start + 1) << 20;
}
[[nodiscard]] std::vector<std::uint8_t> build_mcfg(const PciHostBridgeInfo& pci);
[[nodiscard]] std::vector<std::uint8_t> build_xsdt(std::span<const std::uint64_t> table_addresses);
[[nodiscard]] Rsdp build_rsdp(std::uint64_t xsdt_address) noexcept;

} // namespace vmm::acpi
