// SPDX-License-Identifier: Apache-2.0
// Tests for parse_size: units, hex, and every kind of malformed size.
#include <catch2/catch.hpp>

#include "test_support.hpp"
#include "vmm/config/config.hpp"

using namespace vmm::config;
using Catch::Matchers::Contains;
using vmm::config::test::error_text;

TEST_CASE("sizes with binary unit suffixes in any case parse to bytes", "[config]")
{
    CHECK(parse_size("512M").value() == 512 * MiB);
    CHECK(parse_size("512m").value() == 512 * MiB);
    CHECK(parse_size("512MiB").value() == 512 * MiB);
    CHECK(parse_size("512mb").value() == 512 * MiB);
    CHECK(parse_size("64k").value() == 64 * KiB);
    CHECK(parse_size("2G").value() == 2 * GiB);
    CHECK(parse_size("1TiB").value() == TiB);
}

TEST_CASE("a size without unit or with B is a byte count", "[config]")
{
    CHECK(parse_size("536870912").value() == 512 * MiB);
    CHECK(parse_size("4096B").value() == 4096);
    CHECK(parse_size("0").value() == 0);
}

TEST_CASE("a 0x size is a hexadecimal byte count", "[config]")
{
    CHECK(parse_size("0x20000000").value() == 512 * MiB);
    CHECK(parse_size("0X1f").value() == 31);
}

TEST_CASE("a size with an unknown unit is refused and the unit named", "[config]")
{
    const auto r = parse_size("12Q");
    REQUIRE_FALSE(r);
    CHECK_THAT(error_text(r), Contains("unknown unit \"Q\""));
    CHECK_FALSE(parse_size("12MiBs"));
    CHECK_FALSE(parse_size("12 M"));
}

TEST_CASE("a negative size is refused as negative", "[config]")
{
    const auto r = parse_size("-1");
    REQUIRE_FALSE(r);
    CHECK_THAT(error_text(r), Contains("must not be negative"));
}

TEST_CASE("0x without digits is refused", "[config]")
{
    const auto r = parse_size("0x");
    REQUIRE_FALSE(r);
    CHECK_THAT(error_text(r), Contains("no digits after \"0x\""));
}

TEST_CASE("a hex size with a unit is refused because 0x1B would be ambiguous", "[config]")
{
    CHECK_FALSE(parse_size("0x10M"));
}

TEST_CASE("a size that overflows 64 bits is refused as too large", "[config]")
{
    const auto with_unit = parse_size("99999999999999999999G");
    REQUIRE_FALSE(with_unit);
    CHECK_THAT(error_text(with_unit), Contains("too large"));
    CHECK_FALSE(parse_size("16777216T"));
    CHECK_FALSE(parse_size("18446744073709551616"));
    CHECK_FALSE(parse_size("0x10000000000000000"));
    CHECK(parse_size("18446744073709551615").value() == 18446744073709551615ULL);
}

TEST_CASE("empty and fractional and unit-only sizes are refused", "[config]")
{
    CHECK_FALSE(parse_size(""));
    CHECK_THAT(error_text(parse_size("1.5G")), Contains("fractions are not accepted"));
    CHECK_FALSE(parse_size("M"));
}
