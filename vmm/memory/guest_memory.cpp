// SPDX-License-Identifier: Apache-2.0
// Guest RAM mappings.
#include "vmm/memory/guest_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace vmm {
namespace {

constexpr std::uint64_t PAGE_SIZE = 4096;
constexpr std::uint64_t HUGE_PAGE_SIZE = 2 << 20;

Result<MemoryRegion> map_region(const MemoryRegionSpec& spec, const MemoryOptions& opt, std::size_t index)
{
    const std::uint64_t align = opt.hugepages ? HUGE_PAGE_SIZE : PAGE_SIZE;
    if (spec.size == 0 || spec.size % align != 0 || spec.base.raw % align != 0) {
        return fail(Errc::invalid_argument, "memory region {} at {:#x} size {:#x} is not {}-byte aligned", index,
            spec.base.raw, spec.size, align);
    }
    const std::size_t guard = opt.guard_pages ? PAGE_SIZE : 0;
    // RAM starts on a 2 MiB boundary of the host's address space, as it does in guest-physical
    // space: only then can transparent huge pages back it and KVM map it with 2 MiB pages
    // (KVM needs the host and guest addresses to agree modulo the page size). A 4 KiB-aligned
    // mapping gets neither, and costs a nested page fault per 4 KiB the guest touches.
    const std::size_t slack = HUGE_PAGE_SIZE;
    const std::size_t map_size = static_cast<std::size_t>(spec.size) + 2 * guard + slack;

    // Reserve the whole range (guards and alignment slack included) inaccessible, then map RAM
    // into the middle.
    void* reserve = ::mmap(nullptr, map_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserve == MAP_FAILED) {
        return fail_errno(errno, "cannot reserve {} bytes of address space for guest memory", map_size);
    }
    auto* map_base = static_cast<std::byte*>(reserve);
    const auto first = reinterpret_cast<std::uintptr_t>(map_base) + guard;
    const std::uintptr_t aligned = (first + HUGE_PAGE_SIZE - 1) & ~std::uintptr_t { HUGE_PAGE_SIZE - 1 };
    auto* host = map_base + (aligned - reinterpret_cast<std::uintptr_t>(map_base));

    UniqueFd fd;
    int flags = MAP_FIXED | MAP_NORESERVE;
    if (opt.memfd) {
        unsigned mfd_flags = MFD_CLOEXEC | (opt.hugepages ? MFD_HUGETLB : 0U);
        fd.reset(::memfd_create("vireo-guest-ram", mfd_flags));
        if (!fd) {
            int err = errno;
            ::munmap(reserve, map_size);
            return fail_errno(err, "memfd_create for guest memory failed");
        }
        if (::ftruncate(fd.get(), static_cast<off_t>(spec.size)) != 0) {
            int err = errno;
            ::munmap(reserve, map_size);
            return fail_errno(err, "cannot size guest memory memfd to {} bytes", spec.size);
        }
        flags |= MAP_SHARED;
    } else {
        flags |= MAP_PRIVATE | MAP_ANONYMOUS | (opt.hugepages ? MAP_HUGETLB : 0);
    }
    void* p = ::mmap(host, spec.size, PROT_READ | PROT_WRITE, flags, fd.valid() ? fd.get() : -1, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        ::munmap(reserve, map_size);
        if (opt.hugepages) {
            return fail_errno(err,
                "cannot map {} bytes of guest memory with huge pages (reserve them: "
                "echo N > /proc/sys/vm/nr_hugepages)",
                spec.size);
        }
        return fail_errno(err, "cannot map {} bytes of guest memory", spec.size);
    }
    // Guest RAM is large and mostly cold: let the kernel back it with THP where it can, and keep
    // it out of core dumps.
    if (!opt.hugepages) {
        ::madvise(host, spec.size, MADV_HUGEPAGE);
    }
    ::madvise(host, spec.size, MADV_DONTDUMP);
    return MemoryRegion(
        spec.base, spec.size, host, map_size, map_base, std::move(fd), opt.hugepages ? HUGE_PAGE_SIZE : PAGE_SIZE,
        spec.hotplug);
}

} // namespace

MemoryRegion::MemoryRegion(GuestAddress base, std::uint64_t size, std::byte* host, std::size_t map_size,
    std::byte* map_base, UniqueFd fd, std::uint64_t page_size, bool hotplug) noexcept
    : base_(base)
    , size_(size)
    , host_(host)
    , map_size_(map_size)
    , map_base_(map_base)
    , fd_(std::move(fd))
    , page_size_(page_size)
    , hotplug_(hotplug)
{
}

MemoryRegion::MemoryRegion(MemoryRegion&& o) noexcept
    : base_(o.base_)
    , size_(o.size_)
    , host_(std::exchange(o.host_, nullptr))
    , map_size_(std::exchange(o.map_size_, 0))
    , map_base_(std::exchange(o.map_base_, nullptr))
    , fd_(std::move(o.fd_))
    , page_size_(o.page_size_)
    , hotplug_(o.hotplug_)
{
}

MemoryRegion::~MemoryRegion()
{
    if (map_base_ != nullptr) {
        ::munmap(map_base_, map_size_);
    }
}

Result<GuestMemory> GuestMemory::create(std::span<const MemoryRegionSpec> specs, const MemoryOptions& options)
{
    std::vector<MemoryRegion> regions;
    regions.reserve(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const auto& s = specs[i];
        std::uint64_t end = 0;
        if (__builtin_add_overflow(s.base.raw, s.size, &end)) {
            return fail(Errc::invalid_argument, "memory region {} overflows the address space", i);
        }
        if (i > 0 && s.base.raw < specs[i - 1].base.raw + specs[i - 1].size) {
            return fail(Errc::invalid_argument, "memory region {} at {:#x} overlaps or is out of order", i,
                s.base.raw);
        }
        if (i > 0 && specs[i - 1].hotplug && !s.hotplug) {
            return fail(Errc::invalid_argument, "memory region {} at {:#x}: boot RAM after a hot-plug region", i,
                s.base.raw);
        }
        regions.push_back(VMM_TRY(map_region(s, options, i)));
    }
    return GuestMemory(std::move(regions));
}

std::uint64_t GuestMemory::total_size() const noexcept
{
    std::uint64_t total = 0;
    for (const auto& r : regions_) {
        total += r.hotplug() ? 0 : r.size();
    }
    return total;
}

GuestAddress GuestMemory::ram_end() const noexcept
{
    GuestAddress end;
    for (const auto& r : regions_) {
        end = r.hotplug() ? end : r.end();
    }
    return end;
}

const MemoryRegion* GuestMemory::hotplug_region(GuestAddress base) const noexcept
{
    for (const auto& r : regions_) {
        if (r.hotplug() && r.base() == base) {
            return &r;
        }
    }
    return nullptr;
}

std::byte* GuestMemory::host_ptr(GuestAddress gpa, std::uint64_t len) const noexcept
{
    for (const auto& r : regions_) {
        if (r.contains(gpa, len)) {
            return r.host() + (gpa.raw - r.base().raw);
        }
    }
    return nullptr;
}

const MemoryRegion* GuestMemory::region_of(const std::byte* host, std::uint64_t len) const noexcept
{
    const auto p = reinterpret_cast<std::uintptr_t>(host);
    for (const auto& r : regions_) {
        const auto start = reinterpret_cast<std::uintptr_t>(r.host());
        // Overflow-safe, as MemoryRegion::contains().
        if (p >= start && p - start <= r.size() && len <= r.size() - (p - start)) {
            return &r;
        }
    }
    return nullptr;
}

Result<> GuestMemory::discard(const std::byte* host, std::uint64_t len) const noexcept
{
    const MemoryRegion* r = region_of(host, len);
    if (r == nullptr || len == 0) {
        return fail(Errc::out_of_range, "discard of {} bytes at host {} is not inside guest RAM", len,
            static_cast<const void*>(host));
    }
    const std::uint64_t offset = static_cast<std::uint64_t>(host - r->host());
    if (offset % r->page_size() != 0 || len % r->page_size() != 0) {
        return fail(Errc::invalid_argument, "discard of {} bytes at RAM offset {:#x} is not aligned to its {}-byte pages",
            len, offset, r->page_size());
    }
    // A shared memfd keeps its pages while any mapping or the file holds them: punch them out
    // of the file. Private anonymous memory (huge pages included) is dropped from the mapping.
    if (r->fd() >= 0) {
        if (::fallocate(r->fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(len))
            != 0) {
            return fail_errno(errno, "punching {} bytes at RAM offset {:#x} out of the guest memory file", len, offset);
        }
        return {};
    }
    if (::madvise(const_cast<std::byte*>(host), len, MADV_DONTNEED) != 0) {
        return fail_errno(errno, "madvise(MADV_DONTNEED) of {} bytes at RAM offset {:#x}", len, offset);
    }
    return {};
}

Result<> GuestMemory::read(GuestAddress gpa, std::span<std::byte> out) const noexcept
{
    const std::byte* p = host_ptr(gpa, out.size());
    if (p == nullptr) {
        return fail(Errc::out_of_range, "guest read of {} bytes at {:#x} is outside RAM", out.size(), gpa.raw);
    }
    std::memcpy(out.data(), p, out.size());
    return {};
}

Result<> GuestMemory::write(GuestAddress gpa, std::span<const std::byte> in) const noexcept
{
    std::byte* p = host_ptr(gpa, in.size());
    if (p == nullptr) {
        return fail(Errc::out_of_range, "guest write of {} bytes at {:#x} is outside RAM", in.size(), gpa.raw);
    }
    std::memcpy(p, in.data(), in.size());
    return {};
}

} // namespace vmm
