// SPDX-License-Identifier: Apache-2.0
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "vmm/bus/bus.hpp"

using namespace vmm;

namespace {

class Recorder final : public BusDevice {
public:
    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override
    {
        last_offset = offset;
        for (auto& b : data) {
            b = std::byte { 0x5a };
        }
    }
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override
    {
        last_offset = offset;
        last_size = data.size();
    }
    std::uint64_t last_offset = ~0ULL;
    std::size_t last_size = 0;
};

} // namespace

TEST_CASE("an access is routed to the device with the offset inside its range", "[bus]")
{
    Bus bus("mmio");
    auto dev = std::make_shared<Recorder>();
    REQUIRE(bus.insert(dev, 0x1000, 0x100));
    std::array<std::byte, 4> data {};
    REQUIRE(bus.write(0x1010, data));
    CHECK(dev->last_offset == 0x10);
    CHECK(dev->last_size == 4);
    REQUIRE(bus.read(0x10fc, data));
    CHECK(data[3] == std::byte { 0x5a });
}

TEST_CASE("an access that crosses the end of a range reaches no device", "[bus]")
{
    Bus bus("mmio");
    auto dev = std::make_shared<Recorder>();
    REQUIRE(bus.insert(dev, 0x1000, 0x100));
    std::array<std::byte, 4> data {};
    CHECK_FALSE(bus.read(0x10fe, data));
    CHECK_FALSE(bus.read(0xfff, data));
    CHECK_FALSE(bus.write(0x1100, data));
}

TEST_CASE("overlapping ranges are refused and a removed range is free again", "[bus]")
{
    Bus bus("pio");
    auto dev = std::make_shared<Recorder>();
    REQUIRE(bus.insert(dev, 0x100, 0x10));
    CHECK_FALSE(bus.insert(dev, 0x10f, 1));
    CHECK_FALSE(bus.insert(dev, 0xf8, 0x10));
    CHECK_FALSE(bus.insert(dev, 0, 0));
    CHECK_FALSE(bus.insert(dev, ~0ULL, 2));
    CHECK(bus.insert(dev, 0x110, 1));
    CHECK(bus.remove(0x100));
    CHECK(bus.insert(dev, 0x100, 0x10));
}
