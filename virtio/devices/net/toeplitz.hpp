// SPDX-License-Identifier: Apache-2.0
// The Toeplitz hash of receive-side scaling (Microsoft RSS; virtio 1.2 §5.1.6.4.3).
#pragma once

#include <cstdint>
#include <span>

namespace vmm::virtio::net {

// For each bit of `input`, most significant bit of input[0] first: if it is set, XOR in the
// 32 bits of the key that start at that bit's index. Key bits past the end of the key are zero,
// so a key shorter than input.size() + 4 bytes hashes as if zero-padded.
[[nodiscard]] std::uint32_t toeplitz_hash(std::span<const std::uint8_t> key, std::span<const std::uint8_t> input) noexcept;

} // namespace vmm::virtio::net
