// SPDX-License-Identifier: Apache-2.0
// vireo: the command-line entry point. argv → Command → Vm → run → exit status.
#include <signal.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "virtio/registry.hpp"
#include "vmm/base/log.hpp"
#include "vmm/config/command_line.hpp"
#include "vmm/config/config.hpp"
#include "vmm/config/exit_status.hpp"
#include "vmm/testing/run_test.hpp"
#include "vmm/vm.hpp"

namespace {

// Log lines go to stderr so that a console on stdio stays the guest's alone.
void init_logging(const std::string& level_name)
{
    auto logger = spdlog::stderr_color_mt("vireo");
    logger->set_pattern("vireo: %^%l%$: %v");
    spdlog::set_default_logger(logger);
    spdlog::level::level_enum level = spdlog::level::info;
    if (vmm::parse_log_level(level_name, &level)) {
        spdlog::set_level(level);
    }
}

// Each device kind checks its own keys (and, for example, that a disk image exists).
vmm::Result<> validate_all(const vmm::config::VmConfig& cfg)
{
    return vmm::config::validate(cfg, [](const vmm::config::DeviceConfig& d) { return vmm::virtio::validate_device(d); });
}

int config_error(const vmm::Error& e)
{
    std::fprintf(stderr, "vireo: error: %s\n", e.describe().c_str());
    return vmm::config::EXIT_CONFIG_ERROR;
}

} // namespace

int main(int argc, char** argv)
{
    std::vector<std::string_view> args(argv + 1, argv + argc);
    auto command = vmm::config::parse_command_line(args);
    if (!command) {
        std::fprintf(stderr, "vireo: error: %s\n(see vireo --help)\n", command.error().describe().c_str());
        return vmm::config::EXIT_CONFIG_ERROR;
    }
    using Kind = vmm::config::Command::Kind;
    switch (command->kind) {
    case Kind::help:
        std::fputs(vmm::config::usage().c_str(), stdout);
        return 0;
    case Kind::version:
        std::puts("vireo " VIREO_VERSION);
        return 0;
    case Kind::validate:
        if (auto ok = validate_all(command->config); !ok) {
            return config_error(ok.error());
        }
        std::printf("%s: valid\n", command->config_file ? command->config_file->c_str() : "configuration");
        return 0;
    case Kind::run:
    case Kind::test:
        break;
    }

    const auto& cfg = command->config;
    init_logging(cfg.log_level);
    // A write past RLIMIT_FSIZE raises SIGXFSZ, which would kill the VMM: ignored, the write
    // fails with EFBIG instead and the guest gets an I/O error for that one request.
    ::signal(SIGXFSZ, SIG_IGN);
    if (auto ok = validate_all(cfg); !ok) {
        return config_error(ok.error());
    }
    if (command->kind == Kind::test) {
        return vmm::testing::run_test(cfg, command->test);
    }
    return vmm::run_vm(cfg).exit_status;
}
