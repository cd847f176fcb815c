// SPDX-License-Identifier: Apache-2.0
// The Internet checksum (RFC 1071): a running one's-complement sum and the TCP/UDP pseudo-headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vmm::virtio::net {

// A one's-complement sum of 16-bit big-endian words over bytes added in order. Spans may be
// split anywhere, at odd offsets too: the sum is that of their concatenation (RFC 1071 §2(B),
// byte order independence, is what makes an odd split a byte swap of the following words).
class Checksum {
public:
    constexpr Checksum() noexcept = default;

    void add(std::span<const std::uint8_t> bytes) noexcept;
    // Two bytes in network order, as if they came next in the data.
    void add_be16(std::uint16_t value) noexcept;

    // The 16-bit one's-complement sum (not complemented).
    [[nodiscard]] std::uint16_t folded() const noexcept;
    // The checksum to store in a header: the complement of the folded sum.
    [[nodiscard]] std::uint16_t finish() const noexcept { return static_cast<std::uint16_t>(~folded()); }

private:
    std::uint64_t sum_ = 0;
    bool odd_ = false; // an odd number of bytes so far: the next byte is a low-order byte
};

// Folds a wide one's-complement sum into 16 bits.
[[nodiscard]] std::uint16_t fold_sum(std::uint64_t sum) noexcept;

// The checksum of one buffer, e.g. an IPv4 header whose checksum field is zero.
[[nodiscard]] std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes) noexcept;

// The pseudo-headers that TCP and UDP checksums start with: RFC 793 §3.1 / RFC 768 for IPv4
// (source, destination, zero, protocol, 16-bit upper-layer length) and RFC 8200 §8.1 for IPv6
// (source, destination, 32-bit upper-layer length, three zero bytes, next header).
[[nodiscard]] Checksum ipv4_pseudo_header(std::span<const std::uint8_t, 4> src, std::span<const std::uint8_t, 4> dst,
    std::uint8_t protocol, std::uint16_t length) noexcept;
[[nodiscard]] Checksum ipv6_pseudo_header(std::span<const std::uint8_t, 16> src,
    std::span<const std::uint8_t, 16> dst, std::uint8_t next_header, std::uint32_t length) noexcept;

} // namespace vmm::virtio::net
