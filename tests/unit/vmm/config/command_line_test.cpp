// SPDX-License-Identifier: Apache-2.0
// Tests for parse_command_line: subcommands, run's flags over a file, --device specs.
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string_view>

#include <catch2/catch.hpp>

#include "test_support.hpp"
#include "vmm/config/command_line.hpp"
#include "vmm/config/exit_status.hpp"

using namespace vmm::config;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using nlohmann::json;
using vmm::config::test::error_text;
using vmm::config::test::TempDir;
namespace fs = std::filesystem;

namespace {

vmm::Result<Command> parse(std::initializer_list<std::string_view> args)
{
    return parse_command_line(std::span<const std::string_view>(args.begin(), args.size()));
}

} // namespace

TEST_CASE("--help and -h and help and run --help all ask for help", "[config]")
{
    CHECK(parse({ "--help" }).value().kind == Command::Kind::help);
    CHECK(parse({ "-h" }).value().kind == Command::Kind::help);
    CHECK(parse({ "help" }).value().kind == Command::Kind::help);
    CHECK(parse({ "run", "--cpus", "2", "--help" }).value().kind == Command::Kind::help);
    CHECK(parse({ "validate", "--help" }).value().kind == Command::Kind::help);
}

TEST_CASE("--version asks for the version and takes no arguments", "[config]")
{
    CHECK(parse({ "--version" }).value().kind == Command::Kind::version);
    CHECK_FALSE(parse({ "--version", "x" }));
}

TEST_CASE("the usage text names both commands and every run option", "[config]")
{
    const std::string text = usage();

    CHECK_THAT(text, Contains("vireo validate FILE"));
    CHECK_THAT(text, Contains("--config FILE"));
    CHECK_THAT(text, Contains("--kernel PATH"));
    CHECK_THAT(text, Contains("--initrd PATH"));
    CHECK_THAT(text, Contains("--cmdline STRING"));
    CHECK_THAT(text, Contains("--cpus N"));
    CHECK_THAT(text, Contains("--memory SIZE"));
    CHECK_THAT(text, Contains("--console MODE"));
    CHECK_THAT(text, Contains("--device KEY=VAL"));
    CHECK_THAT(text, Contains("--api-socket PATH"));
    CHECK_THAT(text, Contains("--log-level LEVEL"));
    CHECK_THAT(text, Contains("--on-reboot ACTION"));
    CHECK_THAT(text, Contains("vireo test [--timeout S] [--results FILE] [--junit FILE]"));
    CHECK_THAT(text, Contains("--timeout SECONDS"));
    CHECK_THAT(text, Contains("--results FILE"));
    CHECK_THAT(text, Contains("--junit FILE"));
    CHECK_THAT(text, Contains("--console-log FILE"));
    CHECK_THAT(text, Contains("--strict"));
}

TEST_CASE("the exit status constants have the documented values and the usage text lists them", "[config]")
{
    CHECK(EXIT_POWER_OFF == 0);
    CHECK(EXIT_VMM_ERROR == 1);
    CHECK(EXIT_CONFIG_ERROR == 2);
    CHECK(EXIT_GUEST_CRASHED == 3);
    CHECK(EXIT_SIGNAL_BASE == 128);
    CHECK(EXIT_TEST_FAILED == 4);
    CHECK(EXIT_TIMEOUT == 124);
    CHECK_THAT(usage(),
        Contains("0 guest powered off, 1 VMM error, 2 bad configuration or usage,\n3 guest crashed"));
    CHECK_THAT(usage(), Contains("4 the\nconsole showed failed tests or kernel failures; 124 the time limit passed"));
}

TEST_CASE("no arguments or an unknown command is a usage error", "[config]")
{
    CHECK_THAT(error_text(parse({})), Contains("missing command"));
    CHECK_THAT(error_text(parse({ "rnu" })), Equals("unknown command \"rnu\"; did you mean \"run\"?"));
}

TEST_CASE("a run option given before the command points at vireo run", "[config]")
{
    CHECK_THAT(error_text(parse({ "--config", "vm.json" })), Contains("use vireo run --config"));
    CHECK_THAT(
        error_text(parse({ "vm.json" })), Contains("to run a config file use vireo run --config vm.json"));
}

TEST_CASE("run flags alone build the config with paths resolved against the current directory", "[config]")
{
    const auto cmd = parse({ "run", "--kernel", "bzImage", "--initrd=img/initrd", "--cmdline",
        "console=ttyS0 quiet", "--cpus", "2", "--memory", "1G", "--console", "file:out/console.log",
        "--api-socket", "/run/v.sock", "--log-level", "debug", "--on-reboot", "restart" });

    REQUIRE(cmd);
    CHECK(cmd->kind == Command::Kind::run);
    CHECK_FALSE(cmd->config_file);
    const VmConfig& cfg = cmd->config;
    CHECK(cfg.kernel == fs::current_path() / "bzImage");
    CHECK(cfg.initrd == fs::current_path() / "img/initrd");
    CHECK(cfg.cmdline == "console=ttyS0 quiet");
    CHECK(cfg.cpus == 2);
    CHECK(cfg.memory == GiB);
    CHECK(cfg.console.mode == ConsoleMode::file);
    CHECK(cfg.console.path == fs::current_path() / "out/console.log");
    CHECK(cfg.api_socket == fs::path("/run/v.sock"));
    CHECK(cfg.log_level == "debug");
    CHECK(cfg.on_reboot == OnReboot::restart);
}

TEST_CASE("flags override the file's values and --device appends to its devices", "[config]")
{
    const TempDir dir;
    const auto file = dir.write("vm.json", R"({"vm": {"cpus": 4, "memory": "1G"},
        "boot": {"kernel": "file-kernel", "cmdline": "from-file"}, "devices": [{"type": "rng"}]})");

    const auto cmd = parse({ "run", "--cpus", "2", "--kernel", "/abs/flag-kernel", "--config", file.string(),
        "--device", "type=console" });

    REQUIRE(cmd);
    CHECK(cmd->config_file == file);
    CHECK(cmd->config.cpus == 2);
    CHECK(cmd->config.memory == GiB);
    CHECK(cmd->config.kernel == fs::path("/abs/flag-kernel"));
    CHECK(cmd->config.cmdline == "from-file");
    REQUIRE(cmd->config.devices.size() == 2);
    CHECK(cmd->config.devices[0].type == "rng");
    CHECK(cmd->config.devices[1].type == "console");
    CHECK(cmd->config.devices[1].origin == "--device #1");
}

TEST_CASE("a relative path from the file resolves against its directory and one from a flag against the cwd",
    "[config]")
{
    const TempDir dir;
    const auto file = dir.write("sub/vm.json", R"({"boot": {"kernel": "k", "initrd": "i"}})");

    const auto cmd = parse({ "run", "--config", file.string(), "--initrd", "i" });

    REQUIRE(cmd);
    CHECK(cmd->config.kernel == dir.path() / "sub" / "k");
    CHECK(cmd->config.initrd == fs::current_path() / "i");
}

TEST_CASE("--console accepts only stdio or off or file:PATH or socket:PATH", "[config]")
{
    CHECK(parse({ "run", "--console", "off" }).value().config.console.mode == ConsoleMode::off);
    CHECK(parse({ "run", "--console", "socket:/tmp/c.sock" }).value().config.console.path == "/tmp/c.sock");
    CHECK_THAT(error_text(parse({ "run", "--console", "file" })), Contains("mode \"file\" needs a path"));
    CHECK_THAT(error_text(parse({ "run", "--console", "stdio:x" })), Contains("takes no path"));
    CHECK_THAT(error_text(parse({ "run", "--console", "serial" })),
        Contains("--console: \"serial\" is not a console mode"));
}

TEST_CASE("an unknown run option is refused with a suggestion", "[config]")
{
    CHECK_THAT(error_text(parse({ "run", "--cpu", "2" })),
        Equals("run: unknown option \"--cpu\"; did you mean \"--cpus\"?"));
    CHECK_THAT(error_text(parse({ "run", "-x" })), Contains("unknown option \"-x\""));
}

TEST_CASE("an option without its value is refused", "[config]")
{
    CHECK_THAT(error_text(parse({ "run", "--cpus" })), Equals("--cpus: missing value; use --cpus N"));
    CHECK_THAT(error_text(parse({ "run", "--kernel", "--cpus", "2" })), Contains("--kernel: missing value"));
}

TEST_CASE("a value starting with -- can be attached with =", "[config]")
{
    CHECK(parse({ "run", "--cmdline=--foo" }).value().config.cmdline == "--foo");
}

TEST_CASE("a bad --cpus or --memory value is refused", "[config]")
{
    CHECK_THAT(error_text(parse({ "run", "--cpus", "two" })), Contains("--cpus: \"two\" is not a number"));
    CHECK_THAT(error_text(parse({ "run", "--cpus", "2x" })), Contains("is not a number"));
    CHECK_THAT(error_text(parse({ "run", "--cpus", "99999999999" })), Contains("out of range"));
    CHECK_THAT(error_text(parse({ "run", "--memory", "12Q" })), Contains("--memory: \"12Q\" is not a size"));
}

TEST_CASE("a scalar option given twice is refused", "[config]")
{
    CHECK_THAT(error_text(parse({ "run", "--cpus", "1", "--cpus=2" })), Contains("--cpus: given twice"));
}

TEST_CASE("a stray positional argument to run is refused", "[config]")
{
    CHECK_THAT(error_text(parse({ "run", "vm.json" })), Contains("unexpected argument \"vm.json\""));
}

TEST_CASE("bad --log-level and --on-reboot values are refused", "[config]")
{
    CHECK_THAT(
        error_text(parse({ "run", "--log-level", "loud" })), Contains("--log-level: \"loud\" is not valid"));
    CHECK_THAT(error_text(parse({ "run", "--on-reboot", "reset" })),
        Contains("--on-reboot: \"reset\" is not valid"));
}

TEST_CASE("--device values become numbers or booleans or strings by the documented rule", "[config]")
{
    const auto cmd = parse({ "run", "--device",
        "type=block,transport=mmio,queues=4,addr=0x1f,offset=-2,readonly=on,discard=false,size=512M,path="
        "disk.img" });

    REQUIRE(cmd);
    REQUIRE(cmd->config.devices.size() == 1);
    const DeviceConfig& dev = cmd->config.devices[0];
    CHECK(dev.type == "block");
    CHECK(dev.transport == Transport::mmio);
    CHECK(dev.params == json::parse(R"({"queues": 4, "addr": 31, "offset": -2, "readonly": true,
        "discard": false, "size": "512M", "path": "disk.img"})"));
    CHECK(dev.base_dir == fs::current_path());
}

TEST_CASE("--device strings that only look numeric stay strings", "[config]")
{
    const auto cmd = parse({ "run", "--device", "type=x,a=0x,b=1e3,c=+5,d=ON,e=" });

    REQUIRE(cmd);
    CHECK(cmd->config.devices[0].params
        == json::parse(R"({"a": "0x", "b": "1e3", "c": "+5", "d": "ON", "e": ""})"));
}

TEST_CASE("each --device flag adds one entry numbered from 1", "[config]")
{
    const auto cmd = parse({ "run", "--device", "type=rng", "--device=type=rng,transport=mmio" });

    REQUIRE(cmd);
    REQUIRE(cmd->config.devices.size() == 2);
    CHECK(cmd->config.devices[0].transport == Transport::pci);
    CHECK(cmd->config.devices[1].transport == Transport::mmio);
    CHECK(cmd->config.devices[1].origin == "--device #2");
}

TEST_CASE("a --device key given twice is refused", "[config]")
{
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng,transport=pci,transport=mmio" })),
        Equals("--device #1: key \"transport\" given twice; give it once"));
}

TEST_CASE("malformed --device specs are refused with the flag's number", "[config]")
{
    CHECK_THAT(error_text(parse({ "run", "--device", "transport=pci" })),
        Contains("--device #1: missing key \"type\""));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng", "--device", "type=rng,mmio" })),
        Equals("--device #2: \"mmio\" is not KEY=VALUE"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng," })), Contains("empty item"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng,transport=pcie" })),
        Contains("--device #1: transport: \"pcie\" is not valid; did you mean \"pci\"?"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=7" })),
        Contains("--device #1: type: expected a string, got an integer"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=x,n=99999999999999999999" })),
        Contains("does not fit in 64 bits"));
}

TEST_CASE("validate FILE loads the file and reports its errors", "[config]")
{
    const TempDir dir;
    const auto good = dir.write("good.json", R"({"vm": {"cpus": 3}})");
    const auto bad = dir.write("bad.json", R"({"vm": {"cpsu": 3}})");

    const auto cmd = parse({ "validate", good.string() });

    REQUIRE(cmd);
    CHECK(cmd->kind == Command::Kind::validate);
    CHECK(cmd->config_file == good);
    CHECK(cmd->config.cpus == 3);
    CHECK_THAT(error_text(parse({ "validate", bad.string() })),
        Contains("vm.cpsu: unknown key; did you mean \"cpus\"?"));
}

TEST_CASE("validate needs exactly one file", "[config]")
{
    CHECK_THAT(error_text(parse({ "validate" })), Contains("missing config file"));
    CHECK_THAT(
        error_text(parse({ "validate", "a.json", "b.json" })), Contains("unexpected argument \"b.json\""));
    CHECK_THAT(error_text(parse({ "validate", "--kernel", "k" })), Contains("unknown option \"--kernel\""));
}

TEST_CASE("run --config with a missing file is an error naming it", "[config]")
{
    const TempDir dir;
    const auto missing = dir.path() / "missing.json";

    CHECK_THAT(error_text(parse({ "run", "--config", missing.string() })),
        Contains(missing.string() + ": cannot open config file"));
}

TEST_CASE("test takes run's options and its own; the console log goes beside the results", "[config]")
{
    const auto cmd = parse({ "test", "--kernel", "/k", "--timeout", "2.5", "--results", "/out/r.json", "--junit",
        "/out/r.xml" });
    REQUIRE(cmd);
    CHECK(cmd->kind == Command::Kind::test);
    CHECK(cmd->config.kernel == fs::path("/k"));
    CHECK(cmd->test.timeout_seconds == 2.5);
    CHECK(cmd->test.results == fs::path("/out/r.json"));
    CHECK(cmd->test.junit == fs::path("/out/r.xml"));
    CHECK(cmd->test.console_log == fs::path("/out/r.console.log"));

    const auto only_junit = parse({ "test", "--kernel", "/k", "--junit", "/out/j.xml" });
    REQUIRE(only_junit);
    CHECK(only_junit->test.console_log == fs::path("/out/j.console.log"));
    const auto given = parse({ "test", "--kernel", "/k", "--results", "/o/r.json", "--console-log", "/o/c.txt" });
    REQUIRE(given);
    CHECK(given->test.console_log == fs::path("/o/c.txt"));
    const auto none = parse({ "test", "--kernel", "/k" });
    REQUIRE(none);
    CHECK_FALSE(none->test.console_log);
    CHECK_FALSE(none->test.timeout_seconds);
    CHECK(parse({ "test", "--help" }).value().kind == Command::Kind::help);

    const auto known = parse({ "test", "--kernel", "/k", "--known-failure", "XSAVE consistency", "--known-failure=b" });
    REQUIRE(known);
    CHECK(known->test.known_failures == std::vector<std::string> { "XSAVE consistency", "b" });
    CHECK_THAT(error_text(parse({ "test", "--kernel", "/k", "--known-failure=" })), Contains("the text is empty"));
    CHECK_THAT(error_text(parse({ "run", "--kernel", "/k", "--known-failure", "x" })),
        Contains("an option of the test command"));
    CHECK(parse({ "test", "--kernel", "/k", "--strict" }).value().test.strict);
    CHECK_FALSE(parse({ "test", "--kernel", "/k" }).value().test.strict);
    CHECK_THAT(error_text(parse({ "test", "--kernel", "/k", "--strict=yes" })), Contains("--strict takes no value"));
    CHECK_THAT(error_text(parse({ "run", "--kernel", "/k", "--strict" })), Contains("an option of the test command"));
}

TEST_CASE("test's options are refused on run, and bad values are refused", "[config]")
{
    CHECK_THAT(error_text(parse({ "run", "--kernel", "/k", "--timeout", "5" })),
        Contains("--timeout is an option of the test command"));
    CHECK_THAT(error_text(parse({ "run", "--kernel", "/k", "--junit", "x.xml" })), Contains("vireo test --junit"));
    for (const char* bad : { "0", "-1", "abc", "5s", "", "1e9", "nan" }) {
        CAPTURE(bad);
        CHECK_THAT(error_text(parse({ "test", "--kernel", "/k", "--timeout", bad })),
            Contains("--timeout: \"" + std::string(bad) + "\" is not a number of seconds"));
    }
    CHECK_THAT(error_text(parse({ "test", "--kernel", "/k", "--results", "/o/same", "--junit", "/o/./same" })),
        Contains("name the same file"));
    CHECK_THAT(error_text(parse({ "test", "--kernel", "/k", "--tiemout", "5" })), Contains("did you mean \"--timeout\"?"));
}

TEST_CASE("--device KEY.SUBKEY=VALUE sets a key of an object-valued key", "[config]")
{
    const auto cmd = parse({ "run", "--device",
        "type=rng,virtio_faults.delay_used_ms=100,virtio_faults.refuse_features_ok=on,rate_limit.burst=4096" });
    REQUIRE(cmd.has_value());
    const DeviceConfig& dev = cmd->config.devices[0];
    CHECK(dev.virtio_faults == json::parse(R"({"delay_used_ms": 100, "refuse_features_ok": true})"));
    CHECK(dev.params.at("rate_limit") == json::parse(R"({"burst": 4096})"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng,rate_limit=5,rate_limit.burst=4" })),
        Contains("\"rate_limit\" given both as a value and with .burst"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng,rate_limit.burst=4,rate_limit=5" })),
        Contains("\"rate_limit\" given both as a value and with subkeys"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng,a.b.c=1" })), Contains("is not KEY or KEY.SUBKEY"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng,.b=1" })), Contains("is not KEY or KEY.SUBKEY"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng,a.b=1,a.b=2" })),
        Contains("key \"a.b\" given twice"));
    CHECK_THAT(error_text(parse({ "run", "--device", "type=rng,virtio_faults=3" })),
        Contains("virtio_faults: expected an object"));
}
