// SPDX-License-Identifier: Apache-2.0
// RingArea: one part of a virtqueue (descriptor, driver or device area) resolved to host memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "virtio/memory/dma_space.hpp"

namespace vmm::virtio {

// Ring accesses go through the same DmaSpace as buffers; the translation is cached together
// with the DMA generation it was made under and redone when the generation changes. Accessors
// return nullopt/false when the element does not lie inside a single slice (it can only
// straddle two when a hostile mapping splits the ring at an odd offset).
class RingArea {
public:
    RingArea() noexcept = default;
    RingArea(std::uint64_t addr, std::uint64_t len, Access access) noexcept
        : addr_(addr)
        , len_(len)
        , access_(access)
    {
    }

    [[nodiscard]] std::uint64_t addr() const noexcept { return addr_; }
    [[nodiscard]] std::uint64_t len() const noexcept { return len_; }

    [[nodiscard]] Result<> resolve(const DmaSpace& dma)
    {
        slices_ = VMM_TRY(dma.resolve(addr_, len_, access_));
        return {};
    }

    // Host pointer to [off, off+n) when it lies inside one slice, else nullptr.
    [[nodiscard]] std::byte* at(std::uint64_t off, std::size_t n) const noexcept
    {
        std::uint64_t base = 0;
        for (const auto& s : slices_) {
            if (off >= base && off - base < s.size()) {
                const std::uint64_t in = off - base;
                return n <= s.size() - in ? s.host() + in : nullptr;
            }
            base += s.size();
        }
        return nullptr;
    }

    template <WireType T>
    [[nodiscard]] std::optional<T> read(std::uint64_t off) const noexcept
    {
        const std::byte* p = at(off, sizeof(T));
        if (p == nullptr) {
            return std::nullopt;
        }
        T v;
        std::memcpy(&v, p, sizeof(T));
        return v;
    }

    template <WireType T>
    [[nodiscard]] bool write(std::uint64_t off, const T& v) const noexcept
    {
        std::byte* p = at(off, sizeof(T));
        if (p == nullptr) {
            return false;
        }
        std::memcpy(p, &v, sizeof(T));
        return true;
    }

    [[nodiscard]] std::optional<std::uint16_t> load_u16(std::uint64_t off, std::memory_order order) const noexcept
    {
        auto* p = aligned_u16(off);
        if (p == nullptr) {
            return std::nullopt;
        }
        return std::atomic_ref<std::uint16_t>(*p).load(order);
    }

    [[nodiscard]] bool store_u16(std::uint64_t off, std::uint16_t v, std::memory_order order) const noexcept
    {
        auto* p = aligned_u16(off);
        if (p == nullptr) {
            return false;
        }
        std::atomic_ref<std::uint16_t>(*p).store(v, order);
        return true;
    }

private:
    [[nodiscard]] std::uint16_t* aligned_u16(std::uint64_t off) const noexcept
    {
        std::byte* p = at(off, sizeof(std::uint16_t));
        if (p == nullptr || reinterpret_cast<std::uintptr_t>(p) % alignof(std::uint16_t) != 0) {
            return nullptr;
        }
        // Safety: in bounds and aligned (checked above); guest RAM is mmapped memory that may be
        // accessed as u16 objects, and atomic_ref makes concurrent guest access well defined
        // on the host side.
        return reinterpret_cast<std::uint16_t*>(p);
    }

    std::uint64_t addr_ = 0;
    std::uint64_t len_ = 0;
    Access access_ = Access::read;
    SliceList slices_;
};

} // namespace vmm::virtio
