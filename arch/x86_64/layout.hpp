// SPDX-License-Identifier: Apache-2.0
// The x86_64 guest physical address map: every fixed address the VMM uses, in address order.
#pragma once

#include <cstdint>

namespace vmm::x86 {

// ---- Low memory (first MiB) ----------------------------------------------------------------
// Real-mode IVT and BIOS data area: left alone, Linux reads the EBDA pointer from it.
inline constexpr std::uint64_t GDT_START = 0x500;        // boot GDT (4 entries)
inline constexpr std::uint64_t IDT_START = 0x520;        // empty IDT for the 64-bit entry
inline constexpr std::uint64_t PVH_INFO_START = 0x6000;  // hvm_start_info (PVH boot)
inline constexpr std::uint64_t PVH_MEMMAP_START = 0x6040; // hvm_memmap_table_entry[] after it
inline constexpr std::uint64_t PVH_MEMMAP_MAX_ENTRIES = 128;
inline constexpr std::uint64_t PVH_MODLIST_START = 0x6c40; // hvm_modlist_entry (the initrd) after it
inline constexpr std::uint64_t ZERO_PAGE_START = 0x7000; // struct boot_params (4 KiB)
inline constexpr std::uint64_t BOOT_STACK_POINTER = 0x8ff0;
inline constexpr std::uint64_t PML4_START = 0x9000;      // identity page tables: PML4,
inline constexpr std::uint64_t PDPTE_START = 0xa000;     // one PDPT,
inline constexpr std::uint64_t PDE_START = 0xb000;       // four PDs of 2 MiB pages = 4 GiB
inline constexpr std::uint64_t PDE_COUNT = 4;
inline constexpr std::uint64_t CMDLINE_START = 0x20000;  // kernel command line
inline constexpr std::uint64_t CMDLINE_MAX_SIZE = 0x10000;
inline constexpr std::uint64_t EBDA_START = 0x9fc00;     // end of conventional memory
inline constexpr std::uint64_t ACPI_START = 0xe0000;     // RSDP must lie in 0xe0000..0xfffff
inline constexpr std::uint64_t ACPI_SIZE = 0x20000;      // reserved in e820 through 1 MiB
inline constexpr std::uint64_t HIGH_MEMORY_START = 0x100000; // 1 MiB

// ---- Kernel --------------------------------------------------------------------------------
inline constexpr std::uint64_t KERNEL_LOAD_ADDR = 0x1000000; // 16 MiB: the bzImage default pref_address

// ---- The 32-bit hole: 3 GiB .. 4 GiB holds devices, never RAM --------------------------------
inline constexpr std::uint64_t MEM_32BIT_HOLE_START = 0xc000'0000;
inline constexpr std::uint64_t MEM_32BIT_HOLE_SIZE = 0x4000'0000;
inline constexpr std::uint64_t PCI_MMIO32_START = 0xc000'0000; // 32-bit PCI BAR window
inline constexpr std::uint64_t PCI_MMIO32_SIZE = 0x1000'0000;  // 256 MiB
inline constexpr std::uint64_t VIRTIO_MMIO_START = 0xd000'0000; // virtio-mmio slots
inline constexpr std::uint64_t VIRTIO_MMIO_SLOT_SIZE = 0x1000;
inline constexpr std::uint64_t VIRTIO_MMIO_MAX_SLOTS = 64;
inline constexpr std::uint64_t PCI_ECAM_START = 0xe000'0000;   // PCIe ECAM, bus 0 .. 255
inline constexpr std::uint64_t PCI_ECAM_SIZE = 0x1000'0000;
// 1 MiB of ECAM per bus. The host bridge has bus 0 only (nothing bridges below it), so MCFG,
// e820 and the DSDT describe the first MiB of the range.
inline constexpr std::uint64_t PCI_ECAM_BUS_SIZE = 0x10'0000;
inline constexpr std::uint8_t PCI_LAST_BUS = 0;
inline constexpr std::uint64_t IOAPIC_START = 0xfec0'0000;
inline constexpr std::uint64_t IOAPIC_SIZE = 0x1000;
inline constexpr std::uint64_t APIC_START = 0xfee0'0000;       // local APIC; MSI doorbell window
inline constexpr std::uint64_t MSI_START = 0xfee0'0000;
inline constexpr std::uint64_t MSI_SIZE = 0x10'0000;

// ---- RAM above 4 GiB, then the 64-bit PCI window (placed after RAM at run time) ----------------
inline constexpr std::uint64_t RAM_64BIT_START = 0x1'0000'0000;
inline constexpr std::uint64_t PCI_MMIO64_ALIGN = 0x10'0000'0000; // 64 GiB
inline constexpr std::uint64_t PCI_MMIO64_SIZE = 0x10'0000'0000;

// The 64-bit PCI window: at the first PCI_MMIO64_ALIGN boundary at or above both 4 GiB and the
// end of RAM.
[[nodiscard]] constexpr std::uint64_t pci_mmio64_start(std::uint64_t ram_end) noexcept
{
    const std::uint64_t floor = ram_end > RAM_64BIT_START ? ram_end : RAM_64BIT_START;
    return (floor + PCI_MMIO64_ALIGN - 1) / PCI_MMIO64_ALIGN * PCI_MMIO64_ALIGN;
}
static_assert(pci_mmio64_start(0x2000'0000) == PCI_MMIO64_ALIGN);
static_assert(pci_mmio64_start(PCI_MMIO64_ALIGN + 1) == 2 * PCI_MMIO64_ALIGN);

// ---- Device memory, after the 64-bit PCI window: ranges that devices put into guest-physical
// space (virtio-pmem), each its own KVM memory slot, at DEVICE_MEMORY_ALIGN boundaries. Not RAM
// and not in the e820 map: the driver finds its range in its device's configuration.
inline constexpr std::uint64_t DEVICE_MEMORY_ALIGN = 0x4000'0000; // 1 GiB
[[nodiscard]] constexpr std::uint64_t device_memory_start(std::uint64_t ram_end) noexcept
{
    return pci_mmio64_start(ram_end) + PCI_MMIO64_SIZE;
}

// ---- Port I/O ---------------------------------------------------------------------------------
inline constexpr std::uint16_t PORT_I8042_DATA = 0x60;
inline constexpr std::uint16_t PORT_I8042_COMMAND = 0x64;
inline constexpr std::uint16_t PORT_POST = 0x80;           // boot progress marker (write only)
inline constexpr std::uint16_t PORT_TEST_EXIT = 0xf4;      // guest writes an exit code (CI)
inline constexpr std::uint16_t PORT_TEST_EXIT_SIZE = 4;
inline constexpr std::uint16_t PORT_COM1 = 0x3f8;
inline constexpr std::uint16_t PORT_COM_SIZE = 8;
inline constexpr std::uint16_t PORT_ACPI_SLEEP = 0x3c0;    // FADT sleep control/status (HW-reduced)
inline constexpr std::uint16_t PORT_ACPI_GED = 0x3c4;      // generic event device status
inline constexpr std::uint16_t PORT_PVPANIC = 0x505;       // pvpanic (QEMU0001), one byte
inline constexpr std::uint16_t PORT_PCI_CONFIG_ADDRESS = 0xcf8;
inline constexpr std::uint16_t PORT_PCI_CONFIG_DATA = 0xcfc;

// ---- Interrupts (IOAPIC pins / GSIs) ---------------------------------------------------------
inline constexpr std::uint32_t IRQ_COM1 = 4;
inline constexpr std::uint32_t IRQ_ACPI_GED = 9;
inline constexpr std::uint32_t IRQ_VIRTIO_MMIO_FIRST = 16; // one pin per virtio-mmio slot
inline constexpr std::uint32_t IOAPIC_PINS = 24;
// PCI INTx (INTA..INTD after the slot swizzle, ACPI _PRT): the last four pins.
inline constexpr std::uint32_t PCI_INTX_IRQS[] = { 20, 21, 22, 23 };
// The pin INTx line `pin` (0 = INTA#) of PCI slot `slot` lands on: the usual swizzle, as the
// DSDT's _PRT describes it.
[[nodiscard]] constexpr std::uint32_t pci_intx_irq(std::uint32_t slot, std::uint32_t pin) noexcept
{
    return PCI_INTX_IRQS[(slot + pin) % 4];
}
// The pins virtio-mmio slots take, in order: 16..19 first, then the ISA ones no platform device
// of this machine uses (0 timer, 1 keyboard, 2 cascade, 3 COM2, 4 COM1, 8 RTC and 9 the GED
// stay out).
inline constexpr std::uint32_t VIRTIO_MMIO_IRQS[] = { 16, 17, 18, 19, 5, 6, 7, 10, 11, 12, 13, 14, 15 };

// The map is ordered and its ranges do not overlap.
static_assert(CMDLINE_START + CMDLINE_MAX_SIZE <= EBDA_START);
static_assert(PVH_MEMMAP_START + PVH_MEMMAP_MAX_ENTRIES * 24 <= PVH_MODLIST_START); // 24: memmap entry
static_assert(PVH_MODLIST_START + 32 <= ZERO_PAGE_START);                           // 32: modlist entry
static_assert(PDE_START + PDE_COUNT * 0x1000 <= CMDLINE_START);
static_assert(ACPI_START + ACPI_SIZE == HIGH_MEMORY_START);
static_assert(PCI_MMIO32_START + PCI_MMIO32_SIZE <= VIRTIO_MMIO_START);
static_assert(VIRTIO_MMIO_START + VIRTIO_MMIO_MAX_SLOTS * VIRTIO_MMIO_SLOT_SIZE <= PCI_ECAM_START);
static_assert(PCI_ECAM_START + PCI_ECAM_SIZE <= IOAPIC_START);
static_assert((PCI_LAST_BUS + 1) * PCI_ECAM_BUS_SIZE <= PCI_ECAM_SIZE);
static_assert(IOAPIC_START + IOAPIC_SIZE <= APIC_START);
static_assert(MEM_32BIT_HOLE_START + MEM_32BIT_HOLE_SIZE == RAM_64BIT_START);

} // namespace vmm::x86
