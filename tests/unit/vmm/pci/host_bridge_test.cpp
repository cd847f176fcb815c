// SPDX-License-Identifier: Apache-2.0
// PciHostBridge: ECAM and 0xCF8/0xCFC decoding, absent functions, BAR mappings on the buses.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>

#include <catch2/catch.hpp>

#include "vmm/pci/bar_allocator.hpp"
#include "vmm/pci/config_space.hpp"
#include "vmm/pci/host_bridge.hpp"

using namespace vmm;
using namespace vmm::pci;

namespace {

constexpr std::uint64_t ECAM = 0xe000'0000;
constexpr std::uint64_t PORTS = 0xcf8;

// A function with one 4 KiB memory BAR whose bytes read as their offset's low byte.
class TestFunction final : public PciDevice {
public:
    TestFunction()
        : config_(PciIds { .vendor = 0xabcd, .device = 0x0001, .class_code = 0xff0000 })
    {
        config_.set_bar(1, BarSpec { BarKind::mem32, 0x1000, false });
    }
    void config_read(std::uint32_t offset, std::span<std::byte> data) noexcept override
    {
        std::lock_guard lock(mutex_);
        config_.read(offset, data);
    }
    void config_write(std::uint32_t offset, std::span<const std::byte> data) noexcept override
    {
        std::lock_guard lock(mutex_);
        config_.write(offset, data);
    }
    void bar_read(std::uint8_t, std::uint64_t offset, std::span<std::byte> data) noexcept override
    {
        for (std::size_t i = 0; i < data.size(); ++i) {
            data[i] = std::byte { static_cast<std::uint8_t>(offset + i) };
        }
    }
    void bar_write(std::uint8_t, std::uint64_t offset, std::span<const std::byte>) noexcept override
    {
        last_write = offset;
    }
    [[nodiscard]] BarSpecs bars() const override { return config_.bars(); }
    [[nodiscard]] std::uint64_t bar_address(std::uint8_t i) const override { return config_.bar_address(i); }
    void set_bar_address(std::uint8_t i, std::uint64_t a) override { config_.set_bar_address(i, a); }
    void attach(BarMapper& m) override { config_.attach(m, {}); }

    std::uint64_t last_write = ~0ULL;

private:
    std::mutex mutex_;
    ConfigSpace config_;
};

struct BridgeFixture {
    BridgeFixture()
    {
        REQUIRE(mmio.insert(bridge.ecam(), ECAM, PciHostBridge::ECAM_BUS_SIZE));
        REQUIRE(pio.insert(bridge.config_ports(), PORTS, PciHostBridge::CONFIG_PORTS_SIZE));
        function->set_bar_address(1, 0xc000'0000);
        REQUIRE(bridge.add(3, function));
    }

    std::uint32_t ecam_read(std::uint8_t dev, std::uint8_t fn, std::uint32_t reg, std::size_t width)
    {
        std::uint32_t v = 0;
        auto b = std::as_writable_bytes(std::span(&v, 1)).first(width);
        if (!mmio.read(ECAM + (std::uint64_t { dev } << 15) + (std::uint64_t { fn } << 12) + reg, b)) {
            std::memset(b.data(), 0xff, b.size());
        }
        return v;
    }
    void ecam_write(std::uint8_t dev, std::uint32_t reg, std::size_t width, std::uint32_t v)
    {
        REQUIRE(mmio.write(ECAM + (std::uint64_t { dev } << 15) + reg, std::as_bytes(std::span(&v, 1)).first(width)));
    }
    std::uint32_t port_read(std::uint64_t port, std::size_t width)
    {
        std::uint32_t v = 0;
        auto b = std::as_writable_bytes(std::span(&v, 1)).first(width);
        if (!pio.read(port, b)) {
            std::memset(b.data(), 0xff, b.size());
        }
        return v;
    }
    void port_write(std::uint64_t port, std::size_t width, std::uint32_t v)
    {
        REQUIRE(pio.write(port, std::as_bytes(std::span(&v, 1)).first(width)));
    }
    static std::uint32_t cf8(std::uint8_t dev, std::uint32_t reg, bool enable = true)
    {
        return (enable ? 0x8000'0000U : 0U) | (std::uint32_t { dev } << 11) | reg;
    }

    Bus mmio { "mmio" };
    Bus pio { "pio" };
    PciHostBridge bridge { mmio, pio };
    std::shared_ptr<TestFunction> function = std::make_shared<TestFunction>();
};

} // namespace

TEST_CASE("00:00.0 is a host bridge: class 0x0600, a single-function type-0 header", "[pci][bridge]")
{
    BridgeFixture f;

    CHECK(f.ecam_read(0, 0, VENDOR_ID, 2) == PciHostBridge::VENDOR_ID);
    CHECK(f.ecam_read(0, 0, DEVICE_ID, 2) == PciHostBridge::DEVICE_ID);
    CHECK(f.ecam_read(0, 0, CLASS_PROG_IF + 1, 2) == 0x0600);
    CHECK(f.ecam_read(0, 0, HEADER_TYPE, 1) == 0);
}

TEST_CASE("ECAM decodes the device number from bits 19:15 and the register from bits 11:0", "[pci][bridge]")
{
    BridgeFixture f;

    CHECK(f.ecam_read(3, 0, VENDOR_ID, 4) == 0x0001'abcd);
    CHECK(f.ecam_read(3, 0, VENDOR_ID + 1, 1) == 0xab);
    CHECK(f.ecam_read(3, 0, VENDOR_ID + 2, 2) == 0x0001);
}

TEST_CASE("absent devices and functions read all ones and ignore writes", "[pci][bridge]")
{
    BridgeFixture f;

    f.ecam_write(4, COMMAND, 2, 0xffff);

    CHECK(f.ecam_read(4, 0, VENDOR_ID, 4) == 0xffff'ffff);
    CHECK(f.ecam_read(3, 1, VENDOR_ID, 4) == 0xffff'ffff);
    CHECK(f.ecam_read(31, 7, 0xffc, 4) == 0xffff'ffff);
}

TEST_CASE("buses other than 0 are not there, and ECAM ends after bus 0", "[pci][bridge]")
{
    BridgeFixture f;
    std::uint32_t v = 0;

    f.bridge.config_read(1, 0, 0, VENDOR_ID, std::as_writable_bytes(std::span(&v, 1)));

    CHECK(v == 0xffff'ffff);
    CHECK_FALSE(f.mmio.read(ECAM + PciHostBridge::ECAM_BUS_SIZE, std::as_writable_bytes(std::span(&v, 1))));
}

TEST_CASE("a register past the 4 KiB configuration space reads all ones", "[pci][bridge]")
{
    BridgeFixture f;
    std::uint32_t v = 0;

    f.bridge.config_read(0, 3, 0, 0x1000, std::as_writable_bytes(std::span(&v, 1)));

    CHECK(v == 0xffff'ffff);
}

TEST_CASE("misaligned or odd-sized configuration accesses read all ones and write nothing", "[pci][bridge]")
{
    BridgeFixture f;
    std::array<std::byte, 8> wide {};

    const std::uint32_t misaligned = f.ecam_read(3, 0, 1, 2);
    const std::uint32_t across = f.ecam_read(3, 0, 2, 4);
    REQUIRE(f.mmio.read(ECAM + (3U << 15), wide));
    f.ecam_write(3, COMMAND + 1, 2, 0xffff);

    CHECK(misaligned == 0xffff);
    CHECK(across == 0xffff'ffff);
    CHECK(wide
        == std::array<std::byte, 8> { std::byte { 0xff }, std::byte { 0xff }, std::byte { 0xff }, std::byte { 0xff },
            std::byte { 0xff }, std::byte { 0xff }, std::byte { 0xff }, std::byte { 0xff } });
    CHECK(f.ecam_read(3, 0, COMMAND, 2) == 0);
}

TEST_CASE("a type-1 cycle through 0xCF8/0xCFC reads and writes configuration space", "[pci][bridge]")
{
    BridgeFixture f;

    f.port_write(PORTS, 4, BridgeFixture::cf8(3, VENDOR_ID));
    const std::uint32_t id = f.port_read(PORTS + 4, 4);
    const std::uint32_t device_id = f.port_read(PORTS + 6, 2);
    f.port_write(PORTS, 4, BridgeFixture::cf8(3, INTERRUPT_LINE));
    f.port_write(PORTS + 4, 1, 0x0b);

    CHECK(id == 0x0001'abcd);
    CHECK(device_id == 0x0001);
    CHECK(f.ecam_read(3, 0, INTERRUPT_LINE, 1) == 0x0b);
}

TEST_CASE("CONFIG_ADDRESS reads back as written, reserved and low bits cleared", "[pci][bridge]")
{
    BridgeFixture f;

    f.port_write(PORTS, 4, 0xffff'ffff);

    CHECK(f.port_read(PORTS, 4) == 0x80ff'fffc);
}

TEST_CASE("without the enable bit CONFIG_DATA reads all ones and writes nothing", "[pci][bridge]")
{
    BridgeFixture f;

    f.port_write(PORTS, 4, BridgeFixture::cf8(3, INTERRUPT_LINE, false));
    f.port_write(PORTS + 4, 1, 0x0b);

    CHECK(f.port_read(PORTS + 4, 4) == 0xffff'ffff);
    CHECK(f.ecam_read(3, 0, INTERRUPT_LINE, 1) == 0);
}

TEST_CASE("only 32-bit accesses reach CONFIG_ADDRESS; narrower ones read all ones (no mechanism #2)", "[pci][bridge]")
{
    BridgeFixture f;
    f.port_write(PORTS, 4, BridgeFixture::cf8(3, 0));

    f.port_write(PORTS + 3, 1, 0x01); // Linux's mechanism #1 probe writes this first
    f.port_write(PORTS, 2, 0);

    CHECK(f.port_read(PORTS, 4) == BridgeFixture::cf8(3, 0));
    CHECK(f.port_read(PORTS, 1) == 0xff);
    CHECK(f.port_read(PORTS + 2, 1) == 0xff);
}

TEST_CASE("a CONFIG_DATA access past its 4 bytes reads all ones", "[pci][bridge]")
{
    BridgeFixture f;
    f.port_write(PORTS, 4, BridgeFixture::cf8(3, VENDOR_ID));

    CHECK(f.port_read(PORTS + 6, 4) == 0xffff'ffff);
}

TEST_CASE("a BAR is on the MMIO bus only while memory decoding is on, at the address it holds", "[pci][bridge]")
{
    BridgeFixture f;
    std::uint8_t b = 0;
    auto byte = std::as_writable_bytes(std::span(&b, 1));
    REQUIRE_FALSE(f.mmio.read(0xc000'0010, byte));

    f.ecam_write(3, COMMAND, 2, COMMAND_MEMORY);
    REQUIRE(f.mmio.read(0xc000'0010, byte));
    CHECK(b == 0x10);

    f.ecam_write(3, COMMAND, 2, 0);
    CHECK_FALSE(f.mmio.read(0xc000'0010, byte));
}

TEST_CASE("a BAR moved by the guest leaves its old range and decodes at the new one", "[pci][bridge]")
{
    BridgeFixture f;
    f.ecam_write(3, COMMAND, 2, COMMAND_MEMORY);
    std::uint8_t b = 0;
    auto byte = std::as_writable_bytes(std::span(&b, 1));

    f.ecam_write(3, BAR0 + 4, 4, 0xc020'0000);

    CHECK_FALSE(f.mmio.read(0xc000'0000, byte));
    REQUIRE(f.mmio.read(0xc020'0004, byte));
    CHECK(b == 0x04);
    REQUIRE(f.mmio.write(0xc020'0008, std::as_bytes(std::span(&b, 1))));
    CHECK(f.function->last_write == 8);
}

TEST_CASE("a BAR moved onto the ECAM window does not decode, and ECAM keeps working", "[pci][bridge]")
{
    BridgeFixture f;
    f.ecam_write(3, COMMAND, 2, COMMAND_MEMORY);

    f.ecam_write(3, BAR0 + 4, 4, static_cast<std::uint32_t>(ECAM));

    CHECK(f.ecam_read(3, 0, VENDOR_ID, 2) == 0xabcd);
    f.ecam_write(3, BAR0 + 4, 4, 0xc000'0000);
    std::uint8_t b = 0;
    CHECK(f.mmio.read(0xc000'0000, std::as_writable_bytes(std::span(&b, 1))));
}

TEST_CASE("slot 0 and slots past 31 cannot be taken, nor a slot twice", "[pci][bridge]")
{
    BridgeFixture f;

    CHECK_FALSE(f.bridge.add(0, std::make_shared<TestFunction>()));
    CHECK_FALSE(f.bridge.add(32, std::make_shared<TestFunction>()));
    CHECK_FALSE(f.bridge.add(3, std::make_shared<TestFunction>()));
    CHECK(f.bridge.add(31, std::make_shared<TestFunction>()));
}

TEST_CASE("the bridge takes its BAR ranges off the bus when it goes", "[pci][bridge]")
{
    Bus mmio("mmio");
    Bus pio("pio");
    auto function = std::make_shared<TestFunction>();
    {
        PciHostBridge bridge(mmio, pio);
        function->set_bar_address(1, 0xc000'0000);
        REQUIRE(bridge.add(1, function));
        std::uint16_t cmd = COMMAND_MEMORY;
        bridge.config_write(0, 1, 0, COMMAND, std::as_bytes(std::span(&cmd, 1)));
        std::uint8_t b = 0;
        REQUIRE(mmio.read(0xc000'0000, std::as_writable_bytes(std::span(&b, 1))));
    }
    std::uint8_t b = 0;

    CHECK_FALSE(mmio.read(0xc000'0000, std::as_writable_bytes(std::span(&b, 1))));
}

// ---- BarAllocator ----------------------------------------------------------------------------

TEST_CASE("BARs are placed at natural alignment, 32-bit ones low and 64-bit ones high", "[pci][bars]")
{
    BarAllocator a(Window { 0xc000'0000, 0x1000'0000 }, Window { 0x10'0000'0000, 0x10'0000'0000 });

    const auto small = a.allocate(BarSpec { BarKind::mem32, 0x1000, false });
    const auto big = a.allocate(BarSpec { BarKind::mem32, 0x10'0000, false });
    const auto high = a.allocate(BarSpec { BarKind::mem64, 0x4000, false });

    REQUIRE(small);
    REQUIRE(big);
    REQUIRE(high);
    CHECK(*small == 0xc000'0000);
    CHECK(*big == 0xc010'0000);
    CHECK(*high == 0x10'0000'0000);
}

TEST_CASE("a BAR that does not fit its window is refused", "[pci][bars]")
{
    BarAllocator a(Window { 0xc000'0000, 0x2000 }, Window { 0x10'0000'0000, 0x1000 });

    CHECK(a.allocate(BarSpec { BarKind::mem32, 0x2000, false }));
    CHECK_FALSE(a.allocate(BarSpec { BarKind::mem32, 0x1000, false }));
    CHECK_FALSE(a.allocate(BarSpec { BarKind::mem64, 0x2000, false }));
    CHECK_FALSE(a.allocate(BarSpec { BarKind::io, 0x20, false }));
    CHECK_FALSE(a.allocate(BarSpec { BarKind::mem32, 0x1800, false }));
}

TEST_CASE("assign() gives every BAR of a device an address, the largest first", "[pci][bars]")
{
    BarAllocator a(Window { 0xc000'0000, 0x1000'0000 }, Window { 0x10'0000'0000, 0x10'0000'0000 });
    TestFunction function;

    REQUIRE(a.assign(function));

    CHECK(function.bar_address(1) == 0xc000'0000);
    CHECK(function.bar_address(0) == 0);
}
