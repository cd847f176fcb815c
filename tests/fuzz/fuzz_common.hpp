// SPDX-License-Identifier: Apache-2.0
// What every fuzz target shares: how an invariant failure ends the run, and how an input byte
// picks an access width.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace vmm::fuzz {

// An abort, which libFuzzer reports as a crash and saves the input for.
[[noreturn]] inline void invariant_failed(const char* what)
{
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
}

// A register access of 1, 2, 4 or 8 bytes.
[[nodiscard]] inline std::size_t width_of(std::uint8_t w) noexcept
{
    constexpr std::array<std::size_t, 4> widths { 1, 2, 4, 8 };
    return widths[w % widths.size()];
}

} // namespace vmm::fuzz
