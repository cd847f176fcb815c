// SPDX-License-Identifier: Apache-2.0
// Edit-distance suggestions for misspelt names.
#include "vmm/config/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <vector>

namespace vmm::config {

namespace {

char lower(char c)
{
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Optimal string alignment distance: insertions, deletions, substitutions and transpositions of
// neighbours each cost one ("cpsu" is one edit from "cpus", as people mistype it).
std::size_t edit_distance(std::string_view a, std::string_view b)
{
    const std::size_t width = b.size() + 1;
    std::vector<std::size_t> d((a.size() + 1) * width);
    auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * width + j]; };
    for (std::size_t i = 0; i <= a.size(); ++i) {
        at(i, 0) = i;
    }
    for (std::size_t j = 0; j <= b.size(); ++j) {
        at(0, j) = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            at(i, j) = std::min({ at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost });
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1])) {
                at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
            }
        }
    }
    return at(a.size(), b.size());
}

} // namespace

std::optional<std::string_view> closest_match(
    std::string_view word, std::span<const std::string_view> candidates)
{
    // One edit per three letters, at most two: "cpu" finds "cpus", but "vm" does not find "mmio".
    const std::size_t limit = std::clamp<std::size_t>(word.size() / 3, 1, 2);
    std::optional<std::string_view> best;
    std::size_t best_distance = limit + 1;
    for (std::string_view candidate : candidates) {
        const std::size_t distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    if (best) {
        return best;
    }
    // A word that a candidate begins ("warning" for "warn"), or that begins a candidate.
    for (std::string_view candidate : candidates) {
        const std::size_t common = std::min(word.size(), candidate.size());
        if (common >= 3 && edit_distance(word.substr(0, common), candidate.substr(0, common)) == 0) {
            return candidate;
        }
    }
    return std::nullopt;
}

std::string suggestion(std::string_view word, std::span<const std::string_view> candidates)
{
    if (auto best = closest_match(word, candidates)) {
        return "; did you mean \"" + std::string(*best) + "\"?";
    }
    std::string out = "; expected one of ";
    bool first = true;
    for (std::string_view candidate : candidates) {
        if (!first) {
            out += ", ";
        }
        first = false;
        out += "\"" + std::string(candidate) + "\"";
    }
    return out;
}

} // namespace vmm::config
