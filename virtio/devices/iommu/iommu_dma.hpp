// SPDX-License-Identifier: Apache-2.0
// IommuDma: one endpoint's DMA space, translated through the virtio-iommu's domains.
#pragma once

#include <cstdint>

#include "virtio/devices/iommu/iommu_domains.hpp"
#include "virtio/devices/iommu/iommu_fault_rules.hpp"
#include "virtio/memory/dma_space.hpp"

namespace vmm::virtio {

// Where translation faults go: the virtio-iommu's event queue.
class IommuFaultSink {
public:
    virtual ~IommuFaultSink() = default;
    virtual void report_fault(const IommuFault& fault) noexcept = 0;
};

// What a device behind the IOMMU sees once VIRTIO_F_ACCESS_PLATFORM is negotiated: every ring
// and buffer access of the device is an IOVA of its endpoint, translated mapping by mapping
// (a range may span adjacent mappings onto scattered guest-physical pages) and checked for
// permission. A miss or a refused access fails the access and is reported as a fault.
//
// The last mapping used is cached and dropped whenever the domains' DMA generation moves
// (UNMAP, DETACH, ATTACH, bypass changes); pins are taken on that generation, so an UNMAP is
// not reported complete while I/O resolved under the old mapping is still in flight.
class IommuDma final : public DmaSpace {
public:
    // `injected` (may be null): faults to report on accesses that would otherwise succeed.
    IommuDma(std::uint32_t endpoint, const IommuDomains& domains, const DmaSpace& direct, IommuFaultSink* sink,
        IommuFaultRules* injected = nullptr) noexcept
        : endpoint_(endpoint)
        , domains_(&domains)
        , direct_(&direct)
        , sink_(sink)
        , injected_(injected)
    {
    }

    [[nodiscard]] Result<SliceList> resolve(std::uint64_t addr, std::uint64_t len, Access access) const override;
    [[nodiscard]] std::uint64_t generation() const noexcept override { return domains_->generations().current(); }
    [[nodiscard]] DmaPin pin() const override { return domains_->generations().pin(); }
    [[nodiscard]] std::uint32_t endpoint() const noexcept { return endpoint_; }
    [[nodiscard]] std::uint64_t cache_hits() const noexcept { return hits_; }

private:
    struct Cached {
        std::uint64_t generation = 0; // 0: empty (generations start at 1)
        std::uint64_t start = 0;
        std::uint64_t end = 0;
        std::uint64_t phys = 0;
        std::uint32_t flags = 0;
    };
    [[nodiscard]] Unexpected<Error> fault(const IommuFault& f, std::uint64_t addr, std::uint64_t len) const;

    std::uint32_t endpoint_;
    const IommuDomains* domains_;
    const DmaSpace* direct_;
    IommuFaultSink* sink_;
    IommuFaultRules* injected_;
    mutable Cached cache_;
    mutable std::uint64_t hits_ = 0;
};

} // namespace vmm::virtio
