// SPDX-License-Identifier: Apache-2.0
// The hardware-reduced power-management registers that the tables describe and the devices implement.
#pragma once

#include <cstdint>

namespace vmm::acpi {

// ---- Sleep/reset register block at x86::PORT_ACPI_SLEEP ---------------------------------------
// Three byte-wide registers; the FADT points SLEEP_CONTROL_REG, SLEEP_STATUS_REG and RESET_REG at
// them (ACPI 6.4 §4.8.3.7, §4.8.3.8, §4.8.3.6).
inline constexpr std::uint64_t SLEEP_CONTROL_OFFSET = 0;
inline constexpr std::uint64_t SLEEP_STATUS_OFFSET = 1;
inline constexpr std::uint64_t RESET_OFFSET = 2;
inline constexpr std::uint64_t SLEEP_BLOCK_SIZE = 4; // offset 3 reserved: reads 0, writes ignored

// Sleep control register, §4.8.3.7 Table 4.19: bits 4-2 SLP_TYPx, bit 5 SLP_EN.
inline constexpr std::uint8_t SLP_TYP_SHIFT = 2;
inline constexpr std::uint8_t SLP_TYP_MASK = 0x1c;
inline constexpr std::uint8_t SLP_EN = 0x20;
// Sleep status register, §4.8.3.8 Table 4.20: bit 7 WAK_STS.
inline constexpr std::uint8_t WAK_STS = 0x80;

// The SLP_TYP value the DSDT's \_S5_ package hands the OS for soft-off. Any 3-bit value
// works as long as both sides agree; 5 reads as "S5".
inline constexpr std::uint8_t S5_SLEEP_TYPE = 5;
// The FADT's RESET_VALUE (§5.2.9 Table 5.9).
inline constexpr std::uint8_t RESET_VALUE = 0x01;

// ---- Generic Event Device register at x86::PORT_ACPI_GED ---------------------------------------
// One byte of latched events; the DSDT's GED _EVT method reads it (which clears it) and
// notifies the device whose bit is set.
inline constexpr std::uint64_t GED_BLOCK_SIZE = 1;
inline constexpr std::uint8_t GED_EVENT_POWER_BUTTON = 1U << 0;
// A PCI function is gone (or has come): _EVT sends a bus check to the host bridge, and the
// guest looks at every slot described under it (ACPI 6.4 §5.6.6: notification 0).
inline constexpr std::uint8_t GED_EVENT_PCI_BUS_CHECK = 1U << 1;

} // namespace vmm::acpi
