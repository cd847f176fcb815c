// SPDX-License-Identifier: Apache-2.0
// The Toeplitz hash, a byte of input at a time over a 64-bit window of the key.
#include "virtio/devices/net/toeplitz.hpp"

#include <cstddef>

namespace vmm::virtio::net {

std::uint32_t toeplitz_hash(std::span<const std::uint8_t> key, std::span<const std::uint8_t> input) noexcept
{
    const auto key_byte = [key](std::size_t i) -> std::uint64_t { return i < key.size() ? key[i] : 0; };
    // window holds key bits [k, k + 64) for the input bit k about to be processed; its top 32
    // bits are the key window that bit selects.
    std::uint64_t window = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        window = (window << 8) | key_byte(i);
    }
    std::uint32_t result = 0;
    for (std::size_t i = 0; i < input.size(); ++i) {
        const std::uint8_t byte = input[i];
        for (int bit = 7; bit >= 0; --bit) {
            if (((byte >> bit) & 1) != 0) {
                result ^= static_cast<std::uint32_t>(window >> 32);
            }
            window <<= 1;
        }
        // Eight shifts emptied the low byte: the next key byte moves in.
        window |= key_byte(i + 8);
    }
    return result;
}

} // namespace vmm::virtio::net
