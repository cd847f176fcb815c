// SPDX-License-Identifier: Apache-2.0
// ConfigSpace: header masks, BAR sizing and decoding, the capability list.
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "vmm/pci/config_space.hpp"

using namespace vmm;
using namespace vmm::pci;

namespace {

struct Mapping {
    std::uint8_t index;
    BarKind kind;
    std::uint64_t base;
    std::uint64_t size;
};

// Records what the header asks of the bus; refuses ranges starting at `refuse`.
class RecordingMapper final : public BarMapper {
public:
    Result<> map_bar(std::uint8_t index, BarKind kind, std::uint64_t base, std::uint64_t size) override
    {
        if (base == refuse) {
            return fail(Errc::busy, "taken");
        }
        maps.push_back({ index, kind, base, size });
        return {};
    }
    void unmap_bar(std::uint8_t index) noexcept override { unmaps.push_back(index); }

    std::vector<Mapping> maps;
    std::vector<std::uint8_t> unmaps;
    std::uint64_t refuse = 1;
};

constexpr PciIds IDS { .vendor = 0x1234,
    .device = 0x5678,
    .revision = 2,
    .class_code = 0x0a0b0c,
    .subsystem_vendor = 0x1111,
    .subsystem = 0x2222,
    .interrupt_pin = 1 };

std::uint32_t rd(const ConfigSpace& c, std::uint32_t off, std::size_t width)
{
    std::uint32_t v = 0;
    c.read(off, std::as_writable_bytes(std::span(&v, 1)).first(width));
    return v;
}

void wr(ConfigSpace& c, std::uint32_t off, std::size_t width, std::uint32_t v)
{
    c.write(off, std::as_bytes(std::span(&v, 1)).first(width));
}

struct Fixture {
    Fixture()
    {
        config.set_bar(0, BarSpec { BarKind::mem64, 0x4000, false });
        config.set_bar(2, BarSpec { BarKind::mem32, 0x1000, true });
        config.set_bar(3, BarSpec { BarKind::io, 0x20, false });
        config.attach(
            mapper, [this](std::uint8_t i, std::optional<std::uint64_t> base) { moved.emplace_back(i, base); });
    }
    ConfigSpace config { IDS };
    RecordingMapper mapper;
    std::vector<std::pair<std::uint8_t, std::optional<std::uint64_t>>> moved;
};

} // namespace

TEST_CASE("the header carries the IDs, class code and interrupt pin, read-only", "[pci][config]")
{
    ConfigSpace c(IDS);

    wr(c, VENDOR_ID, 4, 0xffff'ffff);
    wr(c, REVISION_ID, 4, 0xffff'ffff);
    wr(c, INTERRUPT_PIN, 1, 4);

    CHECK(rd(c, VENDOR_ID, 2) == 0x1234);
    CHECK(rd(c, DEVICE_ID, 2) == 0x5678);
    CHECK(rd(c, REVISION_ID, 4) == 0x0a0b0c02);
    CHECK(rd(c, SUBSYSTEM_VENDOR_ID, 4) == 0x2222'1111);
    CHECK(rd(c, HEADER_TYPE, 1) == 0);
    CHECK(rd(c, INTERRUPT_PIN, 1) == 1);
}

TEST_CASE("only the implemented command bits, the cache line size and the interrupt line are writable", "[pci][config]")
{
    ConfigSpace c(IDS);

    wr(c, COMMAND, 4, 0xffff'ffff); // status is read-only
    wr(c, CACHE_LINE_SIZE, 1, 0x10);
    wr(c, INTERRUPT_LINE, 1, 0x0b);
    wr(c, EXPANSION_ROM, 4, 0xffff'ffff);

    CHECK(rd(c, COMMAND, 2) == (COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE));
    CHECK(rd(c, STATUS, 2) == 0);
    CHECK(rd(c, CACHE_LINE_SIZE, 1) == 0x10);
    CHECK(rd(c, INTERRUPT_LINE, 1) == 0x0b);
    CHECK(rd(c, EXPANSION_ROM, 4) == 0);
}

TEST_CASE("writing all-ones to a 32-bit memory BAR reads back its size mask and type bits", "[pci][config]")
{
    Fixture f;

    wr(f.config, BAR0 + 8, 4, 0xffff'ffff);

    CHECK(rd(f.config, BAR0 + 8, 4) == (0xffff'f000U | BAR_MEM_PREFETCHABLE));
}

TEST_CASE("a 64-bit BAR is sized and placed through its two halves", "[pci][config]")
{
    Fixture f;

    wr(f.config, BAR0, 4, 0xffff'ffff);
    wr(f.config, BAR0 + 4, 4, 0xffff'ffff);
    const std::uint32_t low = rd(f.config, BAR0, 4);
    const std::uint32_t high = rd(f.config, BAR0 + 4, 4);
    wr(f.config, BAR0, 4, 0x0000'8000);
    wr(f.config, BAR0 + 4, 4, 0x0000'0012);

    CHECK(low == (0xffff'c000U | BAR_MEM_TYPE_64));
    CHECK(high == 0xffff'ffffU);
    CHECK(f.config.bar_address(0) == 0x12'0000'8000);
    CHECK(rd(f.config, BAR0, 4) == (0x8000U | BAR_MEM_TYPE_64));
}

TEST_CASE("an I/O BAR keeps bit 0 set and its low bits clear", "[pci][config]")
{
    Fixture f;

    wr(f.config, BAR0 + 12, 4, 0xffff'ffff);

    CHECK(rd(f.config, BAR0 + 12, 4) == (0xffff'ffe0U | BAR_IO_SPACE));
}

TEST_CASE("unimplemented BARs read zero whatever is written, so sizing finds nothing", "[pci][config]")
{
    Fixture f;

    wr(f.config, BAR0 + 16, 4, 0xffff'ffff);
    wr(f.config, BAR0 + 20, 4, 0xffff'ffff);

    CHECK(rd(f.config, BAR0 + 16, 4) == 0);
    CHECK(rd(f.config, BAR0 + 20, 4) == 0);
}

TEST_CASE("an address written to a BAR keeps only the bits above its size", "[pci][config]")
{
    Fixture f;

    wr(f.config, BAR0 + 8, 4, 0xc000'1234);

    CHECK(f.config.bar_address(2) == 0xc000'1000);
}

TEST_CASE("a BAR decodes once memory space is enabled and stops when it is disabled", "[pci][config]")
{
    Fixture f;
    f.config.set_bar_address(2, 0xc000'0000);
    REQUIRE(f.mapper.maps.empty());

    wr(f.config, COMMAND, 2, COMMAND_MEMORY);
    REQUIRE(f.mapper.maps.size() == 1);
    CHECK(f.mapper.maps[0].index == 2);
    CHECK(f.mapper.maps[0].base == 0xc000'0000);
    CHECK(f.mapper.maps[0].size == 0x1000);
    CHECK(f.config.mapped_bar(2) == std::optional<std::uint64_t>(0xc000'0000));

    wr(f.config, COMMAND, 2, 0);
    CHECK(f.mapper.unmaps == std::vector<std::uint8_t> { 2 });
    CHECK_FALSE(f.config.mapped_bar(2));
    REQUIRE(f.moved.size() == 2);
    CHECK(f.moved[1].second == std::nullopt);
}

TEST_CASE("an I/O BAR decodes with the I/O enable bit, not the memory one", "[pci][config]")
{
    Fixture f;
    f.config.set_bar_address(3, 0x1000);

    wr(f.config, COMMAND, 2, COMMAND_MEMORY);
    CHECK(f.mapper.maps.empty());

    wr(f.config, COMMAND, 2, COMMAND_IO);
    REQUIRE(f.mapper.maps.size() == 1);
    CHECK(f.mapper.maps[0].kind == BarKind::io);
}

TEST_CASE("moving a decoding BAR unmaps it, maps it at the new address and reports the move", "[pci][config]")
{
    Fixture f;
    f.config.set_bar_address(2, 0xc000'0000);
    wr(f.config, COMMAND, 2, COMMAND_MEMORY);

    wr(f.config, BAR0 + 8, 4, 0xc010'0000);

    REQUIRE(f.mapper.maps.size() == 2);
    CHECK(f.mapper.maps[1].base == 0xc010'0000);
    CHECK(f.mapper.unmaps == std::vector<std::uint8_t> { 2 });
    CHECK(f.moved.back() == std::pair<std::uint8_t, std::optional<std::uint64_t>>(2, 0xc010'0000));
}

TEST_CASE("a BAR at address 0 does not decode: it is unassigned", "[pci][config]")
{
    Fixture f;

    wr(f.config, COMMAND, 2, COMMAND_MEMORY);

    CHECK(f.mapper.maps.empty());
    CHECK_FALSE(f.config.decoded_bar(0));
}

TEST_CASE("a BAR the mapper refuses does not decode, and decodes once moved elsewhere", "[pci][config]")
{
    Fixture f;
    f.mapper.refuse = 0xd000'0000;
    wr(f.config, COMMAND, 2, COMMAND_MEMORY);

    wr(f.config, BAR0 + 8, 4, 0xd000'0000);
    CHECK_FALSE(f.config.mapped_bar(2));
    CHECK(f.config.decoded_bar(2) == std::optional<std::uint64_t>(0xd000'0000));

    wr(f.config, BAR0 + 8, 4, 0xc000'0000);
    CHECK(f.config.mapped_bar(2) == std::optional<std::uint64_t>(0xc000'0000));
}

TEST_CASE("capabilities are chained from the pointer at 0x34, DWORD aligned, with the list bit set", "[pci][config]")
{
    ConfigSpace c(IDS);
    const std::array<std::uint8_t, 6> a { 0x09, 0xee, 6, 1, 2, 3 };
    const std::array<std::uint8_t, 3> b { 0x11, 0xee, 7 };

    const auto first = c.add_capability(a);
    const auto second = c.add_capability(b);

    REQUIRE(first);
    REQUIRE(second);
    CHECK(*first == CAPABILITIES_START);
    CHECK(*second == CAPABILITIES_START + 8);
    CHECK((rd(c, STATUS, 2) & STATUS_CAPABILITIES) != 0);
    CHECK(rd(c, CAPABILITIES_POINTER, 1) == *first);
    CHECK(rd(c, *first + 1, 1) == *second);
    CHECK(rd(c, *second + 1, 1) == 0);
    CHECK(rd(c, *first + 2, 4) == 0x0302'0106);
}

TEST_CASE("capability bytes are read-only except where the capability says", "[pci][config]")
{
    ConfigSpace c(IDS);
    const std::array<std::uint8_t, 4> cap { 0x09, 0, 4, 0 };
    const std::array<std::uint8_t, 4> writable { 0xff, 0xff, 0, 0x0f };
    const auto at = c.add_capability(cap, writable);
    REQUIRE(at);

    wr(c, *at, 4, 0xffff'ffff);

    CHECK(rd(c, *at, 4) == 0x0f04'0009); // ID and next stay, byte 2 read-only, byte 3 low nibble
}

TEST_CASE("capabilities that do not fit the conventional space are refused", "[pci][config]")
{
    ConfigSpace c(IDS);
    const std::vector<std::uint8_t> big(0xb0, 0x09);

    CHECK(c.add_capability(big));
    CHECK_FALSE(c.add_capability(big));
}

TEST_CASE("the extended space reads zero (an empty extended capability list) and ignores writes", "[pci][config]")
{
    ConfigSpace c(IDS);

    wr(c, 0x100, 4, 0x1234'5678);

    CHECK(rd(c, 0x100, 4) == 0);
    CHECK(rd(c, 0xffc, 4) == 0);
}

TEST_CASE("the interrupt status bit follows what the device reports", "[pci][config]")
{
    ConfigSpace c(IDS);

    c.set_interrupt_status(true);
    const std::uint32_t on = rd(c, STATUS, 2);
    c.set_interrupt_status(false);

    CHECK((on & STATUS_INTERRUPT) != 0);
    CHECK((rd(c, STATUS, 2) & STATUS_INTERRUPT) == 0);
}

TEST_CASE("bytes past the 4 KiB configuration space read as all ones and are not written", "[pci][config]")
{
    ConfigSpace c(IDS);

    wr(c, 0xffe, 4, 0x1234'5678);

    CHECK(rd(c, 0xffe, 4) == 0xffff'0000);
}
