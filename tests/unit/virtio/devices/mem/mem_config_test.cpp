// SPDX-License-Identifier: Apache-2.0
// The mem kind's config keys, their bounds and messages, and the factory.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/params_test_support.hpp"
#include "virtio/devices/mem/mem_config.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using Catch::Contains;

TEST_CASE("a mem entry takes its region, block and requested sizes and a node", "[mem][params]")
{
    auto o = mem::parse_mem_config(entry("mem", R"({"region_size": "2G"})"));
    REQUIRE(o);
    CHECK(o->region_size == 2ULL << 30);
    CHECK(o->block_size == 2ULL << 20);
    CHECK(o->requested_size == 0);
    CHECK_FALSE(o->node);
    o = mem::parse_mem_config(
        entry("mem", R"({"region_size": 1073741824, "block_size": "4M", "requested_size": "256M", "node": 1})"));
    REQUIRE(o);
    CHECK(o->block_size == 4ULL << 20);
    CHECK(o->requested_size == 256ULL << 20);
    CHECK(o->node == 1);
    CHECK(*mem::mem_hotplug_size(entry("mem", R"({"region_size": "2G"})")) == 2ULL << 30);
}

TEST_CASE("bad mem keys are refused with the key named", "[mem][params]")
{
    const auto text = [](const char* json) { return error_text(mem::parse_mem_config(entry("mem", json))); };
    CHECK_THAT(text("{}"), Contains("\"region_size\" is required"));
    CHECK_THAT(text(R"({"region_size": "2G", "sise": 1})"), Contains("sise"));
    CHECK_THAT(text(R"({"region_size": "lots"})"), Contains("region_size"));
    CHECK_THAT(text(R"({"region_size": 0})"), Contains("region_size"));
    CHECK_THAT(text(R"({"region_size": "3M"})"), Contains("multiple of block_size"));
    CHECK_THAT(text(R"({"region_size": "2T"})"), Contains("at most 1T"));
    CHECK_THAT(text(R"({"region_size": "2G", "block_size": "3M"})"), Contains("power of two"));
    CHECK_THAT(text(R"({"region_size": "2G", "block_size": 2048})"), Contains("power of two"));
    CHECK_THAT(text(R"({"region_size": "4G", "block_size": "2G"})"), Contains("block_size"));
    CHECK_THAT(text(R"({"region_size": "2G", "requested_size": "3G"})"), Contains("requested_size"));
    CHECK_THAT(text(R"({"region_size": "2G", "requested_size": "1M"})"), Contains("requested_size"));
    CHECK_THAT(text(R"({"region_size": "2G", "node": 70000})"), Contains("node"));
    CHECK_FALSE(mem::validate_mem(entry("mem", R"({"region_size": "2G", "node": -1})")));
    CHECK(mem::validate_mem(entry("mem", R"({"region_size": "2G"})")));
}

TEST_CASE("the mem factory needs the hot-plug region the VMM mapped for it", "[mem][params]")
{
    const MemoryRegionSpec specs[] = {
        { GuestAddress { 0 }, 1 << 20, false },
        { GuestAddress { 1ULL << 30 }, 64 << 20, true },
    };
    auto memory = GuestMemory::create(specs);
    REQUIRE(memory);
    DeviceResources none;
    CHECK_THAT(error_text(mem::make_mem(entry("mem", R"({"region_size": "64M"})"), none)), Contains("hot-plug region"));
    DeviceResources r;
    r.memory = &*memory;
    r.hotplug_region = GuestAddress { 0 }; // boot RAM, not a hot-plug region
    CHECK_THAT(error_text(mem::make_mem(entry("mem", R"({"region_size": "64M"})"), r)), Contains("hot-plug region"));
    r.hotplug_region = GuestAddress { 1ULL << 30 };
    CHECK_THAT(error_text(mem::make_mem(entry("mem", R"({"region_size": "32M"})"), r)), Contains("hot-plug region"));
    auto made = mem::make_mem(entry("mem", R"({"region_size": "64M", "requested_size": "8M"})"), r);
    REQUIRE(made);
    CHECK((*made)->type() == DeviceType::mem);
}
