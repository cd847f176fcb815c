// SPDX-License-Identifier: Apache-2.0
// Tests for the minimal i8042: the reset line and the answers Linux's probe needs.
#include <array>
#include <cstdint>

#include <catch2/catch.hpp>

#include "vmm/devices/i8042.hpp"

using namespace vmm;

namespace {

constexpr std::uint64_t DATA = I8042::DATA_OFFSET;
constexpr std::uint64_t COMMAND = I8042::COMMAND_OFFSET;
constexpr std::uint8_t STR_OBF = 0x01, STR_IBF = 0x02, STR_CMDDAT = 0x08, STR_KEYLOCK = 0x10,
                       STR_AUXDATA = 0x20;

struct Kbc {
    int resets = 0;
    I8042 dev { [this] { ++resets; } };

    std::uint8_t in(std::uint64_t offset)
    {
        std::array<std::byte, 1> d { std::byte { 0x5a } };
        dev.read(offset, d);
        return static_cast<std::uint8_t>(d[0]);
    }
    void out(std::uint64_t offset, std::uint8_t v)
    {
        const std::array<std::byte, 1> d { std::byte { v } };
        dev.write(offset, d);
    }
};

} // namespace

TEST_CASE("command 0xfe pulses the reset line and calls on_reset", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0xfe);
    CHECK(k.resets == 1);
}

TEST_CASE("repeated reset requests call on_reset only once", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0xfe);
    k.out(COMMAND, 0xfe);
    k.out(COMMAND, 0xd1);
    k.out(DATA, 0x00);
    CHECK(k.resets == 1);
}

TEST_CASE("a pulse command that leaves bit 0 out of its mask does not reset", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0xff);
    k.out(COMMAND, 0xfd);
    CHECK(k.resets == 0);
}

TEST_CASE("writing the output port with the reset bit clear resets, with it set does not", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0xd1);
    k.out(DATA, 0xdf); // A20 on, reset line high: what boot code writes
    CHECK(k.resets == 0);
    k.out(COMMAND, 0xd1);
    k.out(DATA, 0xde);
    CHECK(k.resets == 1);
}

TEST_CASE("0xfe written to the data port is a keyboard byte, not a reset", "[i8042]")
{
    Kbc k;
    k.out(DATA, 0xfe);
    CHECK(k.resets == 0);
    CHECK((k.in(COMMAND)&STR_OBF) == 0); // no keyboard answers it
}

TEST_CASE("the controller self-test answers 0x55 through the data port", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0xaa);
    CHECK((k.in(COMMAND)&STR_OBF) != 0);
    CHECK(k.in(DATA) == 0x55);
    CHECK((k.in(COMMAND)&STR_OBF) == 0);
}

TEST_CASE("the command byte reads back what command 0x60 wrote", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0x60);
    k.out(DATA, 0x47);
    k.out(COMMAND, 0x20);
    CHECK(k.in(DATA) == 0x47);
}

TEST_CASE("port disable and enable commands set and clear the command byte's disable bits", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0xad); // keyboard off
    k.out(COMMAND, 0xa8); // mouse on
    k.out(COMMAND, 0x20);
    const auto ctr = k.in(DATA);
    CHECK((ctr & 0x10) != 0);
    CHECK((ctr & 0x20) == 0);
    k.out(COMMAND, 0xae);
    k.out(COMMAND, 0xa7);
    k.out(COMMAND, 0x20);
    const auto ctr2 = k.in(DATA);
    CHECK((ctr2 & 0x10) == 0);
    CHECK((ctr2 & 0x20) != 0);
}

TEST_CASE("the status never shows the input buffer full and reports the keyboard unlocked", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0x60);
    CHECK((k.in(COMMAND)&STR_IBF) == 0);
    CHECK((k.in(COMMAND)&STR_CMDDAT) != 0);
    k.out(DATA, 0x45);
    CHECK((k.in(COMMAND)&STR_IBF) == 0);
    CHECK((k.in(COMMAND)&STR_CMDDAT) == 0);
    CHECK((k.in(COMMAND)&STR_KEYLOCK) != 0);
}

TEST_CASE("the AUX loopback answers at once without the AUX bit, and the AUX test finds no device", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0xd3);
    k.out(DATA, 0x5a);
    const auto status = k.in(COMMAND);
    CHECK((status & STR_OBF) != 0);
    CHECK((status & STR_AUXDATA) == 0);
    CHECK(k.in(DATA) == 0x5a);
    k.out(COMMAND, 0xa9);
    const auto result = k.in(DATA);
    CHECK(result != 0x00);
    CHECK(result != 0xfa);
    CHECK(result != 0xff);
}

TEST_CASE("the keyboard interface test reports no error", "[i8042]")
{
    Kbc k;
    k.out(COMMAND, 0xab);
    CHECK(k.in(DATA) == 0x00);
}

TEST_CASE("wide accesses and offsets other than 0x60 and 0x64 are ignored", "[i8042]")
{
    Kbc k;
    const std::array<std::byte, 2> wide { std::byte { 0xfe }, std::byte { 0xfe } };
    k.dev.write(COMMAND, wide);
    k.out(2, 0xfe);
    std::array<std::byte, 1> d { std::byte { 0 } };
    k.dev.read(1, d);
    CHECK(k.resets == 0);
    CHECK(d[0] == std::byte { 0xff });
}
