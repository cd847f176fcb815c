// SPDX-License-Identifier: Apache-2.0
// Reading a device entry's own keys (DeviceConfig::params), with the config code's messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/base/result.hpp"

namespace vmm::virtio::params {

// Messages start with the key's path inside the entry ("rate_limit.burst: ...",
// "ports[1].backend: ..."); config::validate() and make_device() put the entry's origin and
// type in front. They read like parse_json's: "expected X, got Y", "unknown key; did you
// mean ...?".

// "parent.key", or just "key" at the top.
[[nodiscard]] std::string join(std::string_view parent, std::string_view key);

// Every key of `obj` is one of `allowed`; `where` is the object's own path ("" at the top).
[[nodiscard]] Result<> check_keys(
    const nlohmann::json& obj, std::string_view where, std::span<const std::string_view> allowed);

// An array of at most `max` objects, each with only keys from `allowed`: the objects, with
// their paths ("where[i]"), for the caller to read. Messages name the array or the element.
struct Element {
    const nlohmann::json* object;
    std::string where;
};
[[nodiscard]] Result<std::vector<Element>> object_array(
    const nlohmann::json& v, std::string_view where, std::size_t max, std::span<const std::string_view> allowed);

// The value under `key`, or null when absent.
[[nodiscard]] const nlohmann::json* find(const nlohmann::json& obj, std::string_view key);

[[nodiscard]] Result<bool> as_bool(const nlohmann::json& v, std::string_view where);
[[nodiscard]] Result<std::string> as_nonempty_string(const nlohmann::json& v, std::string_view where);
// A whole number in [min, max] (2.0 and 1e3 count, as in the rest of the config).
[[nodiscard]] Result<std::uint64_t> as_uint(
    const nlohmann::json& v, std::string_view where, std::uint64_t min, std::uint64_t max);
// A byte count: a whole number, or a size string ("512M", config::parse_size), at most `max`.
[[nodiscard]] Result<std::uint64_t> as_size(const nlohmann::json& v, std::string_view where, std::uint64_t max);
// The index of the string value among `names`.
[[nodiscard]] Result<std::size_t> as_choice(
    const nlohmann::json& v, std::string_view where, std::span<const std::string_view> names);
// A non-empty path; a relative one resolves against base_dir (DeviceConfig::base_dir).
[[nodiscard]] Result<std::filesystem::path> as_path(
    const nlohmann::json& v, std::string_view where, const std::filesystem::path& base_dir);

} // namespace vmm::virtio::params
