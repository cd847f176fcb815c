// SPDX-License-Identifier: Apache-2.0
// The DSDT: COM1, the power button and PCI bus checks behind a Generic Event Device, pvpanic,
// virtio-mmio, the PCIe host bridge with its slots, \_S5_.
#include "firmware/acpi/dsdt.hpp"

#include <string>

#include <fmt/format.h>

#include "arch/x86_64/layout.hpp"
#include "firmware/acpi/aml.hpp"
#include "firmware/acpi/aml_resources.hpp"
#include "firmware/acpi/pm_registers.hpp"

namespace vmm::acpi {

namespace {

using namespace aml;

// Revision 2 and later: AML integers are 64 bits wide (ACPI 6.4 §5.2.11.1).
constexpr std::uint8_t DSDT_REVISION = 2;
// "VR00".."VRFF": two hex digits name at most 256 slots.
constexpr std::size_t MAX_MMIO_SLOTS = 256;
// ACPI 6.4 §5.6.6 Table 5.166: device-specific notification 0x80 on a power button means
// "button pressed".
constexpr std::uint64_t NOTIFY_BUTTON_PRESSED = 0x80;
// §5.6.6 Table 5.165: Bus Check, "re-enumerate the device tree below the notified object".
constexpr std::uint64_t NOTIFY_BUS_CHECK = 0;

Term com1()
{
    return Device("COM1", {
        Name("_HID", EisaId("PNP0501")),
        Name("_UID", Zero()),
        Name("_CRS", ResourceTemplate({
            Io(x86::PORT_COM1, x86::PORT_COM1, 1, x86::PORT_COM_SIZE),
            Interrupt(Trigger::edge, Polarity::active_high, Sharing::exclusive, x86::IRQ_COM1),
        })),
    });
}

Term power_button()
{
    // A control-method power button (FADT PWR_BUTTON set): the GED below notifies it.
    return Device("PWRB", {
        Name("_HID", EisaId("PNP0C0C")),
        Name("_UID", Zero()),
    });
}

// ACPI 6.4 §5.6.9 Generic Event Device. Its interrupt is edge-triggered: the VMM pulses the
// line once per event and needs no end-of-interrupt notice to lower it, and the event
// register keeps each event latched until _EVT reads it, so a pulse that finds the handler
// busy loses nothing (the next _EVT run sees the bit).
Term generic_event_device(bool pci)
{
    TermList evt = {
        Store(NamePath("GDAT"), Local(0)),
        If(LEqual(And(Local(0), Integer(GED_EVENT_POWER_BUTTON)), Integer(GED_EVENT_POWER_BUTTON)), {
            Notify(NamePath(DSDT_POWER_BUTTON_PATH), Integer(NOTIFY_BUTTON_PRESSED)),
        }),
    };
    if (pci) {
        // Linux's ACPI PCI hot-plug then reads each slot's vendor ID and removes the functions
        // that no longer answer (a surprise removal).
        evt.push_back(If(LEqual(And(Local(0), Integer(GED_EVENT_PCI_BUS_CHECK)), Integer(GED_EVENT_PCI_BUS_CHECK)), {
            Notify(NamePath(DSDT_PCI_HOST_BRIDGE_PATH), Integer(NOTIFY_BUS_CHECK)),
        }));
    }
    return Device("GED0", {
        Name("_HID", String("ACPI0013")),
        Name("_UID", Zero()),
        Name("_CRS", ResourceTemplate({
            Interrupt(Trigger::edge, Polarity::active_high, Sharing::exclusive, x86::IRQ_ACPI_GED),
        })),
        OperationRegion("GDST", RegionSpace::system_io, Integer(x86::PORT_ACPI_GED), Integer(GED_BLOCK_SIZE)),
        Field("GDST", FieldAccess::byte, FieldUpdate::write_as_zeros, { { "GDAT", 8 } }),
        // Reading GDAT returns and clears the latched events: read it once.
        Method("_EVT", 1, true, evt),
    });
}

Term pvpanic()
{
    // Linux's pvpanic driver binds QEMU0001 and writes panic events to the port in _CRS.
    return Device("PEVT", {
        Name("_HID", String("QEMU0001")),
        Name("_UID", Zero()),
        Name("_CRS", ResourceTemplate({ Io(x86::PORT_PVPANIC, x86::PORT_PVPANIC, 1, 1) })),
    });
}

// Linux's virtio-mmio ACPI binding: _HID LNRO0005, the register window and one interrupt.
Result<Term> virtio_mmio(std::size_t index, const MmioSlot& slot)
{
    constexpr std::uint64_t LIMIT_32BIT = std::uint64_t { 1 } << 32;
    std::uint64_t end = 0;
    if (slot.size == 0 || __builtin_add_overflow(slot.base, slot.size, &end) || end > LIMIT_32BIT) {
        return fail(Errc::invalid_argument, "virtio-mmio slot {} at {:#x}+{:#x} is not a 32-bit range", index,
            slot.base, slot.size);
    }
    if (slot.irq >= x86::IOAPIC_PINS) {
        return fail(Errc::invalid_argument, "virtio-mmio slot {} uses IRQ {}, beyond the IOAPIC's {} pins",
            index, slot.irq, x86::IOAPIC_PINS);
    }
    // Edge-triggered as the transport raises it through an irqfd; the driver reads
    // InterruptStatus on every interrupt, so a coalesced edge loses nothing.
    return Device(fmt::format("VR{:02X}", index), {
        Name("_HID", String("LNRO0005")),
        Name("_UID", Integer(index)),
        Name("_CRS", ResourceTemplate({
            Memory32Fixed(true, static_cast<std::uint32_t>(slot.base), static_cast<std::uint32_t>(slot.size)),
            Interrupt(Trigger::edge, Polarity::active_high, Sharing::exclusive, slot.irq),
        })),
    });
}

// PCI Firmware 3.3 §4.5.1: the _OSC UUID of a PCI host bridge.
constexpr const char* PCI_HOST_BRIDGE_OSC_UUID = "33DB4D5B-1FF7-401C-9657-7441C03DD766";
// §4.5.1 Table 4-4: the status bits _OSC sets in the first capabilities DWord.
constexpr std::uint64_t OSC_UNRECOGNIZED_UUID = 1U << 2;
constexpr std::uint64_t OSC_UNRECOGNIZED_REVISION = 1U << 3;
constexpr std::uint32_t PCI_SLOTS = 32;
constexpr std::uint32_t INTX_PINS = 4;

// _OSC: the OS gets every PCIe feature it asks for (native hot-plug, PME, AER, the PCIe
// capability, LTR, DPC): no platform firmware here would handle any of them. Only the first
// DWord changes, for a UUID or revision this method does not know (ACPI 6.4 §6.2.11).
Term pci_osc()
{
    return Method("_OSC", 4, false, {
        CreateDWordField(Arg(3), Zero(), "CDW1"),
        If(LEqual(Arg(0), Uuid(PCI_HOST_BRIDGE_OSC_UUID)), {
            If(LNot(LEqual(Arg(1), One())), {
                Or(NamePath("CDW1"), Integer(OSC_UNRECOGNIZED_REVISION), NamePath("CDW1")),
            }),
        }),
        Else({
            Or(NamePath("CDW1"), Integer(OSC_UNRECOGNIZED_UUID), NamePath("CDW1")),
        }),
        Return(Arg(3)),
    });
}

// _PRT (ACPI 6.4 §6.2.13): INTA#..INTD# of every slot to IOAPIC pins by the usual swizzle. A
// zero source means the last field is a GSI, which Linux sets up level-triggered, active low.
Term pci_routing(const PciHostBridgeInfo& pci)
{
    TermList entries;
    for (std::uint32_t slot = 0; slot < PCI_SLOTS; ++slot) {
        for (std::uint32_t pin = 0; pin < INTX_PINS; ++pin) {
            entries.push_back(Package({
                Integer(std::uint64_t { slot } << 16 | 0xffff), // any function of the slot
                Integer(pin),
                Zero(),
                Integer(pci.intx_gsis[(slot + pin) % INTX_PINS]),
            }));
        }
    }
    return Name("_PRT", Package(entries));
}

// One object per device slot (ACPI 6.4 §6.1.1 _ADR: device << 16, any function 0): the slots
// that ACPI PCI hot-plug looks at on a bus check. No _STA and no _EJ0: a function is there when
// its vendor ID answers, and it leaves without the guest's say (surprise removal).
TermList pci_slots()
{
    TermList slots;
    for (std::uint32_t slot = 1; slot < PCI_SLOTS; ++slot) {
        slots.push_back(Device(fmt::format("SL{:02X}", slot), { Name("_ADR", Integer(std::uint64_t { slot } << 16)) }));
    }
    return slots;
}

Result<TermList> pci_host_bridge(const PciHostBridgeInfo& pci)
{
    constexpr std::uint64_t LIMIT_32BIT = std::uint64_t { 1 } << 32;
    // Overflow-safe: each sum is formed only once its terms are known to be small.
    const bool ecam_ok = pci.bus_start <= pci.bus_end && pci.ecam_base < LIMIT_32BIT
        && pci.ecam_base + (std::uint64_t { pci.bus_start } << 20) + ecam_size(pci) <= LIMIT_32BIT;
    if (!ecam_ok) {
        return fail(Errc::invalid_argument, "PCI: ECAM at {:#x} for buses {}-{} is not a 32-bit range", pci.ecam_base,
            pci.bus_start, pci.bus_end);
    }
    const bool windows_ok = pci.mmio32_size != 0 && pci.mmio32_base < LIMIT_32BIT
        && pci.mmio32_size <= LIMIT_32BIT - pci.mmio32_base && pci.mmio64_size != 0 && pci.mmio64_base >= LIMIT_32BIT
        && pci.mmio64_size - 1 <= ~pci.mmio64_base;
    if (!windows_ok) {
        return fail(Errc::invalid_argument, "PCI: windows {:#x}+{:#x} and {:#x}+{:#x} are not 32-bit and 64-bit ranges",
            pci.mmio32_base, pci.mmio32_size, pci.mmio64_base, pci.mmio64_size);
    }
    for (const auto gsi : pci.intx_gsis) {
        if (gsi >= x86::IOAPIC_PINS) {
            return fail(
                Errc::invalid_argument, "PCI: INTx on GSI {}, beyond the IOAPIC's {} pins", gsi, x86::IOAPIC_PINS);
        }
    }
    const std::uint64_t ecam_start = pci.ecam_base + (std::uint64_t { pci.bus_start } << 20);
    // PCI Firmware 3.3 §4.1.2: PNP0A08 (PCIe) with PNP0A03 compatibility. ECAM comes from the
    // MCFG, so there is no _CBA.
    TermList pci0 = {
        Name("_HID", EisaId("PNP0A08")),
        Name("_CID", EisaId("PNP0A03")),
        Name("_UID", Zero()),
        Name("_SEG", Zero()),
        Name("_BBN", Integer(pci.bus_start)),
        Name("_CRS", ResourceTemplate({
            WordBusNumber(pci.bus_start, pci.bus_end),
            Io(x86::PORT_PCI_CONFIG_ADDRESS, x86::PORT_PCI_CONFIG_ADDRESS, 1, 8),
            // Non-prefetchable: the BARs there are (a prefetchable window would refuse them).
            DWordMemory(Cacheability::non_cacheable, true, static_cast<std::uint32_t>(pci.mmio32_base),
                static_cast<std::uint32_t>(pci.mmio32_base + pci.mmio32_size - 1)),
            QWordMemory(Cacheability::non_cacheable, true, pci.mmio64_base, pci.mmio64_base + pci.mmio64_size - 1),
        })),
        pci_routing(pci),
        pci_osc(),
    };
    for (auto& slot : pci_slots()) {
        pci0.push_back(std::move(slot));
    }
    return TermList {
        Device("PCI0", pci0),
        // §4.1.2: the ECAM range must be a motherboard resource (Linux does not use ECAM
        // otherwise).
        Device("PRES", {
            Name("_HID", EisaId("PNP0C02")),
            Name("_UID", Zero()),
            Name("_CRS", ResourceTemplate({
                Memory32Fixed(
                    false, static_cast<std::uint32_t>(ecam_start), static_cast<std::uint32_t>(ecam_size(pci))),
            })),
        }),
    };
}

} // namespace

Result<std::vector<std::uint8_t>> build_dsdt(const AcpiPlatform& platform)
{
    if (platform.mmio_slots.size() > MAX_MMIO_SLOTS) {
        return fail(Errc::invalid_argument, "{} virtio-mmio slots, at most {} can be described",
            platform.mmio_slots.size(), MAX_MMIO_SLOTS);
    }

    TermList sb;
    if (platform.com1) {
        sb.push_back(com1());
    }
    sb.push_back(power_button());
    sb.push_back(generic_event_device(platform.pci.has_value()));
    if (platform.pvpanic) {
        sb.push_back(pvpanic());
    }
    for (std::size_t i = 0; i < platform.mmio_slots.size(); ++i) {
        sb.push_back(VMM_TRY(virtio_mmio(i, platform.mmio_slots[i])));
    }
    if (platform.pci) {
        for (auto& t : VMM_TRY(pci_host_bridge(*platform.pci))) {
            sb.push_back(std::move(t));
        }
    }

    const TermList top = {
        // §7.4.2: \_S5_ {SLP_TYPa, SLP_TYPb, reserved, reserved}; a hardware-reduced OS
        // writes SLP_TYPa to the sleep control register.
        Name("_S5_", Package({ Integer(S5_SLEEP_TYPE), Integer(S5_SLEEP_TYPE), Zero(), Zero() })),
        Scope("\\_SB", sb),
    };

    std::vector<std::uint8_t> out;
    append_struct(out, make_header("DSDT", DSDT_REVISION));
    for (const auto& t : top) {
        if (!t.ok()) {
            return fail(Errc::invalid_argument, "DSDT: {}", t.error());
        }
        t.append_to(out);
    }
    finish_table(out);
    return out;
}

} // namespace vmm::acpi
