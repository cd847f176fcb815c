// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/pmem/pmem_mapping.hpp"

#include <sys/mman.h>

#include <cerrno>

namespace vmm::virtio::pmem {

Result<PmemMapping> PmemMapping::map(int fd, std::uint64_t size, bool read_only)
{
    const int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    // MAP_NORESERVE: the file is the backing store, nothing to reserve in swap.
    void* p = ::mmap(nullptr, size, prot, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        return fail_errno(errno, "mmap of {} bytes", size);
    }
    // The guest's own accesses decide what is read; the host's readahead guesses would only
    // compete with them.
    (void)::madvise(p, size, MADV_RANDOM);
    return PmemMapping(static_cast<std::byte*>(p), size);
}

Result<PmemMapping> PmemMapping::anonymous(std::uint64_t size)
{
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return fail_errno(errno, "mmap of {} anonymous bytes", size);
    }
    return PmemMapping(static_cast<std::byte*>(p), size);
}

void PmemMapping::release() noexcept
{
    if (base_ != nullptr) {
        (void)::munmap(base_, size_);
        base_ = nullptr;
        size_ = 0;
    }
}

} // namespace vmm::virtio::pmem
