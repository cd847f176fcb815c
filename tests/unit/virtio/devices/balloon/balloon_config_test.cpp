// SPDX-License-Identifier: Apache-2.0
// The balloon kind's config keys, their bounds and messages, and the factory.
#include <catch2/catch.hpp>

#include "tests/support/fake_guest.hpp"
#include "tests/unit/virtio/devices/params_test_support.hpp"
#include "virtio/devices/balloon/balloon_config.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using Catch::Contains;

TEST_CASE("a balloon entry takes a size, its features and a statistics interval", "[balloon][params]")
{
    auto o = balloon::parse_balloon_config(entry("balloon", "{}"));
    REQUIRE(o);
    CHECK(o->target_bytes == 0);
    CHECK(o->stats);
    CHECK(o->poison);
    CHECK_FALSE(o->reporting);
    CHECK_FALSE(o->hinting);
    CHECK_FALSE(o->deflate_on_oom);
    CHECK(o->stats_interval.count() == 0);

    o = balloon::parse_balloon_config(entry("balloon",
        R"({"size": "256M", "reporting": true, "hinting": true, "deflate_on_oom": true, "stats_interval": 5,
            "poison": false})"));
    REQUIRE(o);
    CHECK(o->target_bytes == 256 << 20);
    CHECK(o->reporting);
    CHECK(o->hinting);
    CHECK(o->deflate_on_oom);
    CHECK_FALSE(o->poison);
    CHECK(o->stats_interval.count() == 5);
    CHECK(balloon::parse_balloon_config(entry("balloon", R"({"size": 4096})"))->target_bytes == 4096);
}

TEST_CASE("bad balloon keys are refused with the key named", "[balloon][params]")
{
    CHECK_THAT(error_text(balloon::parse_balloon_config(entry("balloon", R"({"sise": 1})"))), Contains("sise"));
    CHECK_THAT(error_text(balloon::parse_balloon_config(entry("balloon", R"({"size": "lots"})"))), Contains("\"size\""));
    CHECK_THAT(error_text(balloon::parse_balloon_config(entry("balloon", R"({"size": "32T"})"))), Contains("16 TiB"));
    CHECK_THAT(error_text(balloon::parse_balloon_config(entry("balloon", R"({"size": -1})"))), Contains("size"));
    CHECK_THAT(error_text(balloon::parse_balloon_config(entry("balloon", R"({"reporting": 3})"))),
        Contains("reporting"));
    CHECK_THAT(error_text(balloon::parse_balloon_config(entry("balloon", R"({"stats_interval": 100000})"))),
        Contains("stats_interval"));
    CHECK_THAT(
        error_text(balloon::parse_balloon_config(entry("balloon", R"({"stats": false, "stats_interval": 2})"))),
        Contains("statistics queue"));
}

TEST_CASE("the balloon factory needs guest memory and a size that fits in it", "[balloon][params]")
{
    FakeGuest guest;
    DeviceResources none;
    CHECK_THAT(error_text(balloon::make_balloon(entry("balloon", "{}"), none)), Contains("guest's memory"));
    DeviceResources r;
    r.memory = &guest.memory();
    CHECK_THAT(error_text(balloon::make_balloon(entry("balloon", R"({"size": "1G"})"), r)), Contains("RAM"));
    auto made = balloon::make_balloon(entry("balloon", R"({"size": "1M"})"), r);
    REQUIRE(made);
    CHECK((*made)->type() == DeviceType::balloon);
    CHECK(balloon::validate_balloon(entry("balloon", R"({"size": "1M"})")));
    CHECK_FALSE(balloon::validate_balloon(entry("balloon", R"({"colour": 1})")));
}
