// SPDX-License-Identifier: Apache-2.0
// DirectDma: guest-physical addresses straight onto the RAM regions.
#include "virtio/memory/direct_dma.hpp"

#include <algorithm>

namespace vmm::virtio {

Result<SliceList> DirectDma::resolve(std::uint64_t addr, std::uint64_t len, Access access) const
{
    SliceList out;
    if (!append(addr, len, access, out)) {
        return fail(Errc::out_of_range, "DMA range {:#x}+{:#x} is not guest RAM", addr, len);
    }
    return out;
}

bool DirectDma::append(std::uint64_t addr, std::uint64_t len, Access /*access*/, SliceListBase& out) const
{
    // Guest RAM is read-write, so every access is allowed where RAM exists.
    if (len == 0) {
        return true;
    }
    // The common case: the whole range inside one region (overflow-safe in host_ptr).
    if (std::byte* host = memory_->host_ptr(GuestAddress { addr }, len); host != nullptr) {
        out.emplace_back(host, static_cast<std::size_t>(len), GuestAddress { addr });
        return true;
    }
    return append_spanning(addr, len, out);
}

bool DirectDma::append_spanning(std::uint64_t addr, std::uint64_t len, SliceListBase& out) const
{
    std::uint64_t end = 0;
    if (__builtin_add_overflow(addr, len, &end)) {
        return false; // wraps the address space
    }
    const std::size_t before = out.size();
    std::uint64_t cur = addr;
    // Regions are sorted and disjoint; a range may continue into the next region only if that
    // region starts exactly where the previous one ends.
    for (const auto& region : memory_->regions()) {
        if (cur == end) {
            break;
        }
        if (!region.contains(GuestAddress { cur }, 0) || cur == region.end().raw) {
            if (out.size() != before) {
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
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
        return false;
    }
    return true;
}

} // namespace vmm::virtio
