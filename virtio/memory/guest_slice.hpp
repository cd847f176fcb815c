// SPDX-License-Identifier: Apache-2.0
// GuestSlice: a bounds-checked window onto mapped guest RAM, and lists of them.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include <boost/container/small_vector.hpp>

#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// A contiguous range of guest RAM, already checked against the memory map. There is no
// operator[]: bytes are copied in or out once, so nothing the guest changes afterwards can
// affect a decision already made on a copy. Valid while the memory (and, behind an IOMMU, the
// mapping) it came from is; see DmaSpace for the lifetime rule.
class GuestSlice {
public:
    constexpr GuestSlice() noexcept = default;
    // Safety: `host` must point to `size` bytes of mapped guest RAM at guest-physical `gpa`.
    // Only DmaSpace implementations build slices, from GuestMemory::host_ptr().
    GuestSlice(std::byte* host, std::size_t size, GuestAddress gpa) noexcept
        : host_(host)
        , size_(size)
        , gpa_(gpa)
    {
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] GuestAddress gpa() const noexcept { return gpa_; }
    [[nodiscard]] std::byte* host() const noexcept { return host_; }

    // [off, off+len) of this slice, or nullopt when it does not fit (overflow-safe).
    [[nodiscard]] std::optional<GuestSlice> subslice(std::size_t off, std::size_t len) const noexcept
    {
        if (off > size_ || len > size_ - off) {
            return std::nullopt;
        }
        return GuestSlice(host_ + off, len, GuestAddress { gpa_.raw + off });
    }

    // Copies the first out.size() bytes; out.size() must not exceed size().
    void copy_to(std::span<std::byte> out) const noexcept
    {
        assert(out.size() <= size_);
        if (!out.empty()) {
            std::memcpy(out.data(), host_, out.size());
        }
    }
    // Fills the first in.size() bytes; in.size() must not exceed size().
    void copy_from(std::span<const std::byte> in) const noexcept
    {
        assert(in.size() <= size_);
        if (!in.empty()) {
            std::memcpy(host_, in.data(), in.size());
        }
    }

    // For readv/writev/io_uring: the kernel copies straight to or from guest RAM.
    [[nodiscard]] iovec as_iovec() const noexcept { return iovec { host_, size_ }; }

    // An atomic view of the u16 at `off` (ring indices and flags). The caller has checked that
    // [off, off+2) is inside the slice and that the host address is 2-byte aligned.
    [[nodiscard]] std::atomic_ref<std::uint16_t> atomic_u16(std::size_t off) const noexcept
    {
        assert(off <= size_ && size_ - off >= sizeof(std::uint16_t));
        // Safety: in bounds (above); alignment is checked by the ring code before it gets here,
        // and guest RAM is mmapped, so the bytes may be accessed as an object of this type.
        auto* p = reinterpret_cast<std::uint16_t*>(host_ + off);
        assert(reinterpret_cast<std::uintptr_t>(p) % alignof(std::uint16_t) == 0);
        return std::atomic_ref<std::uint16_t>(*p);
    }

private:
    std::byte* host_ = nullptr;
    std::size_t size_ = 0;
    GuestAddress gpa_ {};
};

// One DMA range may cover several guest-physical ranges (adjacent RAM regions, or IOMMU pages
// mapped to scattered GPAs), so resolution yields a list. Two inline entries cover the
// common cases without allocating.
using SliceList = boost::container::small_vector<GuestSlice, 2>;
// Any small_vector of slices, whatever its inline capacity (a chain's lists hold four).
using SliceListBase = boost::container::small_vector_base<GuestSlice>;

// For vectored host I/O over slices.
using IovecList = boost::container::small_vector<iovec, 8>;

} // namespace vmm::virtio
