// SPDX-License-Identifier: Apache-2.0
// Hardware-reduced ACPI platform devices: the sleep/reset registers and the GED event register.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>

#include "firmware/acpi/pm_registers.hpp"
#include "vmm/bus/bus.hpp"

namespace vmm {

// The FADT's SLEEP_CONTROL_REG, SLEEP_STATUS_REG and RESET_REG (ACPI 6.4 §4.8.3.6-8), one byte
// each, at x86::PORT_ACPI_SLEEP. SLP_EN with the \_S5_ sleep type calls on_poweroff; the
// FADT's RESET_VALUE written to the reset register calls on_reset. The callbacks run on the
// vCPU thread that made the access, possibly on several at once, and must not throw.
class AcpiSleepDevice final : public BusDevice {
public:
    static constexpr std::uint64_t SIZE = acpi::SLEEP_BLOCK_SIZE;

    AcpiSleepDevice(std::function<void()> on_poweroff, std::function<void()> on_reset);

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override;

private:
    std::function<void()> on_poweroff_;
    std::function<void()> on_reset_;
};

// The Generic Event Device's event register at x86::PORT_ACPI_GED. press_power_button() latches
// the event and calls raise_irq; the guest's _EVT method reads the register, which returns the
// latched events and clears them.
class AcpiGed final : public BusDevice {
public:
    static constexpr std::uint64_t SIZE = acpi::GED_BLOCK_SIZE;

    // raise_irq pulses the GED interrupt (edge-triggered, see dsdt.cpp); it is called from
    // whichever thread presses the button, so it must be thread-safe and must not throw.
    explicit AcpiGed(std::function<void()> raise_irq);

    // Thread-safe. Every press raises the interrupt, even while an earlier press is still
    // latched: a press made before the guest's driver bound the interrupt would otherwise
    // leave the bit set with no interrupt ever coming again.
    void press_power_button() noexcept;
    // The same for a PCI bus check (a function was removed): thread-safe.
    void pci_bus_check() noexcept;

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override;

private:
    void raise(std::uint8_t event) noexcept;

    std::function<void()> raise_irq_;
    std::atomic<std::uint8_t> events_ { 0 };
};

} // namespace vmm
