// SPDX-License-Identifier: Apache-2.0
// Tests for ByteRing.
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "vmm/console/byte_ring.hpp"
#include "console_test_support.hpp"

using namespace vmm;
using vmm::test::bytes;

namespace {

std::string contents(const ByteRing& r)
{
    std::string s;
    for (const auto piece : r.pieces()) {
        for (const auto b : piece) {
            s.push_back(static_cast<char>(b));
        }
    }
    return s;
}

} // namespace

TEST_CASE("a ring takes bytes up to its capacity and reports how many it took", "[console]")
{
    ByteRing r(4);
    CHECK(r.push(bytes("abc")) == 3);
    CHECK(r.push(bytes("def")) == 1);
    CHECK(contents(r) == "abcd");
    CHECK(r.size() == 4);
}

TEST_CASE("a ring keeps byte order across the wrap", "[console]")
{
    ByteRing r(4);
    (void)r.push(bytes("abc"));
    r.consume(2);
    CHECK(r.push(bytes("def")) == 3);
    CHECK(contents(r) == "cdef");
    CHECK(r.pieces()[1].size() == 2); // two pieces: the data wraps
}

TEST_CASE("keeping the newest bytes discards the oldest and counts them", "[console]")
{
    ByteRing r(8);
    (void)r.push(bytes("abcd"));
    CHECK(r.push_keep_newest(bytes("ef"), 4) == 2);
    CHECK(contents(r) == "cdef");
    CHECK(r.push_keep_newest(bytes("0123456"), 4) == 7);
    CHECK(contents(r) == "3456");
}

TEST_CASE("trimming to a limit drops the oldest bytes only", "[console]")
{
    ByteRing r(8);
    (void)r.push(bytes("abcdef"));
    CHECK(r.trim_oldest(10) == 0);
    CHECK(r.trim_oldest(2) == 4);
    CHECK(contents(r) == "ef");
}

TEST_CASE("a ring of capacity zero takes nothing", "[console]")
{
    ByteRing r(0);
    CHECK(r.push(bytes("a")) == 0);
    CHECK(r.push_keep_newest(bytes("a"), 4) == 1);
    CHECK(r.empty());
}
