// SPDX-License-Identifier: Apache-2.0
// Shared by the JSON and command-line readers: value names and device entries.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/base/result.hpp"
#include "vmm/config/config.hpp"

namespace vmm::config::detail {

// Indexed by the enum's value.
inline constexpr std::array<std::string_view, 4> CONSOLE_MODE_NAMES { "stdio", "file", "socket", "off" };
inline constexpr std::array<std::string_view, 2> TRANSPORT_NAMES { "mmio", "pci" };
inline constexpr std::array<std::string_view, 2> ON_REBOOT_NAMES { "exit", "restart" };
inline constexpr std::array<std::string_view, 2> MMIO_DISCOVERY_NAMES { "acpi", "cmdline" };
// The names vmm::parse_log_level accepts.
inline constexpr std::array<std::string_view, 7> LOG_LEVEL_NAMES { "trace", "debug", "info", "warn", "error",
    "critical", "off" };

template <class E, std::size_t N>
std::optional<E> from_name(std::string_view name, const std::array<std::string_view, N>& names)
{
    for (std::size_t i = 0; i < N; ++i) {
        if (names[i] == name) {
            return static_cast<E>(i);
        }
    }
    return std::nullopt;
}

// The value of a non-negative whole number, also when written as 2.0 or 1e9.
[[nodiscard]] std::optional<std::uint64_t> integral_value(const nlohmann::json& value);

// "an object", "a string", ...: for "expected X, got Y" messages.
[[nodiscard]] std::string_view type_name(const nlohmann::json& value);

// One devices entry, from a config file or a --device flag (turned into an object first).
// `key_prefix` goes before each key in messages: "devices[2]." or "--device #1: ".
[[nodiscard]] Result<DeviceConfig> device_from_json(const nlohmann::json& entry, std::string origin,
    std::string_view key_prefix, const std::filesystem::path& base_dir);

} // namespace vmm::config::detail
