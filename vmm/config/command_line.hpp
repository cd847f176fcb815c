// SPDX-License-Identifier: Apache-2.0
// The vireo command line: run, test, validate, --help, --version.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/base/result.hpp"
#include "vmm/config/config.hpp"

namespace vmm::config {

// vireo test's own options (see usage()).
struct TestOptions {
    std::optional<double> timeout_seconds;
    std::optional<std::filesystem::path> results;     // JSON
    std::optional<std::filesystem::path> junit;       // JUnit XML
    std::optional<std::filesystem::path> console_log; // default: beside the results
    std::vector<std::string> known_failures;          // texts that mark a kernel failure as known
    bool strict = false; // a driver's spec violation fails the run
};

struct Command {
    enum class Kind { run, test, validate, help, version };
    Kind kind = Kind::help;
    // For run: the file's values with the flags applied; for validate: the file's values.
    VmConfig config;
    std::optional<std::filesystem::path> config_file;
    TestOptions test; // for test
};

// `args` excludes argv[0]. Loads --config (or validate's FILE) first, then applies the flags on
// top. Does not call validate(): the caller does, with the device registry's validator.
[[nodiscard]] Result<Command> parse_command_line(std::span<const std::string_view> args);

// The text for --help.
[[nodiscard]] std::string usage();

} // namespace vmm::config
