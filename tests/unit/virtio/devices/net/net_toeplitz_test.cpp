// SPDX-License-Identifier: Apache-2.0
// Toeplitz hash against the Microsoft RSS verification suite, and its defining properties.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_frames.hpp"
#include "tests/unit/virtio/devices/net/rss_vectors.hpp"
#include "virtio/devices/net/toeplitz.hpp"

using namespace vmm::virtio::net;
using namespace net_test;


TEST_CASE("toeplitz: Microsoft RSS verification suite, IPv4", "[net][toeplitz]")
{
    for (const auto& t : MS_V4) {
        // Input order: source address, destination address, source port, destination port.
        const Bytes ip = Builder().bytes(t.src).bytes(t.dst).done();
        const Bytes tcp4 = Builder().bytes(t.src).bytes(t.dst).u16(t.sport).u16(t.dport).done();
        CHECK(toeplitz_hash(MS_KEY, ip) == t.ip_hash);
        CHECK(toeplitz_hash(MS_KEY, tcp4) == t.tcp_hash);
    }
}

TEST_CASE("toeplitz: Microsoft RSS verification suite, IPv6", "[net][toeplitz]")
{
    for (const auto& t : MS_V6) {
        const Bytes ip = Builder().bytes(t.src).bytes(t.dst).done();
        const Bytes tcp6 = Builder().bytes(t.src).bytes(t.dst).u16(t.sport).u16(t.dport).done();
        CHECK(toeplitz_hash(MS_KEY, ip) == t.ip_hash);
        CHECK(toeplitz_hash(MS_KEY, tcp6) == t.tcp_hash);
    }
}

TEST_CASE("toeplitz: the definition, bit by bit", "[net][toeplitz]")
{
    // One set bit at position k selects key bits [k, k + 32).
    const std::array<std::uint8_t, 8> key { 0x80, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x00 };
    CHECK(toeplitz_hash(key, Bytes { 0x80 }) == 0x80000001);
    CHECK(toeplitz_hash(key, Bytes { 0x40 }) == 0x00000003);
    CHECK(toeplitz_hash(key, Bytes { 0x00, 0x80 }) == 0x000001ff);
    CHECK(toeplitz_hash(key, Bytes {}) == 0);
    CHECK(toeplitz_hash(key, Bytes { 0x00, 0x00, 0x00 }) == 0);
    // Past the end of the key, the window fills with zeros.
    CHECK(toeplitz_hash(key, Bytes { 0, 0, 0, 0, 0x80 }) == 0xff000000);
    CHECK(toeplitz_hash(key, Bytes { 0, 0, 0, 0, 0, 0, 0, 0, 0xff }) == 0);
    CHECK(toeplitz_hash({}, Bytes { 0xff, 0xff }) == 0);
}

TEST_CASE("toeplitz: linear over XOR", "[net][toeplitz]")
{
    const Bytes a = payload_pattern(36, 1);
    const Bytes b = payload_pattern(36, 77);
    Bytes x(36);
    for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = static_cast<std::uint8_t>(a[i] ^ b[i]);
    }
    CHECK(toeplitz_hash(MS_KEY, x) == (toeplitz_hash(MS_KEY, a) ^ toeplitz_hash(MS_KEY, b)));
}
