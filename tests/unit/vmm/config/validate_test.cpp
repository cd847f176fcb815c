// SPDX-License-Identifier: Apache-2.0
// Tests for validate: bounds, the kernel and initrd files, console and socket paths, devices.
#include <string>

#include <catch2/catch.hpp>

#include "test_support.hpp"
#include "vmm/config/config.hpp"

using namespace vmm::config;
using Catch::Matchers::Contains;
using vmm::config::test::error_text;
using vmm::config::test::TempDir;

namespace {

// A config that passes validate(), with its kernel in `dir`.
VmConfig valid_config(const TempDir& dir)
{
    VmConfig cfg;
    cfg.kernel = dir.write("bzImage", "not really a kernel");
    return cfg;
}

} // namespace

namespace {

DeviceConfig device(std::string type, Transport transport, std::string origin)
{
    DeviceConfig d;
    d.type = std::move(type);
    d.transport = transport;
    d.origin = std::move(origin);
    return d;
}

} // namespace

TEST_CASE("a config with an existing kernel and default values is valid", "[config]")
{
    const TempDir dir;

    CHECK(validate(valid_config(dir)));
}

TEST_CASE("cpus outside 1 to 255 are refused", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);

    cfg.cpus = 0;
    CHECK_THAT(error_text(validate(cfg)), Contains("cpus: 0 is out of range; use 1 to 255"));
    cfg.cpus = 256;
    CHECK_THAT(error_text(validate(cfg)), Contains("cpus: 256 is out of range"));
    cfg.cpus = 255;
    CHECK(validate(cfg));
}

TEST_CASE("memory below 32 MiB or above 1 TiB is refused", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);

    cfg.memory = 16 * MiB;
    CHECK_THAT(error_text(validate(cfg)),
        Contains("memory: 16 MiB is too small; a Linux guest needs at least 32 MiB"));
    cfg.memory = MIN_MEMORY - 1;
    CHECK_FALSE(validate(cfg));
    cfg.memory = MAX_MEMORY + 1;
    CHECK_THAT(error_text(validate(cfg)), Contains("more than the maximum of 1024 GiB"));
    cfg.memory = MIN_MEMORY;
    CHECK(validate(cfg));
    cfg.memory = MAX_MEMORY;
    CHECK(validate(cfg));
}

TEST_CASE("with hugepages memory must be a multiple of 2 MiB", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);
    cfg.hugepages = true;

    cfg.memory = 513 * MiB;
    CHECK_THAT(error_text(validate(cfg)),
        Contains("513 MiB is not a multiple of 2 MiB, which vm.hugepages requires; "
                 "use 514 MiB instead"));
    cfg.memory = 514 * MiB;
    CHECK(validate(cfg));
}

TEST_CASE("a missing kernel is refused and where to set it is named", "[config]")
{
    VmConfig cfg;

    CHECK_THAT(error_text(validate(cfg)),
        Contains("no kernel given; set boot.kernel in the config file or pass --kernel"));
}

TEST_CASE("a kernel path that does not exist is refused", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);
    cfg.kernel = dir.path() / "vmlinux-missing";

    const auto r = validate(cfg);

    REQUIRE_FALSE(r);
    CHECK(r.error().code == vmm::Errc::not_found);
    CHECK_THAT(error_text(r), Contains("kernel \"" + cfg.kernel.string() + "\" does not exist"));
}

TEST_CASE("a kernel that is a directory is refused", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);
    cfg.kernel = dir.path();

    CHECK_THAT(error_text(validate(cfg)), Contains("is not a regular file"));
}

TEST_CASE("an initrd is checked like the kernel", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);

    cfg.initrd = dir.path() / "initrd-missing";
    CHECK_THAT(error_text(validate(cfg)), Contains("initrd \"" + cfg.initrd->string() + "\" does not exist"));
    cfg.initrd = dir.write("initrd.img", "x");
    CHECK(validate(cfg));
}

TEST_CASE("a console file in a directory that does not exist is refused", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);
    cfg.console
        = ConsoleConfig { .mode = ConsoleMode::file, .path = dir.path() / "no-such-dir" / "console.log" };

    CHECK_THAT(error_text(validate(cfg)), Contains("console file"));
    CHECK_THAT(error_text(validate(cfg)), Contains("does not exist; create it"));
    cfg.console.path = dir.path() / "console.log";
    CHECK(validate(cfg));
}

TEST_CASE("a console file path that is a directory is refused", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);
    cfg.console = ConsoleConfig { .mode = ConsoleMode::file, .path = dir.path() };

    CHECK_THAT(error_text(validate(cfg)), Contains("is a directory"));
}

TEST_CASE("a socket path longer than sun_path allows is refused", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);

    cfg.api_socket = dir.path() / std::string(120, 'a');
    CHECK_THAT(error_text(validate(cfg)), Contains("a Unix socket path holds at most 107"));
    cfg.api_socket = dir.path() / "api.sock";
    CHECK(validate(cfg));
    cfg.console = ConsoleConfig { .mode = ConsoleMode::socket, .path = dir.path() / std::string(120, 'c') };
    CHECK_THAT(error_text(validate(cfg)), Contains("console socket"));
}

TEST_CASE("the device validator is called for each device and its error carries the origin", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);
    cfg.devices.push_back(device("rng", Transport::pci, "devices[0]"));
    cfg.devices.push_back(device("blk", Transport::mmio, "--device #1"));
    int calls = 0;
    const DeviceValidator validator = [&calls](const DeviceConfig& dev) -> vmm::Result<> {
        ++calls;
        if (dev.type != "rng") {
            return vmm::fail(vmm::Errc::not_found, "unknown device type \"{}\"", dev.type);
        }
        return {};
    };

    const auto r = validate(cfg, validator);

    REQUIRE_FALSE(r);
    CHECK(calls == 2);
    CHECK(error_text(r) == "--device #1 (type \"blk\"): unknown device type \"blk\"");
    CHECK(r.error().code == vmm::Errc::not_found);
}

TEST_CASE("without a device validator device entries pass the generic checks only", "[config]")
{
    const TempDir dir;
    VmConfig cfg = valid_config(dir);
    cfg.devices.push_back(device("no-such-device", Transport::pci, "devices[0]"));

    CHECK(validate(cfg));
}
