// SPDX-License-Identifier: Apache-2.0
// IommuDomains: the virtio-iommu's endpoints, domains and mappings, and translation through them.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "virtio/memory/dma_space.hpp"

namespace vmm::virtio {

// A translation that failed, for the event queue (virtio 1.2 §5.13.6.9).
struct IommuFault {
    std::uint8_t reason = 0; // VIRTIO_IOMMU_FAULT_R_*
    std::uint32_t flags = 0; // VIRTIO_IOMMU_FAULT_F_*
    std::uint32_t endpoint = 0;
    std::uint64_t address = 0;
};

// An inclusive range of IOVAs the driver may not map (PROBE's RESV_MEM properties).
struct IommuReservedRange {
    std::uint8_t subtype = 0; // VIRTIO_IOMMU_RESV_MEM_T_*
    std::uint64_t start = 0;
    std::uint64_t end = 0;
};

// The request semantics of virtio 1.2 §5.13.6.2-5 on plain values: each operation returns a
// VIRTIO_IOMMU_S_* status. Endpoints exist only once the VMM registered them (they are the
// devices behind this IOMMU). Loop thread only.
//
// Every change that can take a translation away (UNMAP, DETACH, moving an endpoint, bypass)
// advances the DMA generation; translations cached under an older one are stale, and the
// caller completes the request only when no pin on an older generation remains (in-flight I/O
// using the old mapping has finished).
class IommuDomains {
public:
    struct Limits {
        std::uint64_t granule = 0x1000;          // lowest bit of page_size_mask
        std::uint64_t input_end = (std::uint64_t { 1 } << 48) - 1; // input_range [0, input_end]
        std::uint32_t domain_start = 0;          // domain_range
        std::uint32_t domain_end = 0xffffffff;
        std::size_t max_mappings = std::size_t { 1 } << 20; // across all domains (host memory bound)
        std::vector<IommuReservedRange> reserved;
    };

    explicit IommuDomains(Limits limits);

    [[nodiscard]] const Limits& limits() const noexcept { return limits_; }
    void add_endpoint(std::uint32_t endpoint);
    [[nodiscard]] bool has_endpoint(std::uint32_t endpoint) const noexcept { return endpoints_.contains(endpoint); }

    [[nodiscard]] std::uint8_t attach(std::uint32_t domain, std::uint32_t endpoint, bool bypass);
    [[nodiscard]] std::uint8_t detach(std::uint32_t domain, std::uint32_t endpoint);
    [[nodiscard]] std::uint8_t map(
        std::uint32_t domain, std::uint64_t virt_start, std::uint64_t virt_end, std::uint64_t phys, std::uint32_t flags);
    [[nodiscard]] std::uint8_t unmap(std::uint32_t domain, std::uint64_t virt_start, std::uint64_t virt_end);
    // Device reset (§5.13.5): no endpoint is attached afterwards.
    void detach_all();

    // Whether unattached endpoints bypass translation (config bypass with BYPASS_CONFIG, or
    // VIRTIO_IOMMU_F_BYPASS negotiated). Any thread: the driver changes it through a config
    // write on a vCPU thread. The change applies to later accesses; a config write has no
    // completion for in-flight DMA to delay.
    void set_unattached_bypass(bool bypass) noexcept { unattached_bypass_.store(bypass, std::memory_order_release); }
    [[nodiscard]] bool unattached_bypass() const noexcept { return unattached_bypass_.load(std::memory_order_acquire); }

    // The part of [iova, iova+len) that one mapping covers, translated: guest-physical address,
    // length, and whether `access` is allowed. nullopt with `fault` filled when nothing covers
    // `iova`, the endpoint is not attached (and not in bypass), or access is refused. `bypass`
    // is set when the endpoint is in bypass mode (identity, no mapping needed).
    struct Piece {
        std::uint64_t gpa = 0;
        std::uint64_t len = 0;
        bool bypass = false;
        // The mapping, for translation caches.
        std::uint64_t map_start = 0;
        std::uint64_t map_end = 0;
        std::uint64_t map_phys = 0;
        std::uint32_t map_flags = 0;
    };
    [[nodiscard]] std::optional<Piece> translate(
        std::uint32_t endpoint, std::uint64_t iova, std::uint64_t len, Access access, IommuFault* fault) const;

    [[nodiscard]] DmaGenerations& generations() noexcept { return generations_; }
    [[nodiscard]] const DmaGenerations& generations() const noexcept { return generations_; }

    // For the API: domains with their endpoints and mappings (at most `max_mappings` each).
    [[nodiscard]] nlohmann::json dump(std::size_t max_mappings) const;
    [[nodiscard]] std::size_t mapping_count() const noexcept { return mappings_; }

private:
    struct Mapping {
        std::uint64_t end = 0; // inclusive
        std::uint64_t phys = 0;
        std::uint32_t flags = 0;
    };
    struct Domain {
        bool bypass = false;
        std::set<std::uint32_t> endpoints;
        std::map<std::uint64_t, Mapping> mappings; // by virt_start
    };

    void detach_endpoint(std::uint32_t endpoint);
    [[nodiscard]] bool overlaps_reserved(std::uint64_t start, std::uint64_t end) const noexcept;

    Limits limits_;
    std::set<std::uint32_t> endpoints_;
    std::map<std::uint32_t, std::uint32_t> attached_; // endpoint -> domain
    std::map<std::uint32_t, Domain> domains_;
    std::size_t mappings_ = 0;
    std::atomic<bool> unattached_bypass_ { false };
    DmaGenerations generations_;
};

} // namespace vmm::virtio
