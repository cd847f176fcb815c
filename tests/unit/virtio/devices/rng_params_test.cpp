// SPDX-License-Identifier: Apache-2.0
// The rng kind's config keys: validator, defaults, messages, and its registry entry.
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/params_test_support.hpp"
#include "virtio/devices/rng/rng_config.hpp"
#include "virtio/registry.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using Catch::Contains;

// ---- rng ----------------------------------------------------------------------------------------

TEST_CASE("an rng entry without keys reads from getrandom without a rate limit", "[virtio][rng][params]")
{
    const auto p = parse_rng_params(entry("rng", "{}"));

    REQUIRE(p);
    CHECK_FALSE(p->file);
    CHECK_FALSE(p->rate_limit);
}

TEST_CASE("an rng source path resolves against the entry's base directory", "[virtio][rng][params]")
{
    const auto relative = parse_rng_params(entry("rng", R"({"source": "seed.bin"})"));
    const auto absolute = parse_rng_params(entry("rng", R"({"source": "/dev/hwrng"})"));
    const auto keyword = parse_rng_params(entry("rng", R"({"source": "getrandom"})"));

    REQUIRE(relative);
    CHECK(relative->file == std::filesystem::path("/vm/seed.bin"));
    REQUIRE(absolute);
    CHECK(absolute->file == std::filesystem::path("/dev/hwrng"));
    REQUIRE(keyword);
    CHECK_FALSE(keyword->file);
}

TEST_CASE("an rng rate limit's burst defaults to one second's worth", "[virtio][rng][params]")
{
    const auto p = parse_rng_params(entry("rng", R"({"rate_limit": {"bytes_per_second": 4096}})"));

    REQUIRE(p);
    REQUIRE(p->rate_limit);
    CHECK(p->rate_limit->bytes_per_second == 4096);
    CHECK(p->rate_limit->burst == 4096);
}

TEST_CASE("rng key errors name the key and say what is expected", "[virtio][rng][params]")
{
    CHECK(error_text(validate_rng(entry("rng", R"({"sorce": "x"})")))
        == "sorce: unknown key; did you mean \"source\"?");
    CHECK(error_text(validate_rng(entry("rng", R"({"source": 4})")))
        == "source: expected a string, got an integer");
    CHECK(error_text(validate_rng(entry("rng", R"({"source": ""})"))) == "source: must not be empty");
    CHECK(error_text(validate_rng(entry("rng", R"({"rate_limit": 5})")))
        == "rate_limit: expected an object such as {\"bytes_per_second\": 4096}");
    CHECK(error_text(validate_rng(entry("rng", R"({"rate_limit": {}})")))
        == "rate_limit.bytes_per_second: required");
    CHECK(error_text(validate_rng(entry("rng", R"({"rate_limit": {"bytes_per_second": 0}})")))
        == "rate_limit.bytes_per_second: 0 is out of range; expected 1 to 1073741824");
    CHECK(error_text(validate_rng(entry("rng", R"({"rate_limit": {"bytes_per_second": -3}})")))
        == "rate_limit.bytes_per_second: -3 is out of range; expected 1 to 1073741824");
    CHECK(error_text(validate_rng(entry("rng", R"({"rate_limit": {"bytes_per_second": 1.5}})")))
        == "rate_limit.bytes_per_second: expected a whole number, got a fractional number");
    CHECK(error_text(validate_rng(entry("rng", R"({"rate_limit": {"bytes_per_second": 8, "brust": 9}})")))
        == "rate_limit.brust: unknown key; did you mean \"burst\"?");
}

// ---- Registry ---------------------------------------------------------------------------------------

TEST_CASE("the registry knows the rng kind, with a validator", "[virtio][registry][rng]")
{
    const DeviceKind* kind = find_device_kind(device_kinds(), "rng");

    REQUIRE(kind != nullptr);
    CHECK(kind->validate != nullptr);
}

TEST_CASE("the registry builds an rng device from a bare entry", "[virtio][registry][rng]")
{
    DeviceResources resources;

    auto dev = make_device(entry("rng", "{}"), resources);

    REQUIRE(dev);
    CHECK((*dev)->type() == DeviceType::rng);
}

TEST_CASE("an rng factory error names the entry and the file it could not open", "[virtio][registry][rng]")
{
    DeviceResources resources;

    auto dev = make_device(entry("rng", R"({"source": "missing-entropy"})"), resources);

    REQUIRE_FALSE(dev);
    CHECK_THAT(error_text(dev), Contains("devices[1] (type \"rng\"): ") && Contains("/vm/missing-entropy"));
}
