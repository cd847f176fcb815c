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

} // namespace vmm::virtio
