// SPDX-License-Identifier: Apache-2.0
// Byte-exact tests of the AML builder's encodings (ACPI 6.4 §20).
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "firmware/acpi/aml.hpp"

using namespace vmm::acpi::aml;
using Bytes = std::vector<std::uint8_t>;

TEST_CASE("PkgLength uses one byte up to 63 and two from 64", "[acpi][aml]")
{
    CHECK(encode_pkg_length(0) == Bytes { 0x00 });
    CHECK(encode_pkg_length(63) == Bytes { 0x3f });
    CHECK(encode_pkg_length(64) == Bytes { 0x40, 0x04 });
}

TEST_CASE("PkgLength uses two bytes up to 4095 and three from 4096", "[acpi][aml]")
{
    CHECK(encode_pkg_length(4095) == Bytes { 0x4f, 0xff });
    CHECK(encode_pkg_length(4096) == Bytes { 0x80, 0x00, 0x01 });
}

TEST_CASE("PkgLength uses three bytes up to 1048575 and four from 1048576", "[acpi][aml]")
{
    CHECK(encode_pkg_length(1048575) == Bytes { 0x8f, 0xff, 0xff });
    CHECK(encode_pkg_length(1048576) == Bytes { 0xc0, 0x00, 0x00, 0x01 });
}

TEST_CASE("PkgLength refuses values above 2^28 - 1", "[acpi][aml]")
{
    CHECK(encode_pkg_length(0x0fff'ffff) == Bytes { 0xcf, 0xff, 0xff, 0xff });
    CHECK_FALSE(encode_pkg_length(0x1000'0000).has_value());
}

TEST_CASE("a package whose length with one PkgLength byte would be 64 gets two bytes", "[acpi][aml]")
{
    // Buffer of n bytes: 0x11, PkgLength, BytePrefix n, data. Body = n + 2.
    const Bytes fits(60, 0xaa);
    const Buffer b60(fits);
    REQUIRE(b60.bytes().size() == 64);
    CHECK(b60.bytes()[1] == 0x3f); // 1 + 62 = 63

    const Bytes spills(61, 0xaa);
    const Buffer b61(spills);
    REQUIRE(b61.bytes().size() == 66);
    CHECK(b61.bytes()[1] == 0x41); // 2 + 63 = 65 = 0x041
    CHECK(b61.bytes()[2] == 0x04);
}

TEST_CASE("a package at 4095 bytes keeps two PkgLength bytes and one byte more takes three", "[acpi][aml]")
{
    // Body = n + 3 (WordPrefix size). 4090 + 3 + 2 = 4095; 4091 + 3 + 3 = 4097.
    const Buffer fits(Bytes(4090, 0));
    CHECK(Bytes(fits.bytes().begin() + 1, fits.bytes().begin() + 3) == Bytes { 0x4f, 0xff });
    const Buffer spills(Bytes(4091, 0));
    CHECK(Bytes(spills.bytes().begin() + 1, spills.bytes().begin() + 4) == Bytes { 0x81, 0x00, 0x01 });
}

TEST_CASE(
    "a package at 1048575 bytes keeps three PkgLength bytes and one byte more takes four", "[acpi][aml]")
{
    // Body = n + 5 (DWordPrefix size). 1048567 + 5 + 3 = 1048575; 1048568 + 5 + 4 = 1048577.
    const Buffer fits(Bytes(1048567, 0));
    CHECK(Bytes(fits.bytes().begin() + 1, fits.bytes().begin() + 4) == Bytes { 0x8f, 0xff, 0xff });
    const Buffer spills(Bytes(1048568, 0));
    CHECK(Bytes(spills.bytes().begin() + 1, spills.bytes().begin() + 5) == Bytes { 0xc1, 0x00, 0x00, 0x01 });
}

TEST_CASE("integers use Zero, One and Ones and otherwise the narrowest prefix", "[acpi][aml]")
{
    CHECK(Integer(0).bytes() == Bytes { 0x00 });
    CHECK(Integer(1).bytes() == Bytes { 0x01 });
    CHECK(Integer(~std::uint64_t { 0 }).bytes() == Bytes { 0xff });
    CHECK(Integer(2).bytes() == Bytes { 0x0a, 0x02 });
    CHECK(Integer(0xff).bytes() == Bytes { 0x0a, 0xff });
    CHECK(Integer(0x100).bytes() == Bytes { 0x0b, 0x00, 0x01 });
    CHECK(Integer(0xffff).bytes() == Bytes { 0x0b, 0xff, 0xff });
    CHECK(Integer(0x10000).bytes() == Bytes { 0x0c, 0x00, 0x00, 0x01, 0x00 });
    CHECK(Integer(0xffff'ffff).bytes() == Bytes { 0x0c, 0xff, 0xff, 0xff, 0xff });
    CHECK(Integer(0x1'0000'0000).bytes() == Bytes { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 });
    CHECK(Integer(0xffff'ffff'ffff'fffe).bytes()
        == Bytes { 0x0e, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff });
    CHECK(Zero().bytes() == Bytes { 0x00 });
    CHECK(One().bytes() == Bytes { 0x01 });
    CHECK(Ones().bytes() == Bytes { 0xff });
}

TEST_CASE("EISAID PNP0501 is the DWord 0x0105D041", "[acpi][aml]")
{
    CHECK(eisa_id_value("PNP0501") == 0x0105D041U);
    CHECK(eisa_id_value("PNP0C0C") == 0x0C0CD041U);
    CHECK(EisaId("PNP0501").bytes() == Bytes { 0x0c, 0x41, 0xd0, 0x05, 0x01 });
}

TEST_CASE("a malformed EISA ID makes the term invalid", "[acpi][aml]")
{
    CHECK_FALSE(eisa_id_value("pnp0501").has_value());
    CHECK_FALSE(eisa_id_value("PNP050").has_value());
    CHECK_FALSE(eisa_id_value("PNP05G1").has_value());
    CHECK_FALSE(EisaId("PNP05G1").ok());
}

TEST_CASE("name strings encode root, parent prefixes, dual and multi-segment paths", "[acpi][aml]")
{
    CHECK(encode_name_string("_HID") == Bytes { '_', 'H', 'I', 'D' });
    CHECK(encode_name_string("COM") == Bytes { 'C', 'O', 'M', '_' });
    CHECK(encode_name_string("\\") == Bytes { 0x5c, 0x00 });
    CHECK(encode_name_string("^PARN") == Bytes { 0x5e, 'P', 'A', 'R', 'N' });
    CHECK(encode_name_string("\\_SB.COM1") == Bytes { 0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1' });
    CHECK(encode_name_string("\\_SB.PCI0.S08")
        == Bytes { 0x5c, 0x2f, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'S', '0', '8', '_' });
}

TEST_CASE("invalid names are refused", "[acpi][aml]")
{
    CHECK_FALSE(encode_name_string("").has_value());
    CHECK_FALSE(encode_name_string("com1").has_value());
    CHECK_FALSE(encode_name_string("1COM").has_value());
    CHECK_FALSE(encode_name_string("COMPORT").has_value());
    CHECK_FALSE(encode_name_string("\\_SB..COM1").has_value());
    CHECK_FALSE(encode_name_string("\\_SB.").has_value());
}

TEST_CASE("a Name with a string encodes NameOp, the NameSeg and a NUL-terminated string", "[acpi][aml]")
{
    CHECK(Name("_HID", String("ACPI0013")).bytes()
        == Bytes { 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00 });
}

TEST_CASE("a string with a non-ASCII byte makes the term invalid", "[acpi][aml]")
{
    CHECK_FALSE(String("caf\xc3\xa9").ok());
    CHECK(String("plain").ok());
}

TEST_CASE("a simple method encodes its length, name, flags and body", "[acpi][aml]")
{
    CHECK(Method("_STA", 0, false, { Return(Integer(0x0f)) }).bytes()
        == Bytes { 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f });
}

TEST_CASE("a serialized method with one argument sets ArgCount 1 and the serialize flag", "[acpi][aml]")
{
    const Bytes b = Method("_EVT", 1, true, {}).bytes();
    CHECK(b == Bytes { 0x14, 0x06, '_', 'E', 'V', 'T', 0x09 });
    CHECK_FALSE(Method("_EVT", 8, false, {}).ok());
}

TEST_CASE("Scope and Device wrap their children in a PkgLength", "[acpi][aml]")
{
    CHECK(Scope("\\_SB", {}).bytes() == Bytes { 0x10, 0x06, 0x5c, '_', 'S', 'B', '_' });
    CHECK(Device("COM1", { Name("_UID", Zero()) }).bytes()
        == Bytes { 0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x00 });
}

TEST_CASE("an invalid name deep inside a device invalidates the device", "[acpi][aml]")
{
    const Scope s("\\_SB", { Device("COM1", { Name("bad!", One()) }) });
    CHECK_FALSE(s.ok());
    CHECK(s.error().find("bad!") != std::string::npos);
}

TEST_CASE("packages count their elements and refuse more than 255", "[acpi][aml]")
{
    CHECK(Package({ One(), Zero() }).bytes() == Bytes { 0x12, 0x04, 0x02, 0x01, 0x00 });
    CHECK_FALSE(Package(TermList(256, Zero())).ok());
}

TEST_CASE("locals and arguments map to their opcodes and out-of-range ones are invalid", "[acpi][aml]")
{
    CHECK(Local(0).bytes() == Bytes { 0x60 });
    CHECK(Local(7).bytes() == Bytes { 0x67 });
    CHECK(Arg(0).bytes() == Bytes { 0x68 });
    CHECK(Arg(6).bytes() == Bytes { 0x6e });
    CHECK_FALSE(Local(8).ok());
    CHECK_FALSE(Arg(7).ok());
}

TEST_CASE("Store, And, LEqual, Notify, If and Else encode their operands in order", "[acpi][aml]")
{
    CHECK(Store(NamePath("GDAT"), Local(0)).bytes() == Bytes { 0x70, 'G', 'D', 'A', 'T', 0x60 });
    CHECK(And(Local(0), One()).bytes() == Bytes { 0x7b, 0x60, 0x01, 0x00 });
    CHECK(LEqual(Arg(0), One()).bytes() == Bytes { 0x93, 0x68, 0x01 });
    CHECK(Notify(NamePath("PWRB"), Integer(0x80)).bytes() == Bytes { 0x86, 'P', 'W', 'R', 'B', 0x0a, 0x80 });
    CHECK(If(LEqual(Arg(0), One()), { Return(One()) }).bytes()
        == Bytes { 0xa0, 0x06, 0x93, 0x68, 0x01, 0xa4, 0x01 });
    CHECK(Else({ Return(Zero()) }).bytes() == Bytes { 0xa1, 0x03, 0xa4, 0x00 });
}

TEST_CASE("an I/O operation region encodes its space, offset and length", "[acpi][aml]")
{
    CHECK(OperationRegion("GDST", RegionSpace::system_io, Integer(0x3c4), One()).bytes()
        == Bytes { 0x5b, 0x80, 'G', 'D', 'S', 'T', 0x01, 0x0b, 0xc4, 0x03, 0x01 });
    CHECK(OperationRegion("MMIO", RegionSpace::system_memory, Integer(0xd0000000), Integer(0x1000)).bytes()
        == Bytes { 0x5b, 0x80, 'M', 'M', 'I', 'O', 0x00, 0x0c, 0x00, 0x00, 0x00, 0xd0, 0x0b, 0x00, 0x10 });
}

TEST_CASE("a field encodes access and update rules, named units and reserved gaps", "[acpi][aml]")
{
    CHECK(Field("GDST", FieldAccess::byte, FieldUpdate::write_as_zeros, { { "GDAT", 8 } }).bytes()
        == Bytes { 0x5b, 0x81, 0x0b, 'G', 'D', 'S', 'T', 0x41, 'G', 'D', 'A', 'T', 0x08 });
    CHECK(Field("REGS", FieldAccess::dword, FieldUpdate::preserve, { { "", 32 }, { "STAT", 32 } }).bytes()
        == Bytes { 0x5b, 0x81, 0x0d, 'R', 'E', 'G', 'S', 0x03, 0x00, 0x20, 'S', 'T', 'A', 'T', 0x20 });
}

TEST_CASE("a field unit with a path, a bad name or zero width makes the field invalid", "[acpi][aml]")
{
    CHECK_FALSE(Field("GDST", FieldAccess::byte, FieldUpdate::preserve, { { "A.B", 8 } }).ok());
    CHECK_FALSE(Field("GDST", FieldAccess::byte, FieldUpdate::preserve, { { "gdat", 8 } }).ok());
    CHECK_FALSE(Field("GDST", FieldAccess::byte, FieldUpdate::preserve, { { "GDAT", 0 } }).ok());
}

TEST_CASE("ToUUID byte order: the first three groups little-endian, the rest as written", "[acpi][aml]")
{
    const auto b = uuid_bytes("33db4d5b-1ff7-401c-9657-7441c03dd766");

    REQUIRE(b);
    CHECK(*b == std::vector<std::uint8_t> { 0x5b, 0x4d, 0xdb, 0x33, 0xf7, 0x1f, 0x1c, 0x40, 0x96, 0x57, 0x74, 0x41,
        0xc0, 0x3d, 0xd7, 0x66 });
    CHECK_FALSE(uuid_bytes("33db4d5b-1ff7-401c-9657-7441c03dd76"));
    CHECK_FALSE(uuid_bytes("33db4d5b-1ff7-401c-9657+7441c03dd766"));
    CHECK_FALSE(uuid_bytes("33db4d5b-1ff7-401c-9657-7441c03dd76g"));
}

TEST_CASE("CreateDWordField, Or and LNot encode as their opcodes and operands", "[acpi][aml]")
{
    const CreateDWordField f(Arg(3), Integer(4), "CDW2");
    const Or o(Local(0), Integer(8), Local(0));
    const LNot n { One() };

    CHECK(f.bytes() == std::vector<std::uint8_t> { 0x8a, 0x6b, 0x0a, 0x04, 'C', 'D', 'W', '2' });
    CHECK(o.bytes() == std::vector<std::uint8_t> { 0x7d, 0x60, 0x0a, 0x08, 0x60 });
    CHECK(n.bytes() == std::vector<std::uint8_t> { 0x92, 0x01 });
    CHECK_FALSE(Uuid("nope").ok());
}
