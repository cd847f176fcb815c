// SPDX-License-Identifier: Apache-2.0
// The `user` network's options: hostfwd rules as QEMU writes them, and the network's checks.
#include <string>

#include <catch2/catch.hpp>

#include "virtio/devices/net/backend/user_options.hpp"

using namespace vmm;
using namespace vmm::virtio::net;

namespace {

std::string error_of(std::string_view rule)
{
    auto f = parse_forward(rule);
    REQUIRE_FALSE(f);
    return f.error().describe();
}

Forward forward(std::string_view rule)
{
    auto f = parse_forward(rule);
    INFO((f ? std::string() : f.error().describe()));
    REQUIRE(f);
    return *f;
}

} // namespace

TEST_CASE("parse_forward takes every form of a hostfwd rule", "[net][slirp]")
{
    const Forward ssh = forward("tcp:127.0.0.1:2222-:22");
    CHECK(ssh.protocol == Forward::Protocol::tcp);
    CHECK(ssh.host_addr == Ipv4Addr::of(127, 0, 0, 1));
    CHECK(ssh.host_port == 2222);
    CHECK_FALSE(ssh.guest_addr.has_value());
    CHECK(ssh.guest_port == 22);
    CHECK(ssh.rule == "tcp:127.0.0.1:2222-:22");

    // No host address: the host's loopback, never every interface.
    const Forward dns = forward("udp::5353-:53");
    CHECK(dns.protocol == Forward::Protocol::udp);
    CHECK(dns.host_addr == Ipv4Addr::of(127, 0, 0, 1));
    CHECK(dns.host_port == 5353);
    CHECK(dns.guest_port == 53);

    // All interfaces only when written; an empty protocol is tcp, as in QEMU.
    const Forward web = forward(":0.0.0.0:8080-10.0.2.20:80");
    CHECK(web.protocol == Forward::Protocol::tcp);
    CHECK(web.host_addr == Ipv4Addr::of(0, 0, 0, 0));
    REQUIRE(web.guest_addr.has_value());
    CHECK(*web.guest_addr == Ipv4Addr::of(10, 0, 2, 20));
    CHECK(web.guest_port == 80);

    const Forward edges = forward("tcp:192.168.1.7:65535-10.0.2.15:1");
    CHECK(edges.host_addr == Ipv4Addr::of(192, 168, 1, 7));
    CHECK(edges.host_port == 65535);
    CHECK(edges.guest_port == 1);

    const UserNetOptions defaults;
    CHECK(describe(ssh, defaults) == "tcp:127.0.0.1:2222-10.0.2.15:22");
    CHECK(describe(dns, defaults) == "udp:127.0.0.1:5353-10.0.2.15:53");
    CHECK(describe(web, defaults) == "tcp:0.0.0.0:8080-10.0.2.20:80");
}

TEST_CASE("parse_forward names the rule and what is wrong with it", "[net][slirp]")
{
    using Catch::Matchers::Contains;
    CHECK_THAT(error_of("sctp::22-:22"), Contains("\"sctp::22-:22\"") && Contains("bad protocol \"sctp\""));
    CHECK_THAT(error_of("tcp::0-:22"),
        Contains("\"tcp::0-:22\"") && Contains("host port \"0\" is not a number in 1..65535"));
    CHECK_THAT(error_of("tcp::65536-:22"), Contains("host port \"65536\""));
    CHECK_THAT(error_of("tcp::ssh-:22"), Contains("host port \"ssh\""));
    CHECK_THAT(error_of("tcp::-1-:22"), Contains("\"tcp::-1-:22\"") && Contains("host port is missing"));
    CHECK_THAT(error_of("tcp::22-:70000"), Contains("guest port \"70000\" is not a number in 1..65535"));
    CHECK_THAT(error_of("udp::22-:"), Contains("\"udp::22-:\"") && Contains("guest port is missing"));
    CHECK_THAT(error_of("tcp:300.1.1.1:22-:22"),
        Contains("\"tcp:300.1.1.1:22-:22\"") && Contains("bad host address \"300.1.1.1\""));
    CHECK_THAT(error_of("tcp:localhost:22-:22"), Contains("bad host address \"localhost\""));
    CHECK_THAT(error_of("tcp::22-10.0.2:22"), Contains("bad guest address \"10.0.2\""));
    CHECK_THAT(error_of("tcp:[::1]:22-:22"), Contains("bad host address \"[::1]\""));
    CHECK_THAT(error_of("tcp::2222:22"), Contains("\"tcp::2222:22\"") && Contains("missing '-'"));
    CHECK_THAT(error_of("tcp:2222-:22"), Contains("the host side \"2222\" is not [address]:port"));
    CHECK_THAT(error_of("tcp::22-22"), Contains("the guest side \"22\" is not [address]:port"));
    CHECK_THAT(error_of("tcp"), Contains("\"tcp\"") && Contains("expected tcp|udp:"));
    CHECK_THAT(error_of(""), Contains("expected tcp|udp:"));
}

TEST_CASE("user network options are checked for consistency", "[net][slirp]")
{
    using Catch::Matchers::Contains;
    UserNetOptions o;
    CHECK(check(o));
    CHECK(o.ipv6);
    CHECK(o.ipv6_prefix.str() == "fec0::");
    CHECK(o.ipv6_host.str() == "fec0::2");
    CHECK(o.ipv6_dns.str() == "fec0::3");

    SECTION("a forward to a guest address outside the network")
    {
        o.forwards.push_back(forward("tcp::2222-10.0.3.15:22"));
        auto r = check(o);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().describe(), Contains("\"tcp::2222-10.0.3.15:22\"") && Contains("not inside 10.0.2.0/24"));
    }
    SECTION("two forwards on one host port")
    {
        o.forwards.push_back(forward("tcp::2222-:22"));
        o.forwards.push_back(forward("udp::2222-:22"));
        CHECK(check(o));
        o.forwards.push_back(forward("tcp:127.0.0.1:2222-:23"));
        auto r = check(o);
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().describe(), Contains("both listen on tcp 127.0.0.1:2222"));
    }
    SECTION("addresses outside the network or clashing")
    {
        o.host = Ipv4Addr::of(10, 0, 3, 2);
        CHECK_THAT(check(o).error().describe(), Contains("host address 10.0.3.2 is not a host address of 10.0.2.0/24"));
        o.host = Ipv4Addr::of(10, 0, 2, 255);
        CHECK_FALSE(check(o));
        o.host = Ipv4Addr::of(10, 0, 2, 20);
        CHECK_THAT(check(o).error().describe(), Contains("among the 16 DHCP addresses from 10.0.2.15"));
        o.host = o.dns;
        CHECK_THAT(check(o).error().describe(), Contains("both 10.0.2.3"));
    }
    SECTION("the network itself")
    {
        o.network = Ipv4Addr::of(10, 0, 2, 1);
        CHECK_THAT(check(o).error().describe(), Contains("did you mean 10.0.2.0/24"));
        o.network = Ipv4Addr::of(10, 0, 2, 0);
        o.prefix_len = 31;
        CHECK_THAT(check(o).error().describe(), Contains("prefix length 31"));
    }
    SECTION("IPv6 and the hostname")
    {
        o.ipv6_dns = *parse_ipv6("fec1::3");
        CHECK_THAT(check(o).error().describe(), Contains("fec1::3"));
        o.ipv6 = false; // not checked when off
        CHECK(check(o));
        o.hostname = std::string(MAX_HOSTNAME, 'h');
        CHECK(check(o));
        o.hostname += 'h';
        CHECK_THAT(check(o).error().describe(), Contains("longer than 32 characters"));
    }
}
