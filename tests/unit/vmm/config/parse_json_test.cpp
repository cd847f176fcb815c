// SPDX-License-Identifier: Apache-2.0
// Tests for parse_json: keys, types, defaults, devices and path resolution.
#include <catch2/catch.hpp>

#include "test_support.hpp"
#include "vmm/config/config.hpp"

using namespace vmm::config;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using nlohmann::json;
using vmm::config::test::error_text;

namespace {

const std::filesystem::path BASE = "/srv/vms";

} // namespace

TEST_CASE("an empty document gives the documented defaults", "[config]")
{
    const auto cfg = parse_json(json::object(), BASE);

    REQUIRE(cfg);
    CHECK(cfg->cpus == 1);
    CHECK(cfg->memory == 512 * MiB);
    CHECK_FALSE(cfg->hugepages);
    CHECK_FALSE(cfg->memfd);
    CHECK(cfg->mmio_discovery == MmioDiscovery::acpi);
    CHECK(cfg->kernel.empty());
    CHECK_FALSE(cfg->initrd);
    CHECK(cfg->console.mode == ConsoleMode::stdio);
    CHECK(cfg->devices.empty());
    CHECK_FALSE(cfg->api_socket);
    CHECK(cfg->on_reboot == OnReboot::exit);
    CHECK(cfg->log_level == "info");
}

TEST_CASE("a full document sets every field", "[config]")
{
    const json doc = json::parse(R"({
        "vm": {"cpus": 4, "memory": "2G", "hugepages": true, "memfd": true, "mmio_discovery": "cmdline"},
        "boot": {"kernel": "/k/bzImage", "initrd": "initrd.img", "cmdline": "console=ttyS0"},
        "console": {"mode": "socket", "path": "console.sock"},
        "devices": [{"type": "rng", "transport": "mmio"}],
        "api_socket": "/run/vireo.sock",
        "on_reboot": "restart",
        "log_level": "debug"
    })");

    const auto cfg = parse_json(doc, BASE);

    REQUIRE(cfg);
    CHECK(cfg->cpus == 4);
    CHECK(cfg->memory == 2 * GiB);
    CHECK(cfg->hugepages);
    CHECK(cfg->memfd);
    CHECK(cfg->mmio_discovery == MmioDiscovery::cmdline);
    CHECK(cfg->kernel == "/k/bzImage");
    CHECK(cfg->initrd == BASE / "initrd.img");
    CHECK(cfg->cmdline == "console=ttyS0");
    CHECK(cfg->console.mode == ConsoleMode::socket);
    CHECK(cfg->console.path == BASE / "console.sock");
    REQUIRE(cfg->devices.size() == 1);
    CHECK(cfg->api_socket == std::filesystem::path("/run/vireo.sock"));
    CHECK(cfg->on_reboot == OnReboot::restart);
    CHECK(cfg->log_level == "debug");
}

TEST_CASE("memory given as an integer is a byte count", "[config]")
{
    const auto cfg = parse_json(json::parse(R"({"vm": {"memory": 268435456}})"), BASE);

    REQUIRE(cfg);
    CHECK(cfg->memory == 256 * MiB);
}

TEST_CASE("an unknown key names its full path and suggests the close key", "[config]")
{
    const auto r = parse_json(json::parse(R"({"vm": {"cpu": 2}})"), BASE);

    CHECK_THAT(error_text(r), Equals("vm.cpu: unknown key; did you mean \"cpus\"?"));
}

TEST_CASE("an unknown key with no close match lists the valid keys", "[config]")
{
    const auto r = parse_json(json::parse(R"({"boot": {"firmware": "x"}})"), BASE);

    CHECK_THAT(error_text(r),
        Equals("boot.firmware: unknown key; expected one of \"kernel\", \"initrd\", \"cmdline\""));
}

TEST_CASE("an unknown top-level key is refused with a suggestion", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"device": []})"), BASE)),
        Equals("device: unknown key; did you mean \"devices\"?"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"api-socket": "x"})"), BASE)),
        Contains("did you mean \"api_socket\"?"));
}

TEST_CASE("a value of the wrong type names the path and the expected type", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"cpus": "2"}})"), BASE)),
        Equals("vm.cpus: expected an integer, got a string"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"hugepages": 1}})"), BASE)),
        Equals("vm.hugepages: expected true or false, got an integer"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"boot": {"kernel": 5}})"), BASE)),
        Equals("boot.kernel: expected a string, got an integer"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": []})"), BASE)),
        Equals("vm: expected an object, got an array"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"devices": {}})"), BASE)),
        Equals("devices: expected an array, got an object"));
    CHECK_THAT(error_text(parse_json(json::parse(R"([1])"), BASE)),
        Equals("top level: expected an object, got an array"));
}

TEST_CASE("a fractional cpu count is refused as the wrong type", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"cpus": 1.5}})"), BASE)),
        Equals("vm.cpus: expected an integer, got a fractional number"));
}

TEST_CASE("a whole number written as 2.0 or 1e9 counts as an integer as in JSON Schema", "[config]")
{
    const auto cfg = parse_json(json::parse(R"({"vm": {"cpus": 2.0, "memory": 1e9}})"), BASE);

    REQUIRE(cfg);
    CHECK(cfg->cpus == 2);
    CHECK(cfg->memory == 1000000000);
}

TEST_CASE("a negative or huge cpu count is refused while parsing", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"cpus": -1}})"), BASE)),
        Contains("vm.cpus: -1 is out of range"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"cpus": 4294967296}})"), BASE)),
        Contains("out of range"));
    CHECK_THAT(
        error_text(parse_json(json::parse(R"({"vm": {"cpus": 1e30}})"), BASE)), Contains("out of range"));
}

TEST_CASE("a malformed memory string is refused and the key named", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"memory": "12Q"}})"), BASE)),
        Contains("vm.memory: \"12Q\" is not a size"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"memory": -1}})"), BASE)),
        Contains("vm.memory: -1 is negative or too large"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"memory": "99999999999999999999G"}})"), BASE)),
        Contains("too large"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"vm": {"memory": true}})"), BASE)),
        Contains("vm.memory: expected a number of bytes or a string"));
}

TEST_CASE("an unknown console mode is refused with a suggestion", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"console": {"mode": "stdoi"}})"), BASE)),
        Equals("console.mode: \"stdoi\" is not valid; did you mean \"stdio\"?"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"console": {"mode": "serial"}})"), BASE)),
        Contains("expected one of \"stdio\", \"file\", \"socket\", \"off\""));
}

TEST_CASE("a file or socket console without a path is refused", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"console": {"mode": "file"}})"), BASE)),
        Contains("console.path: required when console.mode is \"file\""));
}

TEST_CASE("a console path with a stdio or off console is refused", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"console": {"path": "x.log"}})"), BASE)),
        Contains("console.path: only used when console.mode is \"file\" or \"socket\""));
}

TEST_CASE("relative paths resolve against the base directory and absolute ones stay", "[config]")
{
    const json doc = json::parse(R"({"boot": {"kernel": "images/vmlinux", "initrd": "/abs/initrd"},
        "console": {"mode": "file", "path": "../logs/console.log"}, "api_socket": "api.sock"})");

    const auto cfg = parse_json(doc, BASE);

    REQUIRE(cfg);
    CHECK(cfg->kernel == BASE / "images/vmlinux");
    CHECK(cfg->initrd == std::filesystem::path("/abs/initrd"));
    CHECK(cfg->console.path == BASE / "../logs/console.log");
    CHECK(cfg->api_socket == BASE / "api.sock");
}

TEST_CASE("an empty path string is refused", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"boot": {"kernel": ""}})"), BASE)),
        Equals("boot.kernel: must not be empty"));
}

TEST_CASE("a device entry keeps its other keys as params and defaults to pci", "[config]")
{
    const json doc = json::parse(R"({"devices": [{"type": "rng"},
        {"type": "block", "transport": "mmio", "path": "disk.img", "readonly": true}]})");

    const auto cfg = parse_json(doc, BASE);

    REQUIRE(cfg);
    REQUIRE(cfg->devices.size() == 2);
    CHECK(cfg->devices[0].type == "rng");
    CHECK(cfg->devices[0].transport == Transport::pci);
    CHECK(cfg->devices[0].params == json::object());
    CHECK(cfg->devices[0].origin == "devices[0]");
    CHECK(cfg->devices[1].transport == Transport::mmio);
    CHECK(cfg->devices[1].params == json::parse(R"({"path": "disk.img", "readonly": true})"));
    CHECK(cfg->devices[1].origin == "devices[1]");
    CHECK(cfg->devices[1].base_dir == BASE);
}

TEST_CASE("a device entry with a bad transport names the entry and suggests one", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"devices": [{"type": "rng"}, {"type": "rng",
        "transport": "pcie"}]})"),
                   BASE)),
        Equals("devices[1].transport: \"pcie\" is not valid; did you mean \"pci\"?"));
    CHECK_THAT(
        error_text(parse_json(json::parse(R"({"devices": [{"type": "rng", "transport": "virtio"}]})"), BASE)),
        Contains("expected one of \"mmio\", \"pci\""));
}

TEST_CASE("a device entry without a string type is refused", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"devices": [{"transport": "pci"}]})"), BASE)),
        Contains("devices[0]: missing key \"type\""));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"devices": [{"type": ""}]})"), BASE)),
        Equals("devices[0].type: must not be empty"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"devices": [{"type": 3}]})"), BASE)),
        Equals("devices[0].type: expected a string, got an integer"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"devices": ["rng"]})"), BASE)),
        Contains("devices[0]: expected an object"));
}

TEST_CASE("on_reboot and log_level accept only their documented names", "[config]")
{
    CHECK_THAT(error_text(parse_json(json::parse(R"({"on_reboot": "reboot"})"), BASE)),
        Contains("on_reboot: \"reboot\" is not valid"));
    CHECK_THAT(error_text(parse_json(json::parse(R"({"log_level": "warning"})"), BASE)),
        Equals("log_level: \"warning\" is not valid; did you mean \"warn\"?"));
}

TEST_CASE("the enum names round-trip through to_string", "[config]")
{
    CHECK(to_string(ConsoleMode::socket) == "socket");
    CHECK(to_string(Transport::mmio) == "mmio");
    CHECK(to_string(OnReboot::restart) == "restart");
}

TEST_CASE("an unknown vm.mmio_discovery names the valid values", "[config]")
{
    const auto cfg = parse_json(json::parse(R"({"vm": {"mmio_discovery": "dt"}})"), BASE);

    REQUIRE_FALSE(cfg);
    CHECK_THAT(error_text(cfg), Contains("vm.mmio_discovery") && Contains("acpi") && Contains("cmdline"));
}

TEST_CASE("the transport-level device keys are read by the config, the rest is left to the device", "[config]")
{
    const auto cfg = parse_json(json::parse(R"({"devices": [
        {"type": "rng", "transport": "mmio", "packed": false, "notification_data": true, "iommu": true, "source": "x"},
        {"type": "rng"}
    ]})"), BASE);

    REQUIRE(cfg);
    const auto& d = cfg->devices.at(0);
    CHECK_FALSE(d.packed);
    CHECK(d.notification_data == std::optional<bool>(true));
    CHECK(d.iommu);
    CHECK(d.params == json::parse(R"({"source": "x"})"));
    const auto& e = cfg->devices.at(1);
    CHECK(e.packed);
    CHECK_FALSE(e.notification_data);
    CHECK_FALSE(e.iommu);
}

TEST_CASE("a transport-level device key of the wrong type is named", "[config]")
{
    const auto cfg = parse_json(json::parse(R"({"devices": [{"type": "rng", "packed": "yes"}]})"), BASE);

    REQUIRE_FALSE(cfg);
    CHECK_THAT(error_text(cfg), Contains("devices[0].packed"));
}
