// SPDX-License-Identifier: Apache-2.0
// Guest console text made safe to keep and to write into JSON and XML.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vmm::testing {

// Text as valid UTF-8 with no control characters but tab: what JSON and XML can carry.
// Invalid bytes and controls become U+FFFD.
[[nodiscard]] std::string printable_text(std::string_view raw);

// At most `max` bytes of valid UTF-8 text, cut before a character rather than inside one.
[[nodiscard]] std::string clip_text(std::string_view text, std::size_t max);

} // namespace vmm::testing
