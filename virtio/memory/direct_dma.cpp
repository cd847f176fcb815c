// SPDX-License-Identifier: Apache-2.0
// DirectDma: guest-physical addresses straight onto the RAM regions.
#include "virtio/memory/direct_dma.hpp"

#include <algorithm>

namespace vmm::virtio {

Result<SliceList> DirectDma::resolve(std::uint64_t addr, std::uint64_t len, Access /*access*/) const
{
    // Guest RAM is read-write, so every access is allowed where RAM exists.
    SliceList out;
    if (len == 0) {
        return out;
    }
    std::uint64_t end = 0;
    if (__builtin_add_overflow(addr, len, &end)) {
        return fail(Errc::out_of_range, "DMA range {:#x}+{:#x} wraps the address space", addr, len);
    }
    std::uint64_t cur = addr;
    // Regions are sorted and disjoint; a range may continue into the next region only if that
    // region starts exactly where the previous one ends.
    for (const auto& region : memory_->regions()) {
        if (cur == end) {
            break;
        }
        if (!region.contains(GuestAddress { cur }, 0) || cur == region.end().raw) {
            if (!out.empty()) {
                break; // a gap after a partial match
            }
            continue;
        }
        const std::uint64_t take = std::min(end - cur, region.end().raw - cur);
        std::byte* host = memory_->host_ptr(GuestAddress { cur }, take);
        if (host == nullptr) {
            break;
        }
        out.emplace_back(host, static_cast<std::size_t>(take), GuestAddress { cur });
        cur += take;
    }
    if (cur != end) {
        return fail(Errc::out_of_range, "DMA range {:#x}+{:#x} is not guest RAM (from {:#x})", addr, len, cur);
    }
    return out;
}

} // namespace vmm::virtio
