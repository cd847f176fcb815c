// SPDX-License-Identifier: Apache-2.0
// Command-line parsing: subcommands, run's flags over the config file, --device specs.
#include "vmm/config/command_line.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vmm/base/log.hpp"
#include "vmm/config/device_flag.hpp"
#include "vmm/config/internal.hpp"
#include "vmm/config/suggest.hpp"

namespace vmm::config {

namespace fs = std::filesystem;

namespace {

// run's options as given; applied after the file is loaded, whatever their order.
struct RunFlags {
    std::optional<std::string_view> config;
    std::optional<std::string_view> kernel;
    std::optional<std::string_view> initrd;
    std::optional<std::string_view> cmdline;
    std::optional<std::string_view> cpus;
    std::optional<std::string_view> memory;
    std::optional<std::string_view> console;
    std::optional<std::string_view> api_socket;
    std::optional<std::string_view> log_level;
    std::optional<std::string_view> on_reboot;
    std::vector<std::string_view> devices;
    // test only
    std::optional<std::string_view> timeout;
    std::optional<std::string_view> results;
    std::optional<std::string_view> junit;
    std::optional<std::string_view> console_log;
    std::vector<std::string_view> known_failures;
    bool strict = false;
};

struct Flag {
    std::string_view name;
    std::string_view metavar;
    std::optional<std::string_view> RunFlags::*field; // nullptr: a flag that repeats (`list`) or a switch
    bool test_only = false;
    std::vector<std::string_view> RunFlags::*list = nullptr;
    bool RunFlags::*toggle = nullptr; // a switch without a value
};

constexpr std::array<Flag, 17> FLAGS { {
    { "--config", "FILE", &RunFlags::config },
    { "--kernel", "PATH", &RunFlags::kernel },
    { "--initrd", "PATH", &RunFlags::initrd },
    { "--cmdline", "STRING", &RunFlags::cmdline },
    { "--cpus", "N", &RunFlags::cpus },
    { "--memory", "SIZE", &RunFlags::memory },
    { "--console", "MODE", &RunFlags::console },
    { "--device", "KEY=VALUE,...", nullptr, false, &RunFlags::devices },
    { "--api-socket", "PATH", &RunFlags::api_socket },
    { "--log-level", "LEVEL", &RunFlags::log_level },
    { "--on-reboot", "exit|restart", &RunFlags::on_reboot },
    { "--timeout", "SECONDS", &RunFlags::timeout, true },
    { "--results", "FILE", &RunFlags::results, true },
    { "--junit", "FILE", &RunFlags::junit, true },
    { "--console-log", "FILE", &RunFlags::console_log, true },
    { "--known-failure", "TEXT", nullptr, true, &RunFlags::known_failures },
    { "--strict", "", nullptr, true, nullptr, &RunFlags::strict },
} };

constexpr std::array<std::string_view, 19> RUN_OPTION_NAMES { "--config", "--kernel", "--initrd", "--cmdline",
    "--cpus", "--memory", "--console", "--device", "--api-socket", "--log-level", "--on-reboot", "--timeout",
    "--results", "--junit", "--console-log", "--known-failure", "--strict", "--help", "-h" };
constexpr std::array<std::string_view, 6> COMMAND_NAMES { "run", "test", "validate", "help", "--help", "--version" };

const Flag* find_flag(std::string_view name)
{
    for (const Flag& flag : FLAGS) {
        if (flag.name == name) {
            return &flag;
        }
    }
    return nullptr;
}

bool is_help(std::string_view arg)
{
    return arg == "--help" || arg == "-h";
}

// Fills `flags`; returns false when --help was asked for. `command` is "run" or "test".
Result<bool> collect_run_flags(std::span<const std::string_view> args, RunFlags& flags, std::string_view command)
{
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (is_help(arg)) {
            return false;
        }
        if (arg.empty() || arg.front() != '-') {
            return fail(Errc::invalid_argument,
                "{0}: unexpected argument \"{1}\"; {0} takes only options (see \"vireo {0} --help\")", command, arg);
        }
        const auto eq = arg.find('=');
        const std::string_view name = arg.substr(0, eq);
        const Flag* flag = find_flag(name);
        if (flag == nullptr) {
            return fail(Errc::invalid_argument, "{}: unknown option \"{}\"{}", command, name,
                suggestion(name, RUN_OPTION_NAMES));
        }
        if (flag->test_only && command != "test") {
            return fail(Errc::invalid_argument, "{} is an option of the test command; use vireo test {} ...",
                name, name);
        }
        if (flag->toggle != nullptr) {
            if (eq != std::string_view::npos) {
                return fail(Errc::invalid_argument, "{} takes no value; give it alone", name);
            }
            flags.*(flag->toggle) = true;
            continue;
        }
        std::string_view value;
        if (eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
        } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
            // A value that starts with "--" has to be attached: --cmdline=--foo.
            value = args[++i];
        } else {
            return fail(Errc::invalid_argument, "{}: missing value; use {} {}", name, name, flag->metavar);
        }
        if (flag->field == nullptr) {
            (flags.*(flag->list)).push_back(value);
            continue;
        }
        std::optional<std::string_view>& slot = flags.*(flag->field);
        if (slot) {
            return fail(Errc::invalid_argument, "{}: given twice; give it once", name);
        }
        slot = value;
    }
    return true;
}

Result<fs::path> flag_path(std::string_view flag, std::string_view value, const fs::path& cwd)
{
    if (value.empty()) {
        return fail(Errc::invalid_argument, "{}: the path is empty", flag);
    }
    return cwd / fs::path(value);
}

Result<std::uint32_t> flag_cpus(std::string_view value)
{
    std::uint32_t n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc::result_out_of_range) {
        return fail(Errc::out_of_range, "--cpus: {} is out of range; use 1 to {}", value, MAX_CPUS);
    }
    if (value.empty() || ec != std::errc {} || end != value.data() + value.size()) {
        return fail(Errc::invalid_argument, "--cpus: \"{}\" is not a number; use 1 to {}", value, MAX_CPUS);
    }
    return n;
}

Result<ConsoleConfig> flag_console(std::string_view value, const fs::path& cwd)
{
    const auto colon = value.find(':');
    const std::string_view name = value.substr(0, colon);
    const auto mode = detail::from_name<ConsoleMode>(name, detail::CONSOLE_MODE_NAMES);
    if (!mode) {
        return fail(Errc::invalid_argument,
            "--console: \"{}\" is not a console mode{}; use stdio, file:PATH, socket:PATH or off", name,
            suggestion(name, detail::CONSOLE_MODE_NAMES));
    }
    ConsoleConfig console { .mode = *mode, .path = {} };
    const bool wants_path = *mode == ConsoleMode::file || *mode == ConsoleMode::socket;
    if (wants_path && (colon == std::string_view::npos || colon + 1 == value.size())) {
        return fail(Errc::invalid_argument, "--console: mode \"{}\" needs a path; use {}:PATH", name, name);
    }
    if (!wants_path && colon != std::string_view::npos) {
        return fail(
            Errc::invalid_argument, "--console: mode \"{}\" takes no path; use --console {}", name, name);
    }
    if (wants_path) {
        console.path = cwd / fs::path(value.substr(colon + 1));
    }
    return console;
}

template <class E, std::size_t N>
Result<E> flag_enum(
    std::string_view flag, std::string_view value, const std::array<std::string_view, N>& names)
{
    if (auto e = detail::from_name<E>(value, names)) {
        return *e;
    }
    return fail(Errc::invalid_argument, "{}: \"{}\" is not valid{}", flag, value, suggestion(value, names));
}

Result<> apply_run_flags(const RunFlags& flags, VmConfig& cfg)
{
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    if (ec) {
        return fail(Error { ec, "cannot determine the current directory: " + ec.message() });
    }
    if (flags.kernel) {
        cfg.kernel = VMM_TRY(flag_path("--kernel", *flags.kernel, cwd));
    }
    if (flags.initrd) {
        cfg.initrd = VMM_TRY(flag_path("--initrd", *flags.initrd, cwd));
    }
    if (flags.cmdline) {
        cfg.cmdline = std::string(*flags.cmdline);
    }
    if (flags.cpus) {
        cfg.cpus = VMM_TRY(flag_cpus(*flags.cpus));
    }
    if (flags.memory) {
        auto size = parse_size(*flags.memory);
        if (!size) {
            return fail(Error { size.error().code, "--memory: " + size.error().message });
        }
        cfg.memory = *size;
    }
    if (flags.console) {
        cfg.console = VMM_TRY(flag_console(*flags.console, cwd));
    }
    for (std::size_t i = 0; i < flags.devices.size(); ++i) {
        cfg.devices.push_back(VMM_TRY(parse_device_flag(flags.devices[i], i + 1, cwd)));
    }
    if (flags.api_socket) {
        cfg.api_socket = VMM_TRY(flag_path("--api-socket", *flags.api_socket, cwd));
    }
    if (flags.log_level) {
        spdlog::level::level_enum level {};
        if (!parse_log_level(*flags.log_level, &level)) {
            return fail(Errc::invalid_argument, "--log-level: \"{}\" is not valid{}", *flags.log_level,
                suggestion(*flags.log_level, detail::LOG_LEVEL_NAMES));
        }
        cfg.log_level = std::string(*flags.log_level);
    }
    if (flags.on_reboot) {
        cfg.on_reboot
            = VMM_TRY(flag_enum<OnReboot>("--on-reboot", *flags.on_reboot, detail::ON_REBOOT_NAMES));
    }
    return {};
}

Result<std::optional<double>> flag_timeout(const std::optional<std::string_view>& value)
{
    if (!value) {
        return std::optional<double> {};
    }
    double seconds = 0;
    const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), seconds);
    if (value->empty() || ec != std::errc {} || end != value->data() + value->size() || !(seconds > 0)
        || seconds > 7 * 24 * 3600.0) {
        return fail(Errc::invalid_argument,
            "--timeout: \"{}\" is not a number of seconds; use a positive number up to 604800, e.g. 300 or 2.5",
            *value);
    }
    return std::optional<double>(seconds);
}

// The console log goes beside the results unless given: out.json → out.console.log.
Result<TestOptions> test_options(const RunFlags& flags)
{
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    if (ec) {
        return fail(Error { ec, "cannot determine the current directory: " + ec.message() });
    }
    TestOptions t;
    t.timeout_seconds = VMM_TRY(flag_timeout(flags.timeout));
    t.strict = flags.strict;
    for (const std::string_view text : flags.known_failures) {
        if (text.empty()) {
            return fail(Errc::invalid_argument, "--known-failure: the text is empty; give a part of the report's lines, "
                "e.g. --known-failure \"XSAVE consistency problem\"");
        }
        t.known_failures.emplace_back(text);
    }
    if (flags.results) {
        t.results = VMM_TRY(flag_path("--results", *flags.results, cwd));
    }
    if (flags.junit) {
        t.junit = VMM_TRY(flag_path("--junit", *flags.junit, cwd));
    }
    if (flags.console_log) {
        t.console_log = VMM_TRY(flag_path("--console-log", *flags.console_log, cwd));
    } else if (t.results || t.junit) {
        fs::path beside = t.results ? *t.results : *t.junit;
        t.console_log = beside.replace_extension(".console.log");
    }
    for (const auto* a : { &t.results, &t.junit }) {
        for (const auto* b : { &t.junit, &t.console_log }) {
            if (a != b && *a && *b && (*a)->lexically_normal() == (*b)->lexically_normal()) {
                return fail(Errc::invalid_argument, "--results, --junit and --console-log name the same file {}; give each its own",
                    (*a)->string());
            }
        }
    }
    return t;
}

Result<Command> parse_run(std::span<const std::string_view> args, Command::Kind kind)
{
    RunFlags flags;
    const std::string_view command = kind == Command::Kind::test ? "test" : "run";
    if (!VMM_TRY(collect_run_flags(args, flags, command))) {
        return Command { .kind = Command::Kind::help, .config = {}, .config_file = {}, .test = {} };
    }
    Command cmd { .kind = kind, .config = {}, .config_file = {}, .test = {} };
    if (kind == Command::Kind::test) {
        cmd.test = VMM_TRY(test_options(flags));
    }
    if (flags.config) {
        if (flags.config->empty()) {
            return fail(Errc::invalid_argument, "--config: the path is empty");
        }
        cmd.config_file = fs::path(*flags.config);
        cmd.config = VMM_TRY(load_file(*cmd.config_file));
    }
    VMM_TRY(apply_run_flags(flags, cmd.config));
    return cmd;
}

Result<Command> parse_validate(std::span<const std::string_view> args)
{
    std::optional<std::string_view> file;
    for (std::string_view arg : args) {
        if (is_help(arg)) {
            return Command { .kind = Command::Kind::help, .config = {}, .config_file = {}, .test = {} };
        }
        if (arg.starts_with("-")) {
            return fail(
                Errc::invalid_argument, "validate: unknown option \"{}\"; use vireo validate FILE", arg);
        }
        if (file) {
            return fail(
                Errc::invalid_argument, "validate: unexpected argument \"{}\"; it checks one file", arg);
        }
        file = arg;
    }
    if (!file || file->empty()) {
        return fail(Errc::invalid_argument, "validate: missing config file; use vireo validate FILE");
    }
    Command cmd { .kind = Command::Kind::validate, .config = {}, .config_file = fs::path(*file), .test = {} };
    cmd.config = VMM_TRY(load_file(*cmd.config_file));
    return cmd;
}

} // namespace

Result<Command> parse_command_line(std::span<const std::string_view> args)
{
    if (args.empty()) {
        return fail(Errc::invalid_argument,
            "missing command; use \"vireo run ...\" or \"vireo validate FILE\" (see vireo --help)");
    }
    const std::string_view command = args.front();
    const auto rest = args.subspan(1);
    if (is_help(command) || command == "help") {
        return Command { .kind = Command::Kind::help, .config = {}, .config_file = {}, .test = {} };
    }
    if (command == "--version") {
        if (!rest.empty()) {
            return fail(Errc::invalid_argument, "--version: unexpected argument \"{}\"", rest.front());
        }
        return Command { .kind = Command::Kind::version, .config = {}, .config_file = {}, .test = {} };
    }
    if (command == "run") {
        return parse_run(rest, Command::Kind::run);
    }
    if (command == "test") {
        return parse_run(rest, Command::Kind::test);
    }
    if (command == "validate") {
        return parse_validate(rest);
    }
    const std::string_view name = command.substr(0, command.find('='));
    if (find_flag(name) != nullptr) {
        return fail(Errc::invalid_argument, "\"{}\" is an option of the run command; use vireo run {} ...",
            name, name);
    }
    if (command.ends_with(".json")) {
        return fail(Errc::invalid_argument,
            "unknown command \"{}\"; to run a config file use vireo run --config {}", command, command);
    }
    return fail(
        Errc::invalid_argument, "unknown command \"{}\"{}", command, suggestion(command, COMMAND_NAMES));
}

std::string usage()
{
    return R"(usage: vireo run --config FILE [OPTIONS...]
       vireo run --kernel PATH [OPTIONS...]
       vireo test [--timeout S] [--results FILE] [--junit FILE] [OPTIONS...]
       vireo validate FILE
       vireo --help | --version

Commands:
  run        boot a VM from a config file, the options below, or both
  test       boot like run, then judge the run: the guest's exit code, KTAP results
             (KUnit, kselftest) and kernel failures (panic, oops, WARN, KASAN, ...) on
             the console (ttyS0), and a time limit; writes the verdict as JSON and JUnit
  validate   check a config file (syntax, keys, bounds, files) without running it

Options of run (each overrides the config file's value; --device adds to its devices):
  --config FILE          JSON config file (see configs/README.md)
  --kernel PATH          kernel image                                  boot.kernel
  --initrd PATH          initial ramdisk                               boot.initrd
  --cmdline STRING       kernel command line                           boot.cmdline
  --cpus N               number of vCPUs, 1 to 255 (default 1)         vm.cpus
  --memory SIZE          guest RAM, e.g. 512M, 2G (default 512M)       vm.memory
  --console MODE         stdio, file:PATH, socket:PATH or off          console
  --device KEY=VAL,...   add a device, e.g. type=rng,transport=mmio    devices[]
  --api-socket PATH      control socket                                api_socket
  --log-level LEVEL      trace, debug, info, warn, error, critical, off (default info)
  --on-reboot ACTION     exit or restart when the guest reboots (default exit)

Options of test (besides all of run's):
  --timeout SECONDS      end the run after this long, with each vCPU's state in the results
  --results FILE         write the verdict, test cases and kernel failures as JSON
  --junit FILE           write them as JUnit XML (one test case per KTAP case)
  --console-log FILE     keep the console output (default: beside --results or --junit,
                         as NAME.console.log)
  --known-failure TEXT   a kernel failure whose report has a line containing TEXT is
                         listed as known and does not fail the run (repeatable)
  --strict               the drivers' violations of the virtio spec's driver requirements
                         (always in the results) fail the run

An option's value follows it or is attached with '=' (--cpus=2); a value that starts with
"--" must be attached. Relative paths resolve against the current directory; in a config
file, against the file's directory. In --device, a value that is a whole decimal or 0x
number becomes a number, on/off/true/false a boolean, anything else a string.

Exit status: 0 guest powered off, 1 VMM error, 2 bad configuration or usage,
3 guest crashed, 128+N stopped by signal N; a code the guest writes to the
test-exit port (0xf4) is returned as is. test: 0 only when the run passed; 4 the
console showed failed tests or kernel failures; 124 the time limit passed.
)";
}

} // namespace vmm::config
