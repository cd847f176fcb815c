// SPDX-License-Identifier: Apache-2.0
// Guest physical memory: mmapped RAM regions with overflow-safe, bounds-checked access.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "vmm/base/result.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm {

// A guest physical address. IOVAs seen by devices behind an IOMMU are plain integers, so
// the two cannot be mixed up silently.
struct GuestAddress {
    std::uint64_t raw = 0;

    constexpr auto operator<=>(const GuestAddress&) const = default;
    // Overflow-safe offset.
    [[nodiscard]] constexpr std::optional<GuestAddress> checked_add(std::uint64_t off) const noexcept
    {
        std::uint64_t r = 0;
        if (__builtin_add_overflow(raw, off, &r)) {
            return std::nullopt;
        }
        return GuestAddress { r };
    }
};

// Trivially copyable, with no padding: safe to copy between guest and host byte for byte,
// without leaking uninitialised host bytes to the guest.
template <class T>
concept WireType = std::is_trivially_copyable_v<T> && std::has_unique_object_representations_v<T>;

struct MemoryRegionSpec {
    GuestAddress base;
    std::uint64_t size = 0;
    // A hot-plug region (virtio-mem's): mapped into the guest and reachable by device DMA like
    // RAM, but not boot RAM: not in the e820 map, not where the loader puts anything, not counted
    // by total_size(). Its driver plugs it block by block.
    bool hotplug = false;
};

struct MemoryOptions {
    bool memfd = false;     // back RAM with a memfd (shareable with other processes)
    bool hugepages = false; // back RAM with 2 MiB huge pages (MAP_HUGETLB / MFD_HUGETLB)
    bool guard_pages = true; // PROT_NONE page either side: a host overrun faults at once
};

class MemoryRegion {
public:
    MemoryRegion(GuestAddress base, std::uint64_t size, std::byte* host, std::size_t map_size,
        std::byte* map_base, UniqueFd fd, std::uint64_t page_size, bool hotplug = false) noexcept;
    MemoryRegion(MemoryRegion&& o) noexcept;
    MemoryRegion& operator=(MemoryRegion&&) = delete;
    MemoryRegion(const MemoryRegion&) = delete;
    MemoryRegion& operator=(const MemoryRegion&) = delete;
    ~MemoryRegion();

    [[nodiscard]] GuestAddress base() const noexcept { return base_; }
    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
    [[nodiscard]] GuestAddress end() const noexcept { return GuestAddress { base_.raw + size_ }; }
    [[nodiscard]] std::byte* host() const noexcept { return host_; }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    // Of the host backing: 4 KiB, or 2 MiB with huge pages. What discard() can give back at once.
    [[nodiscard]] std::uint64_t page_size() const noexcept { return page_size_; }
    [[nodiscard]] bool hotplug() const noexcept { return hotplug_; }
    [[nodiscard]] bool contains(GuestAddress gpa, std::uint64_t len) const noexcept
    {
        // Overflow-safe: never compute gpa + len.
        return gpa.raw >= base_.raw && gpa.raw - base_.raw <= size_ && len <= size_ - (gpa.raw - base_.raw);
    }

private:
    GuestAddress base_;
    std::uint64_t size_;
    std::byte* host_;
    std::size_t map_size_;
    std::byte* map_base_;
    UniqueFd fd_;
    std::uint64_t page_size_;
    bool hotplug_;
};

class GuestMemory {
public:
    // Regions must be page aligned, non-empty, sorted and non-overlapping; hot-plug regions come
    // after every boot RAM region.
    [[nodiscard]] static Result<GuestMemory> create(std::span<const MemoryRegionSpec> specs,
        const MemoryOptions& options = {});

    GuestMemory(GuestMemory&&) noexcept = default;
    GuestMemory& operator=(GuestMemory&&) noexcept = default;
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;
    ~GuestMemory() = default;

    [[nodiscard]] std::span<const MemoryRegion> regions() const noexcept { return regions_; }
    // Boot RAM: the bytes of the regions that are not hot-plug regions, and where the last ends.
    [[nodiscard]] std::uint64_t total_size() const noexcept;
    [[nodiscard]] GuestAddress ram_end() const noexcept;
    // The hot-plug region that starts at `base`, or nullptr.
    [[nodiscard]] const MemoryRegion* hotplug_region(GuestAddress base) const noexcept;

    // Host pointer to [gpa, gpa+len) when the whole range lies in one region; nullptr otherwise.
    // len 0 is valid at any address inside a region or at its end.
    [[nodiscard]] std::byte* host_ptr(GuestAddress gpa, std::uint64_t len) const noexcept;
    [[nodiscard]] bool contains(GuestAddress gpa, std::uint64_t len) const noexcept
    {
        return host_ptr(gpa, len) != nullptr;
    }

    // Gives the host pages behind [host, host+len) back to the host (a memory balloon's pages,
    // free pages the guest reported): the guest reads zeroes there afterwards, and touching them
    // again allocates afresh. The range must lie in one RAM region and be aligned to its page
    // size; anything else is refused and nothing is released (guest-supplied ranges end here).
    [[nodiscard]] Result<> discard(const std::byte* host, std::uint64_t len) const noexcept;
    // The region holding [host, host+len), or nullptr.
    [[nodiscard]] const MemoryRegion* region_of(const std::byte* host, std::uint64_t len) const noexcept;

    [[nodiscard]] Result<> read(GuestAddress gpa, std::span<std::byte> out) const noexcept;
    [[nodiscard]] Result<> write(GuestAddress gpa, std::span<const std::byte> in) const noexcept;

    template <WireType T>
    [[nodiscard]] Result<T> read_obj(GuestAddress gpa) const noexcept
    {
        T v {};
        VMM_TRY(read(gpa, std::as_writable_bytes(std::span(&v, 1))));
        return v;
    }
    template <WireType T>
    [[nodiscard]] Result<> write_obj(GuestAddress gpa, const T& v) const noexcept
    {
        return write(gpa, std::as_bytes(std::span(&v, 1)));
    }

private:
    explicit GuestMemory(std::vector<MemoryRegion> regions) noexcept : regions_(std::move(regions)) {}
    std::vector<MemoryRegion> regions_;
};

} // namespace vmm
