// SPDX-License-Identifier: Apache-2.0
// Little-endian wire integers (le16, le32, le64) for virtio structures in guest memory.
#pragma once

#include <bit>
#include <concepts>
#include <cstdint>

namespace vmm::virtio {

// virtio 1.2 §1.4: every field of a modern virtio structure is little-endian. The VMM runs on
// x86_64 and arm64 hosts only, both little-endian, so get()/set() are plain loads and stores;
// the wrapper exists so that a wire field cannot be mixed up with a host integer silently.
static_assert(std::endian::native == std::endian::little, "virtio wire structs assume a little-endian host");

template <std::unsigned_integral T>
class Le {
public:
    constexpr Le() noexcept = default;
    constexpr explicit Le(T v) noexcept : v_(v) {}

    [[nodiscard]] constexpr T get() const noexcept { return v_; }
    constexpr void set(T v) noexcept { v_ = v; }
    constexpr bool operator==(const Le&) const noexcept = default;

private:
    T v_ = 0;
};

using le16 = Le<std::uint16_t>;
using le32 = Le<std::uint32_t>;
using le64 = Le<std::uint64_t>;

static_assert(sizeof(le16) == 2 && sizeof(le32) == 4 && sizeof(le64) == 8);

// A 64-bit field of a structure whose size is not a multiple of 8 (virtio-vsock's 44-byte
// header, §5.10.6): held as two 32-bit halves so that the structure is 4-aligned and has no
// tail padding, which a le64 member would add.
class le64_split {
public:
    constexpr le64_split() noexcept = default;
    constexpr explicit le64_split(std::uint64_t v) noexcept { set(v); }

    [[nodiscard]] constexpr std::uint64_t get() const noexcept
    {
        return (std::uint64_t { hi_.get() } << 32U) | lo_.get();
    }
    constexpr void set(std::uint64_t v) noexcept
    {
        lo_.set(static_cast<std::uint32_t>(v));
        hi_.set(static_cast<std::uint32_t>(v >> 32U));
    }
    constexpr bool operator==(const le64_split&) const noexcept = default;

private:
    le32 lo_;
    le32 hi_;
};
static_assert(sizeof(le64_split) == 8 && alignof(le64_split) == 4);

} // namespace vmm::virtio
