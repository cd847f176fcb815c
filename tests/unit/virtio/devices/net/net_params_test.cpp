// SPDX-License-Identifier: Apache-2.0
// The net kind's config keys: defaults, every key, and the messages for bad values.
#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/params_test_support.hpp"
#include "virtio/devices/net/net_config.hpp"
#include "virtio/registry.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::net;
using namespace vmm::virtio::test;
using Catch::Contains;

TEST_CASE("a net entry without keys is user-mode networking with a stable MAC", "[net][params]")
{
    const auto p = parse_net_config(entry("net", "{}"));
    REQUIRE(p);
    CHECK(p->backend == NetConfig::Backend::user);
    CHECK(p->forwards.empty());
    CHECK_FALSE(p->num_queues);
    CHECK(p->options.mtu == 1500);
    CHECK(p->options.queue_size == 256);
    CHECK(p->options.speed == VIRTIO_NET_SPEED_UNKNOWN);
    CHECK(p->options.duplex == VIRTIO_NET_DUPLEX_UNKNOWN);
    CHECK(p->options.offloads);
    CHECK(p->options.rss);
    // 52:54:00 and a hash of the origin: the same every run, unicast and locally administered.
    CHECK(p->options.mac == default_mac("devices[1]"));
    CHECK(p->options.mac[0] == 0x52);
    CHECK((p->options.mac[0] & 1) == 0);
    CHECK(default_mac("devices[1]") != default_mac("devices[2]"));
}

TEST_CASE("every net key is read", "[net][params]")
{
    const auto p = parse_net_config(entry("net", R"({"forward": ["tcp:127.0.0.1:2222-:22", "udp::5353-:53"],
        "hostname": "vm1", "restrict": true, "mac": "52:54:00:AB:cd:01", "mtu": 9000, "num_queues": 4,
        "queue_size": 1024, "speed": 10000, "duplex": "full", "offloads": false, "rss": false})"));
    REQUIRE(p);
    CHECK(p->forwards == std::vector<std::string> { "tcp:127.0.0.1:2222-:22", "udp::5353-:53" });
    CHECK(p->hostname == "vm1");
    CHECK(p->restrict);
    CHECK(p->options.mac == MacAddress { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x01 });
    CHECK(p->options.mtu == 9000);
    CHECK(p->num_queues == 4);
    CHECK(p->options.queue_size == 1024);
    CHECK(p->options.speed == 10000);
    CHECK(p->options.duplex == VIRTIO_NET_DUPLEX_FULL);
    CHECK_FALSE(p->options.offloads);
    CHECK_FALSE(p->options.rss);
}

TEST_CASE("a tap entry names its interface, and tap alone selects the backend", "[net][params]")
{
    const auto a = parse_net_config(entry("net", R"({"backend": "tap", "tap": "vireo0"})"));
    const auto b = parse_net_config(entry("net", R"({"tap": "vireo0"})"));
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->backend == NetConfig::Backend::tap);
    CHECK(b->backend == NetConfig::Backend::tap);
    CHECK(b->tap == "vireo0");
}

TEST_CASE("the --device form carries several forwards in one value", "[net][params]")
{
    const auto p = parse_net_config(entry("net", R"({"forward": "tcp::2222-:22;udp::5353-:53;"})"));
    REQUIRE(p);
    CHECK(p->forwards.size() == 2);
}

TEST_CASE("bad net keys are refused with a message naming the key and the fix", "[net][params]")
{
    auto error = [](std::string_view text) { return error_text(parse_net_config(entry("net", text))); };
    CHECK_THAT(error(R"({"backend": "bridge"})"), Contains("backend"));
    CHECK_THAT(error(R"({"backend": "tap"})"), Contains("tap: required"));
    CHECK_THAT(error(R"({"tap": "a-name-that-is-too-long"})"), Contains("15 characters"));
    CHECK_THAT(error(R"({"tap": "t0", "forward": "tcp::1-:2"})"), Contains("only for \"backend\": \"user\""));
    CHECK_THAT(error(R"({"backend": "user", "tap": "t0"})"), Contains("only for \"backend\": \"tap\""));
    CHECK_THAT(error(R"({"forward": "tcp:127.0.0.1:2222:22"})"), Contains("forward"));
    CHECK_THAT(error(R"({"forward": ["tcp::2222-:22", 5]})"), Contains("forward[1]"));
    CHECK_THAT(error(R"({"forward": {"a": 1}})"), Contains("forward: expected"));
    CHECK_THAT(error(R"({"mac": "52:54:00:12:34"})"), Contains("is not a MAC address"));
    CHECK_THAT(error(R"({"mac": "01:00:5e:00:00:01"})"), Contains("multicast"));
    CHECK_THAT(error(R"({"mac": "52:54:00:12:34:zz"})"), Contains("mac"));
    CHECK_THAT(error(R"({"mtu": 67})"), Contains("mtu"));
    CHECK_THAT(error(R"({"mtu": 65518})"), Contains("mtu"));
    CHECK_THAT(error(R"({"num_queues": 0})"), Contains("num_queues"));
    CHECK_THAT(error(R"({"num_queues": 65})"), Contains("num_queues"));
    CHECK_THAT(error(R"({"queue_size": 100})"), Contains("power of two"));
    CHECK_THAT(error(R"({"queue_size": 8192})"), Contains("queue_size"));
    CHECK_THAT(error(R"({"speed": 2147483648})"), Contains("speed"));
    CHECK_THAT(error(R"({"duplex": "both"})"), Contains("duplex"));
    CHECK_THAT(error(R"({"offloads": "yes"})"), Contains("offloads"));
    CHECK_THAT(error(R"({"colour": "blue"})"), Contains("colour"));
}

TEST_CASE("the registry knows the net kind and validates its keys", "[net][params]")
{
    CHECK(find_device_kind(device_kinds(), "net") != nullptr);
    CHECK(validate_device(entry("net", R"({"forward": "tcp::2222-:22"})")));
    CHECK_FALSE(validate_device(entry("net", R"({"mtu": 1})")));
}

TEST_CASE("a tap that cannot be opened fails the device with a message saying what to do", "[net][params]")
{
    // An unprivileged test cannot create taps; as root the name is invalid for the kernel.
    DeviceResources resources;
    EventLoop loop;
    resources.loop = &loop;
    const auto made = make_device(entry("net", R"({"tap": "bad name with spaces"})"), resources);
    REQUIRE_FALSE(made);
    CHECK_THAT(made.error().describe(), Contains("devices[1] (type \"net\")"));
    CHECK_THAT(made.error().describe(), Contains("tap"));
}
