// SPDX-License-Identifier: Apache-2.0
// Hardware-reduced ACPI sleep/reset registers and the GED event register.
#include "vmm/devices/acpi_pm.hpp"

#include <utility>

#include "vmm/base/log.hpp"

namespace vmm {

namespace {

void fill_first(std::span<std::byte> data, std::uint8_t first)
{
    for (auto& b : data) {
        b = std::byte { 0 };
    }
    if (!data.empty()) {
        data[0] = std::byte { first };
    }
}

} // namespace

AcpiSleepDevice::AcpiSleepDevice(std::function<void()> on_poweroff, std::function<void()> on_reset)
    : on_poweroff_(std::move(on_poweroff))
    , on_reset_(std::move(on_reset))
{
}

void AcpiSleepDevice::read(std::uint64_t offset, std::span<std::byte> data) noexcept
{
    // Each byte of the access reads the register at its own offset. The status register
    // always reports WAK_STS: the machine is awake, and an OS that polls for wake-up after
    // a sleep we do not offer (only \_S5_ exists) stops polling at once instead of hanging.
    for (std::size_t i = 0; i < data.size(); ++i) {
        const bool status = offset <= acpi::SLEEP_STATUS_OFFSET && acpi::SLEEP_STATUS_OFFSET - offset == i;
        data[i] = std::byte { status ? acpi::WAK_STS : std::uint8_t { 0 } };
    }
}

void AcpiSleepDevice::write(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    // The FADT declares each register as one byte with byte access (GAS access size 1).
    if (data.size() != 1) {
        VMM_LOG_GUEST(
            spdlog::level::warn, "acpi-sleep: ignoring a {}-byte write at offset {}", data.size(), offset);
        return;
    }
    // Guest-controlled:
    const auto value = static_cast<std::uint8_t>(data[0]);
    switch (offset) {
    case acpi::SLEEP_CONTROL_OFFSET: {
        if ((value & acpi::SLP_EN) == 0) {
            return; // ACPI 6.4 §4.8.3.7: without SLP_EN nothing happens
        }
        const auto type = static_cast<std::uint8_t>((value & acpi::SLP_TYP_MASK) >> acpi::SLP_TYP_SHIFT);
        if (type != acpi::S5_SLEEP_TYPE) {
            VMM_LOG_GUEST(spdlog::level::warn, "acpi-sleep: sleep type {} is not offered, ignoring", type);
            return;
        }
        VMM_LOG_GUEST(spdlog::level::info, "acpi-sleep: the guest requested power off (S5)");
        if (on_poweroff_) {
            on_poweroff_();
        }
        return;
    }
    case acpi::SLEEP_STATUS_OFFSET:
        // WAK_STS is write-1-to-clear; the OS clears it before sleeping. Nothing to do.
        return;
    case acpi::RESET_OFFSET:
        if (value != acpi::RESET_VALUE) {
            VMM_LOG_GUEST(spdlog::level::warn, "acpi-sleep: ignoring reset register value {:#x}", value);
            return;
        }
        VMM_LOG_GUEST(spdlog::level::info, "acpi-sleep: the guest requested a reset");
        if (on_reset_) {
            on_reset_();
        }
        return;
    default:
        VMM_LOG_GUEST(
            spdlog::level::warn, "acpi-sleep: ignoring a write of {:#x} at offset {}", value, offset);
        return;
    }
}

AcpiGed::AcpiGed(std::function<void()> raise_irq)
    : raise_irq_(std::move(raise_irq))
{
}

void AcpiGed::press_power_button() noexcept
{
    raise(acpi::GED_EVENT_POWER_BUTTON);
}

void AcpiGed::pci_bus_check() noexcept
{
    raise(acpi::GED_EVENT_PCI_BUS_CHECK);
}

void AcpiGed::raise(std::uint8_t event) noexcept
{
    // Latch before raising: the guest's handler must find the bit when it runs.
    events_.fetch_or(event, std::memory_order_acq_rel);
    if (raise_irq_) {
        raise_irq_();
    }
}

void AcpiGed::read(std::uint64_t offset, std::span<std::byte> data) noexcept
{
    if (offset != 0) {
        fill_first(data, 0);
        return;
    }
    // Read-and-clear in one step, so a press racing with this read is either returned now or
    // stays latched for the next read (its own interrupt triggers that read).
    fill_first(data, events_.exchange(0, std::memory_order_acq_rel));
}

void AcpiGed::write(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    // Read-only register: the AML declares its field WriteAsZeros and never writes it.
    VMM_LOG_GUEST(
        spdlog::level::debug, "acpi-ged: ignoring a {}-byte write at offset {}", data.size(), offset);
}

} // namespace vmm
