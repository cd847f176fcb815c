// SPDX-License-Identifier: Apache-2.0
// Console escape sequences.
#include "vmm/console/escape.hpp"

namespace vmm {

bool EscapeFilter::feed(std::span<const std::byte> in, std::vector<std::byte>& out)
{
    for (const auto b : in) {
        if (!escaped_) {
            if (b == ESCAPE) {
                escaped_ = true;
            } else {
                out.push_back(b);
            }
            continue;
        }
        escaped_ = false;
        if (b == QUIT) {
            return true;
        }
        if (b == ESCAPE) {
            out.push_back(ESCAPE);
        }
    }
    return false;
}

} // namespace vmm
