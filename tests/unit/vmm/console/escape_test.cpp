// SPDX-License-Identifier: Apache-2.0
// Tests for the Ctrl-A escapes typed on the terminal.
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "vmm/console/escape.hpp"

using namespace vmm;

namespace {

struct Typed {
    std::string forwarded;
    bool quit = false;
};

Typed type(EscapeFilter& f, std::string_view keys)
{
    std::vector<std::byte> out;
    Typed t;
    t.quit = f.feed(std::as_bytes(std::span<const char>(keys.data(), keys.size())), out);
    for (const auto b : out) {
        t.forwarded.push_back(static_cast<char>(b));
    }
    return t;
}

} // namespace

TEST_CASE("ordinary keys, Ctrl-C included, pass through to the guest", "[console]")
{
    EscapeFilter f;
    const auto t = type(f, "ls\x03\r");
    CHECK(t.forwarded == "ls\x03\r");
    CHECK_FALSE(t.quit);
}

TEST_CASE("Ctrl-A x quits and forwards nothing after it", "[console]")
{
    EscapeFilter f;
    const auto t = type(f, "ab\x01xcd");
    CHECK(t.quit);
    CHECK(t.forwarded == "ab");
}

TEST_CASE("Ctrl-A Ctrl-A sends one Ctrl-A", "[console]")
{
    EscapeFilter f;
    const auto t = type(f, "\x01\x01z");
    CHECK(t.forwarded == "\x01z");
    CHECK_FALSE(t.quit);
}

TEST_CASE("Ctrl-A and an unknown key are both swallowed", "[console]")
{
    EscapeFilter f;
    const auto t = type(f, "\x01qz");
    CHECK(t.forwarded == "z");
    CHECK_FALSE(t.quit);
}

TEST_CASE("an escape split across two reads still quits", "[console]")
{
    EscapeFilter f;
    const auto first = type(f, "a\x01");
    const auto second = type(f, "x");
    CHECK(first.forwarded == "a");
    CHECK_FALSE(first.quit);
    CHECK(second.quit);
}
