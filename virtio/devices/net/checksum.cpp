// SPDX-License-Identifier: Apache-2.0
// The Internet checksum: summing, folding, pseudo-headers.
#include "virtio/devices/net/checksum.hpp"

#include <array>

namespace vmm::virtio::net {

void Checksum::add(std::span<const std::uint8_t> bytes) noexcept
{
    std::size_t i = 0;
    const std::size_t n = bytes.size();
    if (n == 0) {
        return;
    }
    if (odd_) {
        // Completes the word whose high-order byte ended the previous span.
        sum_ += bytes[0];
        i = 1;
        odd_ = false;
    }
    // A 64-bit accumulator takes 2^48 words before it could overflow: no folding in the loop.
    for (; i + 4 <= n; i += 4) {
        sum_ += (std::uint32_t { bytes[i] } << 8) | bytes[i + 1];
        sum_ += (std::uint32_t { bytes[i + 2] } << 8) | bytes[i + 3];
    }
    for (; i + 2 <= n; i += 2) {
        sum_ += (std::uint32_t { bytes[i] } << 8) | bytes[i + 1];
    }
    if (i < n) {
        // RFC 1071 §4.1: a trailing odd byte is padded with zero on the right.
        sum_ += std::uint32_t { bytes[i] } << 8;
        odd_ = true;
    }
}

void Checksum::add_be16(std::uint16_t value) noexcept
{
    const std::array<std::uint8_t, 2> b { static_cast<std::uint8_t>(value >> 8),
        static_cast<std::uint8_t>(value & 0xff) };
    add(b);
}

std::uint16_t Checksum::folded() const noexcept
{
    return fold_sum(sum_);
}

std::uint16_t fold_sum(std::uint64_t sum) noexcept
{
    while ((sum >> 16) != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(sum);
}

std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes) noexcept
{
    Checksum c;
    c.add(bytes);
    return c.finish();
}

Checksum ipv4_pseudo_header(std::span<const std::uint8_t, 4> src, std::span<const std::uint8_t, 4> dst,
    std::uint8_t protocol, std::uint16_t length) noexcept
{
    Checksum c;
    c.add(src);
    c.add(dst);
    c.add_be16(protocol);
    c.add_be16(length);
    return c;
}

Checksum ipv6_pseudo_header(std::span<const std::uint8_t, 16> src, std::span<const std::uint8_t, 16> dst,
    std::uint8_t next_header, std::uint32_t length) noexcept
{
    Checksum c;
    c.add(src);
    c.add(dst);
    c.add_be16(static_cast<std::uint16_t>(length >> 16));
    c.add_be16(static_cast<std::uint16_t>(length & 0xffff));
    c.add_be16(next_header);
    return c;
}

} // namespace vmm::virtio::net
