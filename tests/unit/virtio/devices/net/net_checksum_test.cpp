// SPDX-License-Identifier: Apache-2.0
// Internet checksum: RFC 1071's worked example, a known IPv4 header, odd lengths and odd splits.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_frames.hpp"
#include "virtio/devices/net/checksum.hpp"

using namespace vmm::virtio::net;
using namespace net_test;

TEST_CASE("checksum: RFC 1071 §3 example sums to ddf2", "[net][checksum]")
{
    const Bytes data { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
    Checksum c;
    c.add(data);
    CHECK(c.folded() == 0xddf2);
    CHECK(c.finish() == 0x220d);
    CHECK(internet_checksum(data) == 0x220d);
}

TEST_CASE("checksum: a known IPv4 header checksums to b861", "[net][checksum]")
{
    // 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73, DF: the usual worked example.
    Bytes h { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0,
        0xa8, 0x00, 0xc7 };
    CHECK(internet_checksum(h) == 0xb861);
    put16(h, 10, 0xb861);
    CHECK(internet_checksum(h) == 0); // a header with its checksum in place verifies to 0
}

TEST_CASE("checksum: empty, odd lengths and carries", "[net][checksum]")
{
    CHECK(internet_checksum({}) == 0xffff);
    const Bytes one { 0x01 };
    CHECK(internet_checksum(one) == static_cast<std::uint16_t>(~0x0100)); // padded on the right
    const Bytes three { 0x00, 0x01, 0xf2 };
    Checksum c;
    c.add(three);
    CHECK(c.folded() == 0xf201);
    // 0xffff words: the end-around carry keeps the sum at ffff, the checksum at 0.
    const Bytes ones(1000, 0xff);
    Checksum d;
    d.add(ones);
    CHECK(d.folded() == 0xffff);
    CHECK(d.finish() == 0);
    // One more 0xff is a word ff00: ffff + ff00 folds to ff00.
    d.add(Bytes { 0xff });
    CHECK(d.folded() == 0xff00);
    CHECK(fold_sum(0x1'fffe) == 0xffff);
    CHECK(fold_sum(0xffff'ffff'ffffULL) == 0xffff);
    CHECK(fold_sum(0x2'0001) == 0x0003);
}

TEST_CASE("checksum: a span split anywhere sums like the whole", "[net][checksum]")
{
    for (const std::size_t len : { std::size_t { 0 }, std::size_t { 1 }, std::size_t { 2 }, std::size_t { 7 },
             std::size_t { 64 }, std::size_t { 1499 } }) {
        const Bytes data = payload_pattern(len, 0x5a);
        const std::uint16_t expected = ref_checksum(data);
        CHECK(internet_checksum(data) == expected);
        for (std::size_t a = 0; a <= len; a += (len > 100 ? 37 : 1)) {
            for (std::size_t b = a; b <= len; b += (len > 100 ? 53 : 1)) {
                Checksum c;
                c.add(std::span(data).first(a));
                c.add(std::span(data).subspan(a, b - a));
                c.add(std::span(data).subspan(b));
                INFO("len " << len << " split at " << a << " and " << b);
                REQUIRE(c.finish() == expected);
            }
        }
        Checksum bytewise;
        for (std::size_t i = 0; i < len; ++i) {
            bytewise.add(std::span(data).subspan(i, 1));
        }
        CHECK(bytewise.finish() == expected);
    }
}

TEST_CASE("checksum: add_be16 continues the data, at odd positions too", "[net][checksum]")
{
    const Bytes data { 0x12, 0x34, 0x56, 0xab, 0xcd };
    Checksum c;
    c.add(std::span(data).first(3));
    c.add_be16(0xabcd);
    CHECK(c.finish() == ref_checksum(data));
}

TEST_CASE("checksum: pseudo-headers match their byte layouts", "[net][checksum]")
{
    const Bytes body = payload_pattern(33, 3);
    {
        Checksum c = ipv4_pseudo_header(IP4_A, IP4_B, 17, 41);
        c.add(body);
        CHECK(c.finish() == ref_checksum(concat({ pseudo4(IP4_A, IP4_B, 17, 41), body })));
    }
    {
        // A length above 16 bits lands in the upper half of IPv6's 32-bit field.
        Checksum c = ipv6_pseudo_header(IP6_A, IP6_B, 6, 0x1'0203);
        c.add(body);
        CHECK(c.finish() == ref_checksum(concat({ pseudo6(IP6_A, IP6_B, 6, 0x1'0203), body })));
    }
}
