// SPDX-License-Identifier: Apache-2.0
// --device KEY=VALUE,... → DeviceConfig.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "vmm/base/result.hpp"
#include "vmm/config/config.hpp"

namespace vmm::config {

// Maps one --device value onto a devices entry, key for key. A value that is a whole decimal
// number (optionally negative) or 0x hex number becomes a JSON number; on, off, true and
// false become booleans; anything else stays a string. Keys may not repeat, and values cannot
// contain commas (use a config file for those). `number` counts --device flags from 1, for the
// origin "--device #N"; relative paths among the keys resolve against `base_dir`.
[[nodiscard]] Result<DeviceConfig> parse_device_flag(
    std::string_view spec, std::size_t number, const std::filesystem::path& base_dir);

} // namespace vmm::config
