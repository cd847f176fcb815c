// SPDX-License-Identifier: Apache-2.0
// Tests for the test-exit, POST and pvpanic ports.
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "vmm/devices/debug_ports.hpp"

using namespace vmm;

namespace {

std::array<std::byte, 1> byte_of(std::uint8_t v)
{
    return { std::byte { v } };
}

} // namespace

TEST_CASE("a byte written to the test-exit port becomes the exit code", "[debug-ports]")
{
    std::optional<std::uint8_t> code;
    TestExitPort port([&code](std::uint8_t c) { code = c; });
    port.write(0, byte_of(42));
    CHECK(code == std::optional<std::uint8_t>(42));
}

TEST_CASE("a wide test-exit write passes only its low byte through", "[debug-ports]")
{
    std::optional<std::uint8_t> code;
    TestExitPort port([&code](std::uint8_t c) { code = c; });
    const std::array<std::byte, 4> value { std::byte { 0x07 }, std::byte { 0x01 }, std::byte { 0x00 },
        std::byte { 0x80 } }; // 0x80000107, little-endian
    port.write(0, value);
    CHECK(code == std::optional<std::uint8_t>(0x07));
}

TEST_CASE("a test-exit write off the port's base is not an exit", "[debug-ports]")
{
    int calls = 0;
    TestExitPort port([&calls](std::uint8_t) { ++calls; });
    port.write(1, byte_of(1));
    CHECK(calls == 0);
}

TEST_CASE("only the first test-exit write reports an exit code", "[debug-ports]")
{
    std::vector<std::uint8_t> codes;
    TestExitPort port([&codes](std::uint8_t c) { codes.push_back(c); });
    port.write(0, byte_of(1));
    port.write(0, byte_of(2));
    CHECK(codes == std::vector<std::uint8_t> { 1 });
}

TEST_CASE("test-exit reads return zero", "[debug-ports]")
{
    TestExitPort port([](std::uint8_t) {});
    std::array<std::byte, 4> d { std::byte { 0xff }, std::byte { 0xff }, std::byte { 0xff },
        std::byte { 0xff } };
    port.read(0, d);
    CHECK(d == std::array<std::byte, 4> {});
}

TEST_CASE("each POST write is recorded with its value and time, and reported", "[debug-ports]")
{
    std::vector<std::uint8_t> reported;
    PostPort port([&reported](std::uint8_t v) { reported.push_back(v); });
    const auto before = std::chrono::steady_clock::now();
    port.write(0, byte_of(0x11));
    port.write(0, byte_of(0x22));
    const auto after = std::chrono::steady_clock::now();

    const auto markers = port.markers();
    REQUIRE(markers.size() == 2);
    CHECK(markers[0].value == 0x11);
    CHECK(markers[1].value == 0x22);
    CHECK(markers[0].time >= before);
    CHECK(markers[0].time <= markers[1].time);
    CHECK(markers[1].time <= after);
    CHECK(reported == std::vector<std::uint8_t> { 0x11, 0x22 });
}

TEST_CASE("the POST record is bounded but every write is counted", "[debug-ports]")
{
    PostPort port;
    for (std::size_t i = 0; i < PostPort::MAX_MARKERS + 5; ++i) {
        port.write(0, byte_of(static_cast<std::uint8_t>(i)));
    }
    CHECK(port.markers().size() == PostPort::MAX_MARKERS);
    CHECK(port.markers().front().value == 0);
    CHECK(port.write_count() == PostPort::MAX_MARKERS + 5);
}

TEST_CASE("pvpanic reads report the PANICKED and CRASH_LOADED events", "[debug-ports]")
{
    PvPanicPort port([](std::uint8_t) {});
    std::array<std::byte, 1> d {};
    port.read(0, d);
    CHECK(d[0] == std::byte { 0x03 });
}

TEST_CASE("a pvpanic write with PANICKED calls on_panic with the value", "[debug-ports]")
{
    std::optional<std::uint8_t> events;
    PvPanicPort port([&events](std::uint8_t e) { events = e; });
    port.write(0, byte_of(0x01));
    CHECK(events == std::optional<std::uint8_t>(0x01));
}

TEST_CASE("repeated pvpanic reports call on_panic once", "[debug-ports]")
{
    int calls = 0;
    PvPanicPort port([&calls](std::uint8_t) { ++calls; });
    port.write(0, byte_of(0x01));
    port.write(0, byte_of(0x03));
    CHECK(calls == 1);
}

TEST_CASE("a pvpanic write of CRASH_LOADED alone or of no known bit is not a panic", "[debug-ports]")
{
    int calls = 0;
    PvPanicPort port([&calls](std::uint8_t) { ++calls; });
    port.write(0, byte_of(0x02));
    port.write(0, byte_of(0x00));
    port.write(0, byte_of(0x80));
    CHECK(calls == 0);
}
