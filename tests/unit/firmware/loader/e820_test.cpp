// SPDX-License-Identifier: Apache-2.0
// build_e820(): the map for small, hole-sized and above-4-GiB RAM layouts.
#include <array>
#include <vector>

#include <catch2/catch.hpp>

#include "arch/x86_64/e820.hpp"
#include "arch/x86_64/layout.hpp"
#include "firmware/loader/placement.hpp"
#include "tests/unit/firmware/loader/loader_test_support.hpp"

using namespace vmm;
using namespace vmm::x86;
using namespace vmm::test;

TEST_CASE("128 MiB of RAM gives low RAM, the reserved EBDA-to-1-MiB range and RAM above 1 MiB", "[loader][e820]")
{
    const auto mem = make_memory(128 * MiB);

    const auto map = build_e820(mem);

    const std::vector<E820Entry> expected {
        { 0, EBDA_START, E820_RAM },
        { EBDA_START, HIGH_MEMORY_START - EBDA_START, E820_RESERVED },
        { HIGH_MEMORY_START, 128 * MiB - HIGH_MEMORY_START, E820_RAM },
    };
    CHECK(map == expected);
}

TEST_CASE("3 GiB of RAM ends exactly where the 32-bit hole starts", "[loader][e820]")
{
    const auto mem = make_memory(3 * GiB);

    const auto map = build_e820(mem);

    const std::vector<E820Entry> expected {
        { 0, EBDA_START, E820_RAM },
        { EBDA_START, HIGH_MEMORY_START - EBDA_START, E820_RESERVED },
        { HIGH_MEMORY_START, MEM_32BIT_HOLE_START - HIGH_MEMORY_START, E820_RAM },
    };
    CHECK(map == expected);
}

TEST_CASE("5 GiB of RAM skips the 32-bit hole and continues at 4 GiB", "[loader][e820]")
{
    const auto mem = make_memory(5 * GiB);

    const auto map = build_e820(mem);

    const std::vector<E820Entry> expected {
        { 0, EBDA_START, E820_RAM },
        { EBDA_START, HIGH_MEMORY_START - EBDA_START, E820_RESERVED },
        { HIGH_MEMORY_START, MEM_32BIT_HOLE_START - HIGH_MEMORY_START, E820_RAM },
        { RAM_64BIT_START, 2 * GiB, E820_RAM },
    };
    CHECK(map == expected);
}

TEST_CASE("RAM placed inside the 32-bit hole is left out of the map", "[loader][e820]")
{
    const std::array<MemoryRegionSpec, 1> specs { { { GuestAddress { 0 }, MEM_32BIT_HOLE_START + 256 * MiB } } };
    auto mem = GuestMemory::create(specs);
    REQUIRE(mem);

    const auto map = build_e820(*mem);

    REQUIRE(map.size() == 3);
    CHECK(map.back().addr + map.back().size == MEM_32BIT_HOLE_START);
}

TEST_CASE("a reserved device range in the hole is listed in address order between the RAM entries",
    "[loader][e820]")
{
    const auto mem = make_memory(5 * GiB);
    const E820Entry ecam { PCI_ECAM_START, PCI_ECAM_BUS_SIZE, E820_RESERVED };

    const auto map = build_e820(mem, std::span(&ecam, 1));

    REQUIRE(map.size() == 5);
    CHECK(map[2].addr + map[2].size == MEM_32BIT_HOLE_START);
    CHECK(map[3] == ecam);
    CHECK(map[4].addr == RAM_64BIT_START);
}

TEST_CASE("a hot-plug region is mapped but left out of the e820 map and of boot RAM", "[loader][e820]")
{
    auto specs = ram_layout(128 * MiB);
    specs.push_back({ GuestAddress { 0x20'0000'0000 }, 256 * MiB, true });
    auto mem = GuestMemory::create(specs);
    REQUIRE(mem);
    CHECK(build_e820(*mem) == build_e820(make_memory(128 * MiB)));
    CHECK(mem->total_size() == 128 * MiB);
    CHECK(mem->ram_end().raw == 128 * MiB);
    CHECK(mem->contains(GuestAddress { 0x20'0000'0000 }, 256 * MiB)); // device DMA reaches it
    REQUIRE(mem->hotplug_region(GuestAddress { 0x20'0000'0000 }) != nullptr);
    CHECK(mem->hotplug_region(GuestAddress { 0 }) == nullptr);
    // The initrd never lands there, however large the ceiling.
    const auto at = place_initrd(*mem, MiB, HIGH_MEMORY_START, ~0ULL);
    REQUIRE(at);
    CHECK(*at < 128 * MiB);
    // Boot RAM after a hot-plug region is refused.
    specs[0] = { GuestAddress { 0 }, 256 * MiB, true };
    specs[1] = { GuestAddress { 0x4000'0000 }, 256 * MiB, false };
    CHECK_FALSE(GuestMemory::create(specs));
}
