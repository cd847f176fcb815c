// SPDX-License-Identifier: Apache-2.0
#include <array>
#include <cstdint>
#include <limits>

#include <catch2/catch.hpp>

#include "vmm/memory/guest_memory.hpp"

using namespace vmm;

namespace {

// Two regions with a hole between them, as on a real machine.
GuestMemory two_regions()
{
    const std::array<MemoryRegionSpec, 2> specs { { { GuestAddress { 0 }, 0x10000 },
        { GuestAddress { 0x20000 }, 0x10000 } } };
    auto mem = GuestMemory::create(specs);
    REQUIRE(mem);
    return std::move(mem).value();
}

} // namespace

TEST_CASE("a value written to guest memory reads back at the same address", "[memory]")
{
    auto mem = two_regions();
    REQUIRE(mem.write_obj<std::uint32_t>(GuestAddress { 0x20010 }, 0xdeadbeef));
    auto v = mem.read_obj<std::uint32_t>(GuestAddress { 0x20010 });
    REQUIRE(v);
    CHECK(*v == 0xdeadbeef);
}

TEST_CASE("a range ending exactly at the end of a region is accepted and one byte more is not", "[memory]")
{
    auto mem = two_regions();
    CHECK(mem.contains(GuestAddress { 0xfff0 }, 16));
    CHECK_FALSE(mem.contains(GuestAddress { 0xfff0 }, 17));
    CHECK(mem.contains(GuestAddress { 0x10000 }, 0));
}

TEST_CASE("a range in the hole or spanning it is rejected", "[memory]")
{
    auto mem = two_regions();
    CHECK_FALSE(mem.contains(GuestAddress { 0x18000 }, 1));
    CHECK_FALSE(mem.contains(GuestAddress { 0xf000 }, 0x12000));
    std::array<std::byte, 8> buf {};
    CHECK_FALSE(mem.read(GuestAddress { 0x1fffc }, buf));
}

TEST_CASE("an address plus length that wraps 2^64 is rejected without overflow", "[memory]")
{
    auto mem = two_regions();
    const auto max = std::numeric_limits<std::uint64_t>::max();
    CHECK_FALSE(mem.contains(GuestAddress { 0x20000 }, max));
    CHECK_FALSE(mem.contains(GuestAddress { max }, 2));
    CHECK_FALSE(mem.contains(GuestAddress { 0x100 }, max - 0x80));
}

TEST_CASE("overlapping or unaligned region specs are refused", "[memory]")
{
    const std::array<MemoryRegionSpec, 2> overlap { { { GuestAddress { 0 }, 0x2000 },
        { GuestAddress { 0x1000 }, 0x1000 } } };
    CHECK_FALSE(GuestMemory::create(overlap));
    const std::array<MemoryRegionSpec, 1> unaligned { { { GuestAddress { 0x800 }, 0x1000 } } };
    CHECK_FALSE(GuestMemory::create(unaligned));
    const std::array<MemoryRegionSpec, 1> empty { { { GuestAddress { 0 }, 0 } } };
    CHECK_FALSE(GuestMemory::create(empty));
}

TEST_CASE("memfd-backed memory exposes its fd for sharing", "[memory]")
{
    const std::array<MemoryRegionSpec, 1> specs { { { GuestAddress { 0 }, 0x4000 } } };
    auto mem = GuestMemory::create(specs, MemoryOptions { .memfd = true });
    REQUIRE(mem);
    CHECK(mem->regions()[0].fd() >= 0);
    CHECK(mem->total_size() == 0x4000);
}

TEST_CASE("guest RAM starts on a 2 MiB boundary of the host's address space, guards around it", "[memory]")
{
    // KVM maps guest memory with 2 MiB pages only where host and guest addresses agree modulo
    // 2 MiB; RAM starts at a 2 MiB multiple in guest-physical space.
    constexpr std::uint64_t MiB = 1 << 20;
    const std::array<MemoryRegionSpec, 2> specs { { { GuestAddress { 0 }, 8 * MiB },
        { GuestAddress { 64 * MiB }, 4 * MiB } } };
    auto mem = GuestMemory::create(specs);
    REQUIRE(mem);
    for (const auto& r : mem->regions()) {
        CHECK(reinterpret_cast<std::uintptr_t>(r.host()) % (2 * MiB) == 0);
        // The whole region is usable, end to end.
        REQUIRE(mem->write_obj<std::uint8_t>(r.base(), 1));
        REQUIRE(mem->write_obj<std::uint8_t>(GuestAddress { r.base().raw + r.size() - 1 }, 2));
    }
}
