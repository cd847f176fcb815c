// SPDX-License-Identifier: Apache-2.0
// The console kind's config keys: validator, defaults, messages, and its registry entry.
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/params_test_support.hpp"
#include "virtio/devices/console/console_config.hpp"
#include "virtio/registry.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using Catch::Contains;
using nlohmann::json;

// ---- console --------------------------------------------------------------------------------------

TEST_CASE("a console entry without keys is one stdio console port of 80x25 with emergency write",
    "[virtio][console][params]")
{
    const auto p = parse_console_params(entry("console", "{}"));

    REQUIRE(p);
    REQUIRE(p->ports.size() == 1);
    CHECK(p->ports[0].mode == ConsoleSpec::Mode::stdio);
    CHECK(p->ports[0].name.empty());
    CHECK(p->console_port);
    CHECK(p->cols == 80);
    CHECK(p->rows == 25);
    CHECK(p->emergency_write);
}

TEST_CASE("console ports take a backend, a path relative to the base directory, and a name",
    "[virtio][console][params]")
{
    const auto p = parse_console_params(entry("console", R"({"ports": [
        {"backend": "none"},
        {"backend": "socket", "path": "agent.sock", "name": "org.vireo.agent"},
        {"backend": "file", "path": "/var/log/port2.log"},
        {"backend": "pty", "name": "org.vireo.pty"}],
        "console_port": false, "cols": 132, "rows": 43, "emergency_write": false})"));

    REQUIRE(p);
    REQUIRE(p->ports.size() == 4);
    CHECK(p->ports[0].mode == ConsoleSpec::Mode::off);
    CHECK(p->ports[1].mode == ConsoleSpec::Mode::socket);
    CHECK(p->ports[1].path == std::filesystem::path("/vm/agent.sock"));
    CHECK(p->ports[1].name == "org.vireo.agent");
    CHECK(p->ports[2].path == std::filesystem::path("/var/log/port2.log"));
    CHECK(p->ports[3].mode == ConsoleSpec::Mode::pty);
    CHECK_FALSE(p->console_port);
    CHECK(p->cols == 132);
    CHECK(p->rows == 43);
    CHECK_FALSE(p->emergency_write);
}

TEST_CASE("the one-port console form takes port 0's keys at the top", "[virtio][console][params]")
{
    const auto p = parse_console_params(entry("console", R"({"backend": "socket", "path": "c.sock"})"));

    REQUIRE(p);
    REQUIRE(p->ports.size() == 1);
    CHECK(p->ports[0].mode == ConsoleSpec::Mode::socket);
    CHECK(p->ports[0].path == std::filesystem::path("/vm/c.sock"));
}

TEST_CASE("console key errors name the key and say how to fix it", "[virtio][console][params]")
{
    auto check
        = [](std::string_view params) { return error_text(validate_console(entry("console", params))); };

    CHECK(check(R"({"port": []})") == "port: unknown key; did you mean \"ports\"?");
    CHECK(check(R"({"ports": []})") == "ports: expected an array of 1 to 16 port objects");
    CHECK(check(R"({"ports": [{"backend": "stdio"}, 3]})")
        == "ports[1]: expected an object with a \"backend\" key");
    CHECK(check(R"({"ports": [{}]})")
        == "ports[0].backend: required; one of \"stdio\", \"file\", \"socket\", \"pty\", \"none\"");
    CHECK(check(R"({"ports": [{"backend": "sockt", "path": "x"}]})")
        == "ports[0].backend: \"sockt\" is not valid; did you mean \"socket\"?");
    CHECK(check(R"({"ports": [{"backend": "socket"}]})")
        == "ports[0].path: required for the \"socket\" backend");
    CHECK(check(R"({"ports": [{"backend": "pty", "path": "x"}]})")
        == "ports[0].path: only used with the \"file\" and \"socket\" backends");
    CHECK(check(R"({"ports": [{"backend": "none", "nmae": "x"}]})")
        == "ports[0].nmae: unknown key; did you mean \"name\"?");
    CHECK(check(R"({"ports": [{"backend": "none", "name": "has space"}]})")
        == "ports[0].name: \"has space\" has a space, \"/\" or a character that is not printable ASCII");
    CHECK(check(R"({"ports": [{"backend": "none", "name": "a/b"}]})")
        == "ports[0].name: \"a/b\" has a space, \"/\" or a character that is not printable ASCII");
    CHECK(check(R"({"ports": [{"backend": "none"}], "backend": "pty"})")
        == "backend: goes inside \"ports\" entries when \"ports\" is given");
    CHECK(check(R"({"cols": 0})") == "cols: 0 is out of range; expected 1 to 65535");
    CHECK(check(R"({"rows": 70000})") == "rows: 70000 is out of range; expected 1 to 65535");
    CHECK(check(R"({"console_port": "yes"})") == "console_port: expected true or false, got a string");
}

TEST_CASE("console ports may not share the terminal, a name or a path", "[virtio][console][params]")
{
    auto check
        = [](std::string_view params) { return error_text(validate_console(entry("console", params))); };

    CHECK(check(R"({"ports": [{"backend": "stdio"}, {"backend": "stdio"}]})")
        == "ports[1].backend: only one port can use \"stdio\" (there is one terminal)");
    CHECK(check(R"({"ports": [{"backend": "none", "name": "a"}, {"backend": "pty", "name": "a"}]})")
        == "ports[1].name: \"a\" is already the name of ports[0]");
    CHECK(check(R"({"ports": [{"backend": "file", "path": "x"}, {"backend": "socket", "path": "/vm/x"}]})")
        == "ports[1].path: \"/vm/x\" is already used by ports[0]");
}

TEST_CASE("a console socket path longer than a Unix socket allows is refused", "[virtio][console][params]")
{
    const std::string path(120, 's');
    const auto r = validate_console(entry("console", R"({"backend": "socket", "path": ")" + path + "\"}"));

    CHECK_THAT(
        error_text(r), Contains("path: \"/vm/" + path + "\" is 124 bytes long") && Contains("at most 107"));
}

TEST_CASE("more than 16 console ports are refused", "[virtio][console][params]")
{
    json ports = json::array();
    for (int i = 0; i < 17; ++i) {
        ports.push_back(json { { "backend", "none" } });
    }
    auto e = entry("console", "{}");
    e.params["ports"] = ports;

    CHECK(error_text(validate_console(e)) == "ports: expected an array of 1 to 16 port objects");
}

// ---- Registry ---------------------------------------------------------------------------------------

TEST_CASE("the registry knows the console kind, with a validator", "[virtio][registry][console]")
{
    const DeviceKind* kind = find_device_kind(device_kinds(), "console");

    REQUIRE(kind != nullptr);
    CHECK(kind->validate != nullptr);
}

TEST_CASE("the registry prefixes a console key error with the entry", "[virtio][registry][console]")
{
    DeviceResources resources;

    auto dev = make_device(entry("console", R"({"cols": "wide"})"), resources);

    CHECK(error_text(dev) == "devices[1] (type \"console\"): cols: expected a whole number, got a string");
}

TEST_CASE("the console factory refuses to run without the event loop", "[virtio][registry][console]")
{
    DeviceResources resources;

    auto dev = make_device(entry("console", R"({"backend": "none"})"), resources);

    CHECK_THAT(error_text(dev), Contains("devices[1] (type \"console\")") && Contains("event loop"));
}

TEST_CASE("the registry builds a console with one queue pair per port plus the control pair",
    "[virtio][registry][console]")
{
    EventLoop loop;
    DeviceResources resources { .loop = &loop, .on_console_quit = {} };

    auto dev = make_device(
        entry("console", R"({"ports": [{"backend": "none"}, {"backend": "pty", "name": "p"}]})"), resources);

    REQUIRE(dev);
    CHECK((*dev)->type() == DeviceType::console);
    CHECK((*dev)->queue_max_sizes().size() == 6);
}
