// SPDX-License-Identifier: Apache-2.0
// Tests for the ACPI sleep/reset registers and the GED event register.
#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "firmware/acpi/pm_registers.hpp"
#include "vmm/devices/acpi_pm.hpp"

using namespace vmm;

namespace {

struct SleepFixture {
    int poweroffs = 0;
    int resets = 0;
    AcpiSleepDevice dev { [this] { ++poweroffs; }, [this] { ++resets; } };

    void write_byte(std::uint64_t offset, std::uint8_t v)
    {
        const std::array<std::byte, 1> d { std::byte { v } };
        dev.write(offset, d);
    }
};

struct GedFixture {
    std::atomic<int> raised { 0 };
    AcpiGed ged { [this] { raised.fetch_add(1); } };

    std::uint8_t read_byte()
    {
        std::array<std::byte, 1> d { std::byte { 0xff } };
        ged.read(0, d);
        return static_cast<std::uint8_t>(d[0]);
    }
};

constexpr std::uint8_t S5_WITH_SLP_EN = (acpi::S5_SLEEP_TYPE << acpi::SLP_TYP_SHIFT) | acpi::SLP_EN;

} // namespace

TEST_CASE("SLP_EN with the S5 sleep type powers the machine off", "[devices][acpi]")
{
    SleepFixture f;
    f.write_byte(acpi::SLEEP_CONTROL_OFFSET, S5_WITH_SLP_EN);
    CHECK(f.poweroffs == 1);
    CHECK(f.resets == 0);
}

TEST_CASE("the S5 sleep type without SLP_EN does not power off", "[devices][acpi]")
{
    SleepFixture f;
    f.write_byte(acpi::SLEEP_CONTROL_OFFSET, acpi::S5_SLEEP_TYPE << acpi::SLP_TYP_SHIFT);
    CHECK(f.poweroffs == 0);
}

TEST_CASE("SLP_EN with a sleep type other than S5 is ignored", "[devices][acpi]")
{
    SleepFixture f;
    f.write_byte(acpi::SLEEP_CONTROL_OFFSET, (3 << acpi::SLP_TYP_SHIFT) | acpi::SLP_EN);
    f.write_byte(acpi::SLEEP_CONTROL_OFFSET, acpi::SLP_EN);
    CHECK(f.poweroffs == 0);
    CHECK(f.resets == 0);
}

TEST_CASE("the S5 value written to the status or reset register does not power off", "[devices][acpi]")
{
    SleepFixture f;
    f.write_byte(acpi::SLEEP_STATUS_OFFSET, S5_WITH_SLP_EN);
    f.write_byte(acpi::RESET_OFFSET, S5_WITH_SLP_EN);
    f.write_byte(3, S5_WITH_SLP_EN);
    CHECK(f.poweroffs == 0);
    CHECK(f.resets == 0);
}

TEST_CASE("a multi-byte write to the sleep control register is ignored", "[devices][acpi]")
{
    SleepFixture f;
    const std::array<std::byte, 4> d { std::byte { S5_WITH_SLP_EN }, std::byte { 0 },
        std::byte { acpi::RESET_VALUE }, std::byte { 0 } };
    f.dev.write(acpi::SLEEP_CONTROL_OFFSET, d);
    CHECK(f.poweroffs == 0);
    CHECK(f.resets == 0);
}

TEST_CASE("RESET_VALUE written to the reset register resets the machine", "[devices][acpi]")
{
    SleepFixture f;
    f.write_byte(acpi::RESET_OFFSET, acpi::RESET_VALUE);
    CHECK(f.resets == 1);
    CHECK(f.poweroffs == 0);
}

TEST_CASE("another value written to the reset register does not reset", "[devices][acpi]")
{
    SleepFixture f;
    f.write_byte(acpi::RESET_OFFSET, static_cast<std::uint8_t>(acpi::RESET_VALUE + 1));
    f.write_byte(acpi::SLEEP_CONTROL_OFFSET, acpi::RESET_VALUE);
    CHECK(f.resets == 0);
}

TEST_CASE("the sleep status register reads WAK_STS and the other registers read zero", "[devices][acpi]")
{
    SleepFixture f;
    std::array<std::byte, 4> d {};
    d.fill(std::byte { 0x5a });
    f.dev.read(0, d);
    CHECK(d[acpi::SLEEP_CONTROL_OFFSET] == std::byte { 0 });
    CHECK(d[acpi::SLEEP_STATUS_OFFSET] == std::byte { acpi::WAK_STS });
    CHECK(d[acpi::RESET_OFFSET] == std::byte { 0 });
    CHECK(d[3] == std::byte { 0 });
    std::array<std::byte, 1> one { std::byte { 0 } };
    f.dev.read(acpi::SLEEP_STATUS_OFFSET, one);
    CHECK(one[0] == std::byte { acpi::WAK_STS });
}

TEST_CASE("a power button press latches the event and raises the interrupt once", "[devices][acpi]")
{
    GedFixture f;
    CHECK(f.read_byte() == 0);
    f.ged.press_power_button();
    CHECK(f.raised.load() == 1);
    CHECK(f.read_byte() == acpi::GED_EVENT_POWER_BUTTON);
    CHECK(f.raised.load() == 1);
}

TEST_CASE("a PCI bus check latches its own event beside a button press", "[devices][acpi]")
{
    GedFixture f;
    f.ged.pci_bus_check();
    CHECK(f.raised.load() == 1);
    f.ged.press_power_button();
    CHECK(f.raised.load() == 2);
    CHECK(f.read_byte() == (acpi::GED_EVENT_PCI_BUS_CHECK | acpi::GED_EVENT_POWER_BUTTON));
    CHECK(f.read_byte() == 0);
}

TEST_CASE("reading the GED register clears the latched events", "[devices][acpi]")
{
    GedFixture f;
    f.ged.press_power_button();
    REQUIRE(f.read_byte() == acpi::GED_EVENT_POWER_BUTTON);
    CHECK(f.read_byte() == 0);
}

TEST_CASE("a second press before the read raises again and reads as one event", "[devices][acpi]")
{
    GedFixture f;
    f.ged.press_power_button();
    f.ged.press_power_button();
    CHECK(f.raised.load() == 2);
    CHECK(f.read_byte() == acpi::GED_EVENT_POWER_BUTTON);
    CHECK(f.read_byte() == 0);
}

TEST_CASE("a guest write to the GED register neither clears nor raises events", "[devices][acpi]")
{
    GedFixture f;
    f.ged.press_power_button();
    const std::array<std::byte, 1> d { std::byte { 0xff } };
    f.ged.write(0, d);
    CHECK(f.raised.load() == 1);
    CHECK(f.read_byte() == acpi::GED_EVENT_POWER_BUTTON);
}

TEST_CASE(
    "presses from another thread each raise the interrupt while reads clear the latch", "[devices][acpi]")
{
    GedFixture f;
    constexpr int PRESSES = 1000;
    int seen = 0;
    std::thread presser([&] {
        for (int i = 0; i < PRESSES; ++i) {
            f.ged.press_power_button();
        }
    });
    while (f.raised.load() < PRESSES) {
        seen += f.read_byte() != 0 ? 1 : 0;
    }
    presser.join();
    seen += f.read_byte() != 0 ? 1 : 0;
    CHECK(f.raised.load() == PRESSES);
    CHECK(seen >= 1);
    CHECK(f.read_byte() == 0);
}
