// SPDX-License-Identifier: Apache-2.0
// Device entry keys: type checks and messages.
#include "virtio/devices/params.hpp"

#include "vmm/config/internal.hpp"
#include "vmm/config/suggest.hpp"

namespace vmm::virtio::params {

using nlohmann::json;

namespace {

Unexpected<Error> wrong_type(std::string_view where, std::string_view expected, const json& got)
{
    return fail(
        Errc::invalid_argument, "{}: expected {}, got {}", where, expected, config::detail::type_name(got));
}

} // namespace

std::string join(std::string_view parent, std::string_view key)
{
    if (parent.empty()) {
        return std::string(key);
    }
    return fmt::format("{}.{}", parent, key);
}

Result<> check_keys(const json& obj, std::string_view where, std::span<const std::string_view> allowed)
{
    for (const auto& [key, value] : obj.items()) {
        bool known = false;
        for (std::string_view name : allowed) {
            known = known || name == key;
        }
        if (!known) {
            return fail(Errc::invalid_argument, "{}: unknown key{}", join(where, key),
                config::suggestion(key, allowed));
        }
    }
    return {};
}

Result<std::vector<Element>> object_array(
    const json& v, std::string_view where, std::size_t max, std::span<const std::string_view> allowed)
{
    if (!v.is_array()) {
        return fail(Errc::invalid_argument, "{}: expected an array of fault rules, got {}", where, v.type_name());
    }
    if (v.size() > max) {
        return fail(Errc::out_of_range, "{}: {} rules; at most {}", where, v.size(), max);
    }
    std::vector<Element> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        Element e { &v[i], fmt::format("{}[{}]", where, i) };
        if (!v[i].is_object()) {
            return fail(Errc::invalid_argument, "{}: expected an object, got {}", e.where, v[i].type_name());
        }
        VMM_TRY(check_keys(v[i], e.where, allowed));
        out.push_back(std::move(e));
    }
    return out;
}

const json* find(const json& obj, std::string_view key)
{
    const auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

Result<bool> as_bool(const json& v, std::string_view where)
{
    if (!v.is_boolean()) {
        return wrong_type(where, "true or false", v);
    }
    return v.get<bool>();
}

Result<std::string> as_nonempty_string(const json& v, std::string_view where)
{
    if (!v.is_string()) {
        return wrong_type(where, "a string", v);
    }
    auto s = v.get<std::string>();
    if (s.empty()) {
        return fail(Errc::invalid_argument, "{}: must not be empty", where);
    }
    return s;
}

Result<std::uint64_t> as_size(const json& v, std::string_view where, std::uint64_t max)
{
    if (!v.is_string()) {
        return as_uint(v, where, 0, max);
    }
    auto parsed = config::parse_size(v.get<std::string>());
    if (!parsed) {
        return fail(Errc::invalid_argument, "\"{}\": {}", where, parsed.error().describe());
    }
    if (*parsed > max) {
        return fail(Errc::invalid_argument, "\"{}\": {} bytes is more than {}", where, *parsed, max);
    }
    return *parsed;
}

Result<std::uint64_t> as_uint(const json& v, std::string_view where, std::uint64_t min, std::uint64_t max)
{
    const auto n = config::detail::integral_value(v);
    if (!n) {
        if (v.is_number_integer()) {
            return fail(
                Errc::out_of_range, "{}: {} is out of range; expected {} to {}", where, v.dump(), min, max);
        }
        return wrong_type(where, "a whole number", v);
    }
    if (*n < min || *n > max) {
        return fail(Errc::out_of_range, "{}: {} is out of range; expected {} to {}", where, *n, min, max);
    }
    return *n;
}

Result<std::size_t> as_choice(const json& v, std::string_view where, std::span<const std::string_view> names)
{
    if (!v.is_string()) {
        return wrong_type(where, "a string", v);
    }
    const auto s = v.get<std::string>();
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == s) {
            return i;
        }
    }
    return fail(Errc::invalid_argument, "{}: \"{}\" is not valid{}", where, s, config::suggestion(s, names));
}

Result<std::filesystem::path> as_path(
    const json& v, std::string_view where, const std::filesystem::path& base_dir)
{
    const std::filesystem::path p = VMM_TRY(as_nonempty_string(v, where));
    // An absolute p replaces base_dir.
    return base_dir / p;
}

} // namespace vmm::virtio::params
