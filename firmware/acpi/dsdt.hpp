// SPDX-License-Identifier: Apache-2.0
// The DSDT: the platform's devices in AML.
#pragma once

#include <cstdint>
#include <vector>

#include "firmware/acpi/tables.hpp"
#include "vmm/base/result.hpp"

namespace vmm::acpi {

// Device names in the DSDT, for tests and for the code that notifies them.
inline constexpr const char* DSDT_POWER_BUTTON_PATH = "\\_SB.PWRB";
inline constexpr const char* DSDT_GED_PATH = "\\_SB.GED0";
inline constexpr const char* DSDT_PCI_HOST_BRIDGE_PATH = "\\_SB.PCI0";

// The whole table (header included, checksum set). Fails on an invalid platform description:
// a virtio-mmio slot outside 32 bits, an IRQ beyond the IOAPIC, too many slots.
[[nodiscard]] Result<std::vector<std::uint8_t>> build_dsdt(const AcpiPlatform& platform);

} // namespace vmm::acpi
