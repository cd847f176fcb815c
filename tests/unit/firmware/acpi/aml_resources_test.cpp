// SPDX-License-Identifier: Apache-2.0
// Byte-exact tests of resource descriptors and ResourceTemplate (ACPI 6.4 §6.4).
#include <cstdint>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "firmware/acpi/aml_resources.hpp"

using namespace vmm::acpi::aml;
using Bytes = std::vector<std::uint8_t>;

TEST_CASE("an IO descriptor encodes 16-bit decode, range, alignment and length", "[acpi][aml]")
{
    CHECK(Io(0x3f8, 0x3f8, 1, 8).bytes() == Bytes { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08 });
    CHECK_FALSE(Io(0x3f9, 0x3f8, 1, 8).ok());
}

TEST_CASE("Memory32Fixed encodes read-write, base and length", "[acpi][aml]")
{
    CHECK(Memory32Fixed(true, 0xd0000000, 0x1000).bytes()
        == Bytes { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00 });
    CHECK_FALSE(Memory32Fixed(true, 0xffff'f000, 0x2000).ok());
    CHECK_FALSE(Memory32Fixed(true, 0x1000, 0).ok());
}

TEST_CASE("an extended interrupt encodes consumer, trigger, polarity and sharing flags", "[acpi][aml]")
{
    CHECK(Interrupt(Trigger::edge, Polarity::active_high, Sharing::exclusive, 4).bytes()
        == Bytes { 0x89, 0x06, 0x00, 0x03, 0x01, 0x04, 0x00, 0x00, 0x00 });
    CHECK(Interrupt(Trigger::level, Polarity::active_low, Sharing::shared, 0x1234).bytes()
        == Bytes { 0x89, 0x06, 0x00, 0x0d, 0x01, 0x34, 0x12, 0x00, 0x00 });
}

TEST_CASE("WordBusNumber encodes a produced, fixed bus range", "[acpi][aml]")
{
    CHECK(WordBusNumber(0, 0xff).bytes()
        == Bytes { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0xff, 0, 0, 0, 0x00, 0x01 });
}

TEST_CASE("DWordIO encodes an entire-range I/O window with its length", "[acpi][aml]")
{
    CHECK(DWordIo(0x0d00, 0xffff).bytes()
        == Bytes { 0x87, 0x17, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0, 0, 0x00, 0x0d, 0, 0, 0xff, 0xff, 0, 0, 0, 0,
            0, 0, 0x00, 0xf3, 0x00, 0x00 });
}

TEST_CASE("DWordMemory and QWordMemory encode cacheability and read-write", "[acpi][aml]")
{
    const Bytes d = DWordMemory(Cacheability::non_cacheable, true, 0xc000'0000, 0xcfff'ffff).bytes();
    CHECK(d
        == Bytes { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff, 0xff, 0xcf, 0,
            0, 0, 0, 0, 0, 0, 0x10 });
    const Bytes q = QWordMemory(Cacheability::prefetchable, true, 0x10'0000'0000, 0x1f'ffff'ffff).bytes();
    REQUIRE(q.size() == 46);
    CHECK(Bytes(q.begin(), q.begin() + 6) == Bytes { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x07 });
    CHECK(Bytes(q.begin() + 14, q.begin() + 22) == Bytes { 0, 0, 0, 0, 0x10, 0, 0, 0 }); // min
    CHECK(Bytes(q.begin() + 38, q.begin() + 46) == Bytes { 0, 0, 0, 0, 0x10, 0, 0, 0 }); // length
}

TEST_CASE("address windows that are inverted or as wide as the whole space are refused", "[acpi][aml]")
{
    CHECK_FALSE(DWordMemory(Cacheability::cacheable, true, 0x2000, 0x1000).ok());
    CHECK_FALSE(DWordMemory(Cacheability::cacheable, true, 0, 0xffff'ffff).ok());
    CHECK_FALSE(QWordMemory(Cacheability::cacheable, true, 0, ~std::uint64_t { 0 }).ok());
    CHECK_FALSE(WordBusNumber(1, 0).ok());
}

TEST_CASE("a resource template is a buffer ending in an end tag whose checksum zeroes the sum", "[acpi][aml]")
{
    const Bytes b = ResourceTemplate({ Io(0x3f8, 0x3f8, 1, 8) }).bytes();
    CHECK(b == Bytes { 0x11, 0x0d, 0x0a, 0x0a, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x79, 0x40 });
    const unsigned sum = std::accumulate(b.begin() + 4, b.end(), 0U);
    CHECK(sum % 256 == 0);
}

TEST_CASE("an invalid descriptor makes its resource template invalid", "[acpi][aml]")
{
    CHECK_FALSE(ResourceTemplate({ Io(0x3f8, 0x3f8, 1, 8), DWordIo(2, 1) }).ok());
}
