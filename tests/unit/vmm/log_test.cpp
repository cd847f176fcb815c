// SPDX-License-Identifier: Apache-2.0
#include <cstdint>

#include <catch2/catch.hpp>

#include "vmm/base/log.hpp"

using namespace vmm;

TEST_CASE("a guest-triggered log line is limited to a burst and counts what it drops", "[log]")
{
    LogRateLimit limit;
    std::uint64_t dropped = 0;
    int passed = 0;
    for (int i = 0; i < 100; ++i) {
        if (limit.allow(&dropped)) {
            ++passed;
        }
    }
    CHECK(passed == static_cast<int>(LogRateLimit::BURST));
}

TEST_CASE("log level names parse and unknown names are refused", "[log]")
{
    spdlog::level::level_enum l {};
    CHECK(parse_log_level("debug", &l));
    CHECK(l == spdlog::level::debug);
    CHECK_FALSE(parse_log_level("loud", &l));
}
