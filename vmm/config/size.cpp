// SPDX-License-Identifier: Apache-2.0
// Memory sizes: "512M", "1GiB", "0x20000000", plain bytes.
#include <array>
#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "vmm/config/config.hpp"

namespace vmm::config {

namespace {

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int hex_value(char c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    const int l = std::tolower(static_cast<unsigned char>(c));
    if (l >= 'a' && l <= 'f') {
        return l - 'a' + 10;
    }
    return -1;
}

bool iequals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i]))
            != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

// The multiplier for a unit ("", "B", "K", "KB", "KiB", ...), or 0 if it is not one.
std::uint64_t unit_multiplier(std::string_view unit)
{
    if (unit.empty() || iequals(unit, "b")) {
        return 1;
    }
    static constexpr std::array<std::pair<char, std::uint64_t>, 4> PREFIXES { {
        { 'k', KiB },
        { 'm', MiB },
        { 'g', GiB },
        { 't', TiB },
    } };
    const auto prefix = static_cast<char>(std::tolower(static_cast<unsigned char>(unit.front())));
    const std::string_view rest = unit.substr(1);
    if (!rest.empty() && !iequals(rest, "b") && !iequals(rest, "ib")) {
        return 0;
    }
    for (const auto& [p, multiplier] : PREFIXES) {
        if (p == prefix) {
            return multiplier;
        }
    }
    return 0;
}

constexpr std::string_view FORMS = "use bytes or a number with K, M, G or T (binary units), e.g. \"512M\"";

Result<std::uint64_t> parse_hex(std::string_view s)
{
    const std::string_view digits = s.substr(2);
    if (digits.empty()) {
        return fail(Errc::invalid_argument, "\"{}\" is not a size: no digits after \"0x\"; {}", s, FORMS);
    }
    std::uint64_t value = 0;
    for (char c : digits) {
        const int v = hex_value(c);
        if (v < 0) {
            // A unit after hex digits would be ambiguous ("0x1B"), so hex takes none.
            return fail(Errc::invalid_argument,
                "\"{}\" is not a size: a hex size is a plain byte count without unit; {}", s, FORMS);
        }
        if (value > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
            return fail(Errc::out_of_range, "\"{}\" is too large for a size", s);
        }
        value = (value << 4) | static_cast<std::uint64_t>(v);
    }
    return value;
}

} // namespace

Result<std::uint64_t> parse_size(std::string_view s)
{
    if (s.empty()) {
        return fail(Errc::invalid_argument, "an empty string is not a size; {}", FORMS);
    }
    if (s.front() == '-') {
        return fail(Errc::invalid_argument, "\"{}\" is not a size: it must not be negative", s);
    }
    if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        return parse_hex(s);
    }
    std::size_t i = 0;
    std::uint64_t value = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
        const auto digit = static_cast<std::uint64_t>(s[i] - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
            return fail(Errc::out_of_range, "\"{}\" is too large for a size", s);
        }
        value = value * 10 + digit;
    }
    if (i == 0) {
        return fail(
            Errc::invalid_argument, "\"{}\" is not a size: it does not start with a number; {}", s, FORMS);
    }
    const std::string_view unit = s.substr(i);
    if (!unit.empty() && unit.front() == '.') {
        return fail(Errc::invalid_argument,
            "\"{}\" is not a size: fractions are not accepted; use a smaller unit, e.g. \"1536M\" for 1.5G",
            s);
    }
    const std::uint64_t multiplier = unit_multiplier(unit);
    if (multiplier == 0) {
        return fail(Errc::invalid_argument, "\"{}\" is not a size: unknown unit \"{}\"; {}", s, unit, FORMS);
    }
    if (value > std::numeric_limits<std::uint64_t>::max() / multiplier) {
        return fail(Errc::out_of_range, "\"{}\" is too large for a size", s);
    }
    return value * multiplier;
}

Result<std::uint64_t> size_value(const nlohmann::json* v, std::string_view what)
{
    if (v != nullptr && v->is_number_unsigned()) {
        return v->get<std::uint64_t>();
    }
    if (v != nullptr && v->is_string()) {
        return parse_size(v->get<std::string>());
    }
    return fail(Errc::invalid_argument, "{}: bytes, or a size such as \"512M\"", what);
}

} // namespace vmm::config
