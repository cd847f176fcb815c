// SPDX-License-Identifier: Apache-2.0
// The Microsoft RSS verification suite: key, addresses, ports and expected Toeplitz hashes.
#pragma once

#include <array>
#include <cstdint>

#include "tests/unit/virtio/devices/net/net_frames.hpp"

namespace net_test {

// Microsoft, "Verifying the RSS Hash Calculation" (Windows driver documentation, Network
// drivers, RSS): the key and the expected IPv4/IPv6 hashes below are that page's. The same
// values appear in the Intel 82599 datasheet's "RSS Verification Suite" (§7.1.2.8.3).
inline constexpr std::array<std::uint8_t, 40> MS_KEY { 0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25,
    0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
    0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa };

struct V4Case {
    Ip4 dst;
    std::uint16_t dport;
    Ip4 src;
    std::uint16_t sport;
    std::uint32_t ip_hash;
    std::uint32_t tcp_hash;
};

inline constexpr std::array<V4Case, 5> MS_V4 { {
    { { 161, 142, 100, 80 }, 1766, { 66, 9, 149, 187 }, 2794, 0x323e8fc2, 0x51ccc178 },
    { { 65, 69, 140, 83 }, 4739, { 199, 92, 111, 2 }, 14230, 0xd718262a, 0xc626b0ea },
    { { 12, 22, 207, 184 }, 38024, { 24, 19, 198, 95 }, 12898, 0xd2d0a5de, 0x5c2b394a },
    { { 209, 142, 163, 6 }, 2217, { 38, 27, 205, 30 }, 48228, 0x82989176, 0xafc7327f },
    { { 202, 188, 127, 2 }, 1303, { 153, 39, 163, 191 }, 44251, 0x5d1809c5, 0x10e828a2 },
} };

struct V6Case {
    Ip6 dst;
    std::uint16_t dport;
    Ip6 src;
    std::uint16_t sport;
    std::uint32_t ip_hash;
    std::uint32_t tcp_hash;
};

// 3ffe:2501:200:3::1, 3ffe:2501:200:1fff::7; ff02::1, 3ffe:501:8::260:97ff:fe40:efab;
// fe80::200:f8ff:fe21:67cf, 3ffe:1900:4545:3:200:f8ff:fe21:67cf.
inline constexpr std::array<V6Case, 3> MS_V6 { {
    { { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x01 }, 1766,
        { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x07 }, 2794, 0x2cc18cd5, 0x40207d3d },
    { { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 }, 4739,
        { 0x3f, 0xfe, 0x05, 0x01, 0x00, 0x08, 0x00, 0x00, 0x02, 0x60, 0x97, 0xff, 0xfe, 0x40, 0xef, 0xab }, 14230,
        0x0f0c461c, 0xdde51bbf },
    { { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0xf8, 0xff, 0xfe, 0x21, 0x67, 0xcf }, 38024,
        { 0x3f, 0xfe, 0x19, 0x00, 0x45, 0x45, 0x00, 0x03, 0x02, 0x00, 0xf8, 0xff, 0xfe, 0x21, 0x67, 0xcf }, 44251,
        0x4b61e985, 0x02d1feef },
} };


} // namespace net_test
