// SPDX-License-Identifier: Apache-2.0
// Big- and little-endian loads and stores at an offset in a byte span, for packet headers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "virtio/memory/iovec_copy.hpp" // the net code's iovec copies

namespace vmm::virtio::net {

// The caller has checked that [off, off + width) lies inside the span: these helpers index the
// span directly and are meant for offsets that were bounds-checked once per header.

[[nodiscard]] inline std::uint16_t load_be16(std::span<const std::uint8_t> b, std::size_t off) noexcept
{
    return static_cast<std::uint16_t>((b[off] << 8) | b[off + 1]);
}

[[nodiscard]] inline std::uint32_t load_be32(std::span<const std::uint8_t> b, std::size_t off) noexcept
{
    return (std::uint32_t { b[off] } << 24) | (std::uint32_t { b[off + 1] } << 16)
        | (std::uint32_t { b[off + 2] } << 8) | std::uint32_t { b[off + 3] };
}

[[nodiscard]] inline std::uint16_t load_le16(std::span<const std::uint8_t> b, std::size_t off) noexcept
{
    return static_cast<std::uint16_t>(b[off] | (b[off + 1] << 8));
}

[[nodiscard]] inline std::uint32_t load_le32(std::span<const std::uint8_t> b, std::size_t off) noexcept
{
    return std::uint32_t { b[off] } | (std::uint32_t { b[off + 1] } << 8) | (std::uint32_t { b[off + 2] } << 16)
        | (std::uint32_t { b[off + 3] } << 24);
}

inline void store_be16(std::span<std::uint8_t> b, std::size_t off, std::uint16_t v) noexcept
{
    b[off] = static_cast<std::uint8_t>(v >> 8);
    b[off + 1] = static_cast<std::uint8_t>(v & 0xff);
}

inline void store_be32(std::span<std::uint8_t> b, std::size_t off, std::uint32_t v) noexcept
{
    b[off] = static_cast<std::uint8_t>(v >> 24);
    b[off + 1] = static_cast<std::uint8_t>((v >> 16) & 0xff);
    b[off + 2] = static_cast<std::uint8_t>((v >> 8) & 0xff);
    b[off + 3] = static_cast<std::uint8_t>(v & 0xff);
}

} // namespace vmm::virtio::net
