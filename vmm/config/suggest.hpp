// SPDX-License-Identifier: Apache-2.0
// "Did you mean ...?" for misspelt keys, flags and enum values.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vmm::config {

// The candidate closest to `word` by edit distance (ignoring case, counting a swap of two
// neighbouring letters as one edit), if it is close enough to be a plausible typo; failing
// that, a candidate that is a prefix of the word or has it as prefix (at least 3 letters).
[[nodiscard]] std::optional<std::string_view> closest_match(
    std::string_view word, std::span<const std::string_view> candidates);

// `; did you mean "cpus"?` when there is a close candidate, else `; expected one of "a", "b"`.
[[nodiscard]] std::string suggestion(std::string_view word, std::span<const std::string_view> candidates);

} // namespace vmm::config
