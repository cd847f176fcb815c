// SPDX-License-Identifier: Apache-2.0
// IommuDma: translation, permission checks, the mapping cache and fault reports.
#include "virtio/devices/iommu/iommu_dma.hpp"

#include "virtio/spec/iommu.hpp"

namespace vmm::virtio {
namespace {

[[nodiscard]] std::uint32_t needed_flags(Access access) noexcept
{
    std::uint32_t f = 0;
    if ((static_cast<unsigned>(access) & static_cast<unsigned>(Access::read)) != 0) {
        f |= VIRTIO_IOMMU_MAP_F_READ;
    }
    if ((static_cast<unsigned>(access) & static_cast<unsigned>(Access::write)) != 0) {
        f |= VIRTIO_IOMMU_MAP_F_WRITE;
    }
    return f;
}

} // namespace

Unexpected<Error> IommuDma::fault(const IommuFault& f, std::uint64_t addr, std::uint64_t len) const
{
    if (sink_ != nullptr) {
        sink_->report_fault(f);
    }
    return fail(Errc::guest_fault, "IOMMU endpoint {:#x}: no translation for {:#x}+{:#x} (fault at {:#x}, reason {})",
        endpoint_, addr, len, f.address, f.reason);
}

Result<SliceList> IommuDma::resolve(std::uint64_t addr, std::uint64_t len, Access access) const
{
    SliceList out;
    if (len == 0) {
        return out;
    }
    std::uint64_t end = 0;
    if (__builtin_add_overflow(addr, len, &end)) {
        return fault(IommuFault { VIRTIO_IOMMU_FAULT_R_MAPPING, VIRTIO_IOMMU_FAULT_F_ADDRESS, endpoint_, addr }, addr,
            len);
    }
    if (injected_ != nullptr && !injected_->rules().empty()) {
        if (auto f = injected_->check(endpoint_, addr, len, access)) {
            return fault(*f, addr, len);
        }
    }
    const std::uint64_t generation = domains_->generations().current();
    const std::uint32_t needed = needed_flags(access);
    std::uint64_t cur = addr;
    while (cur != end) {
        const std::uint64_t want = end - cur;
        std::uint64_t gpa = 0;
        std::uint64_t take = 0;
        if (cache_.generation == generation && cache_.start <= cur && cur <= cache_.end
            && (cache_.flags & needed) == needed) {
            // Invariant: cache_.end < 2^64 - 1 (the input range), so + 1 cannot wrap.
            take = std::min(want, cache_.end - cur + 1);
            gpa = cache_.phys + (cur - cache_.start);
            ++hits_;
        } else {
            IommuFault f;
            auto piece = domains_->translate(endpoint_, cur, want, access, &f);
            if (!piece) {
                return fault(f, addr, len);
            }
            if (piece->bypass) {
                // Bypass is a property of the endpoint, so it holds for the whole range.
                return direct_->resolve(addr, len, access);
            }
            cache_ = Cached { generation, piece->map_start, piece->map_end, piece->map_phys, piece->map_flags };
            take = piece->len;
            gpa = piece->gpa;
        }
        auto slices = direct_->resolve(gpa, take, access);
        if (!slices) {
            // Mapped, but onto something that is not guest RAM (device MMIO, a hole).
            return fault(IommuFault { VIRTIO_IOMMU_FAULT_R_MAPPING, VIRTIO_IOMMU_FAULT_F_ADDRESS, endpoint_, cur },
                addr, len);
        }
        out.insert(out.end(), slices->begin(), slices->end());
        cur += take;
    }
    return out;
}

} // namespace vmm::virtio
