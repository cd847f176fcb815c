// SPDX-License-Identifier: Apache-2.0
// --device KEY=VALUE,... parsing, with the number/boolean/string typing rule.
#include "vmm/config/device_flag.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "vmm/config/internal.hpp"

namespace vmm::config {

namespace {

using nlohmann::json;

bool all_of_digits(std::string_view s, int base)
{
    for (char c : s) {
        const bool decimal = c >= '0' && c <= '9';
        const bool hex = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!decimal && !(base == 16 && hex)) {
            return false;
        }
    }
    return !s.empty();
}

template <class T>
Result<json> to_number(
    std::string_view digits, int base, std::string_view origin, std::string_view key, std::string_view value)
{
    T n {};
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n, base);
    if (ec != std::errc {} || end != digits.data() + digits.size()) {
        return fail(Errc::out_of_range, "{}: {}: {} does not fit in 64 bits", origin, key, value);
    }
    return json(n);
}

// The typing rule: numbers, then booleans, then strings.
Result<json> typed_value(std::string_view value, std::string_view origin, std::string_view key)
{
    if (value == "on" || value == "true") {
        return json(true);
    }
    if (value == "off" || value == "false") {
        return json(false);
    }
    if (value.size() > 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X')
        && all_of_digits(value.substr(2), 16)) {
        return to_number<std::uint64_t>(value.substr(2), 16, origin, key, value);
    }
    if (all_of_digits(value, 10)) {
        return to_number<std::uint64_t>(value, 10, origin, key, value);
    }
    if (value.size() > 1 && value[0] == '-' && all_of_digits(value.substr(1), 10)) {
        return to_number<std::int64_t>(value, 10, origin, key, value);
    }
    return json(std::string(value));
}

} // namespace

Result<DeviceConfig> parse_device_flag(
    std::string_view spec, std::size_t number, const std::filesystem::path& base_dir)
{
    const std::string origin = fmt::format("--device #{}", number);
    if (spec.empty()) {
        return fail(Errc::invalid_argument, "{}: empty; give KEY=VALUE pairs, e.g. type=rng", origin);
    }
    json entry = json::object();
    std::size_t pos = 0;
    while (pos <= spec.size()) {
        const std::size_t comma = std::min(spec.find(',', pos), spec.size());
        const std::string_view item = spec.substr(pos, comma - pos);
        pos = comma + 1;
        const auto eq = item.find('=');
        if (item.empty()) {
            return fail(
                Errc::invalid_argument, "{}: empty item in \"{}\"; remove the extra comma", origin, spec);
        }
        if (eq == std::string_view::npos || eq == 0) {
            return fail(Errc::invalid_argument, "{}: \"{}\" is not KEY=VALUE", origin, item);
        }
        const std::string key(item.substr(0, eq));
        // "parent.child=value" sets a key of an object-valued key (rate_limit.burst=4096,
        // virtio_faults.delay_used_ms=100).
        const std::size_t dot = key.find('.');
        json* target = &entry;
        std::string leaf = key;
        if (dot != std::string::npos) {
            const std::string parent = key.substr(0, dot);
            leaf = key.substr(dot + 1);
            if (parent.empty() || leaf.empty() || leaf.find('.') != std::string::npos) {
                return fail(Errc::invalid_argument, "{}: \"{}\" is not KEY or KEY.SUBKEY", origin, key);
            }
            if (entry.contains(parent) && !entry[parent].is_object()) {
                return fail(Errc::invalid_argument, "{}: \"{}\" given both as a value and with .{}", origin, parent, leaf);
            }
            target = &entry[parent];
        } else if (entry.contains(key) && entry[key].is_object()) {
            return fail(Errc::invalid_argument, "{}: \"{}\" given both as a value and with subkeys", origin, key);
        }
        if (target->contains(leaf)) {
            return fail(Errc::invalid_argument, "{}: key \"{}\" given twice; give it once", origin, key);
        }
        (*target)[leaf] = VMM_TRY(typed_value(item.substr(eq + 1), origin, key));
    }
    return detail::device_from_json(entry, origin, origin + ": ", base_dir);
}

} // namespace vmm::config
