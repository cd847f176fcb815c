// SPDX-License-Identifier: Apache-2.0
// PCI configuration space registers and bits (PCI Local Bus 3.0 §6, PCIe 6.0 §7.5.1).
#pragma once

#include <cstdint>

namespace vmm::pci {

// A function's configuration space: 256 bytes of conventional space, 4 KiB with the PCIe
// extended space that ECAM reaches.
inline constexpr std::uint32_t CONFIG_SPACE_SIZE = 0x1000;
inline constexpr std::uint32_t CONVENTIONAL_CONFIG_SIZE = 0x100;

// Type-0 header offsets (PCI 3.0 §6.1, Figure 6-1).
inline constexpr std::uint32_t VENDOR_ID = 0x00;
inline constexpr std::uint32_t DEVICE_ID = 0x02;
inline constexpr std::uint32_t COMMAND = 0x04;
inline constexpr std::uint32_t STATUS = 0x06;
inline constexpr std::uint32_t REVISION_ID = 0x08;
inline constexpr std::uint32_t CLASS_PROG_IF = 0x09; // class code: prog-if, subclass, base class
inline constexpr std::uint32_t CACHE_LINE_SIZE = 0x0c;
inline constexpr std::uint32_t HEADER_TYPE = 0x0e;
inline constexpr std::uint32_t BAR0 = 0x10;
inline constexpr std::uint32_t BAR_COUNT = 6;
inline constexpr std::uint32_t SUBSYSTEM_VENDOR_ID = 0x2c;
inline constexpr std::uint32_t SUBSYSTEM_ID = 0x2e;
inline constexpr std::uint32_t EXPANSION_ROM = 0x30;
inline constexpr std::uint32_t CAPABILITIES_POINTER = 0x34;
inline constexpr std::uint32_t INTERRUPT_LINE = 0x3c;
inline constexpr std::uint32_t INTERRUPT_PIN = 0x3d;
// Capabilities live between the header and the end of the conventional space.
inline constexpr std::uint32_t CAPABILITIES_START = 0x40;

// Command register bits (§6.2.2) a function implements here.
inline constexpr std::uint16_t COMMAND_IO = 1U << 0;
inline constexpr std::uint16_t COMMAND_MEMORY = 1U << 1;
inline constexpr std::uint16_t COMMAND_BUS_MASTER = 1U << 2;
inline constexpr std::uint16_t COMMAND_INTX_DISABLE = 1U << 10;

// Status register bits (§6.2.3).
inline constexpr std::uint16_t STATUS_INTERRUPT = 1U << 3;
inline constexpr std::uint16_t STATUS_CAPABILITIES = 1U << 4;

// BAR low bits (§6.2.5.1).
inline constexpr std::uint32_t BAR_IO_SPACE = 1U << 0;
inline constexpr std::uint32_t BAR_MEM_TYPE_64 = 2U << 1;
inline constexpr std::uint32_t BAR_MEM_PREFETCHABLE = 1U << 3;

// Capability IDs (PCI Code and ID Assignment, §2).
inline constexpr std::uint8_t CAP_ID_VENDOR = 0x09;
inline constexpr std::uint8_t CAP_ID_MSIX = 0x11;

// Class codes (base class << 16 | subclass << 8 | prog-if).
inline constexpr std::uint32_t CLASS_HOST_BRIDGE = 0x060000;

// A device/function number on bus 0 (PCI 3.0 §3.2.2.3.1): 5 bits of device, 3 of function.
struct DevFn {
    std::uint8_t device = 0;
    std::uint8_t function = 0;
};
inline constexpr std::uint32_t DEVICES_PER_BUS = 32;
inline constexpr std::uint32_t FUNCTIONS_PER_DEVICE = 8;

} // namespace vmm::pci
