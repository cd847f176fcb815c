// SPDX-License-Identifier: Apache-2.0
// IommuDomains: request semantics and translation.
#include "virtio/devices/iommu/iommu_domains.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "virtio/spec/iommu.hpp"

namespace vmm::virtio {

IommuDomains::IommuDomains(Limits limits) : limits_(std::move(limits)) {}

void IommuDomains::add_endpoint(std::uint32_t endpoint)
{
    endpoints_.insert(endpoint);
}

void IommuDomains::detach_endpoint(std::uint32_t endpoint)
{
    auto a = attached_.find(endpoint);
    if (a == attached_.end()) {
        return;
    }
    auto d = domains_.find(a->second);
    attached_.erase(a);
    if (d != domains_.end()) {
        d->second.endpoints.erase(endpoint);
        // §5.13.6.3: once its last endpoint is detached, the domain ceases to exist.
        if (d->second.endpoints.empty()) {
            mappings_ -= d->second.mappings.size();
            domains_.erase(d);
        }
    }
    generations_.advance();
}

std::uint8_t IommuDomains::attach(std::uint32_t domain, std::uint32_t endpoint, bool bypass)
{
    if (!has_endpoint(endpoint)) {
        return VIRTIO_IOMMU_S_NOENT;
    }
    if (domain < limits_.domain_start || domain > limits_.domain_end) {
        return VIRTIO_IOMMU_S_RANGE;
    }
    auto existing = domains_.find(domain);
    if (existing != domains_.end() && existing->second.bypass != bypass) {
        // §5.13.6.2: the bypass flag must match the domain's kind.
        return VIRTIO_IOMMU_S_INVAL;
    }
    auto a = attached_.find(endpoint);
    if (a != attached_.end() && a->second == domain) {
        return VIRTIO_IOMMU_S_OK;
    }
    // §5.13.6.2: attached elsewhere: behave as if DETACH came first.
    detach_endpoint(endpoint);
    auto& d = domains_[domain];
    d.bypass = bypass;
    d.endpoints.insert(endpoint);
    attached_[endpoint] = domain;
    // The endpoint may lose access it had (bypass, or another domain's mappings).
    generations_.advance();
    return VIRTIO_IOMMU_S_OK;
}

std::uint8_t IommuDomains::detach(std::uint32_t domain, std::uint32_t endpoint)
{
    if (!has_endpoint(endpoint)) {
        return VIRTIO_IOMMU_S_NOENT;
    }
    auto a = attached_.find(endpoint);
    if (a == attached_.end() || a->second != domain) {
        return VIRTIO_IOMMU_S_INVAL;
    }
    detach_endpoint(endpoint);
    return VIRTIO_IOMMU_S_OK;
}

bool IommuDomains::overlaps_reserved(std::uint64_t start, std::uint64_t end) const noexcept
{
    return std::any_of(limits_.reserved.begin(), limits_.reserved.end(),
        [&](const IommuReservedRange& r) { return start <= r.end && r.start <= end; });
}

std::uint8_t IommuDomains::map(
    std::uint32_t domain, std::uint64_t virt_start, std::uint64_t virt_end, std::uint64_t phys, std::uint32_t flags)
{
    auto d = domains_.find(domain);
    if (d == domains_.end()) {
        return VIRTIO_IOMMU_S_NOENT;
    }
    if (d->second.bypass) {
        return VIRTIO_IOMMU_S_INVAL; // §5.13.6.4: no mappings in a bypass domain
    }
    // Guest-controlled: the range. §5.13.6.4: virt_end is inclusive and greater than
    // virt_start; checked before any arithmetic on it.
    if (virt_end < virt_start) {
        return VIRTIO_IOMMU_S_INVAL;
    }
    if (virt_end > limits_.input_end) {
        return VIRTIO_IOMMU_S_RANGE;
    }
    // Invariant: virt_end <= input_end < 2^64 - 1, so virt_end + 1 does not wrap.
    const std::uint64_t mask = limits_.granule - 1;
    if ((virt_start & mask) != 0 || (phys & mask) != 0 || ((virt_end + 1) & mask) != 0) {
        return VIRTIO_IOMMU_S_RANGE;
    }
    std::uint64_t phys_end = 0;
    if (__builtin_add_overflow(phys, virt_end - virt_start, &phys_end)) {
        return VIRTIO_IOMMU_S_RANGE;
    }
    if (overlaps_reserved(virt_start, virt_end)) {
        return VIRTIO_IOMMU_S_INVAL; // §5.13.6.8.1: MAP must not cover a RESV_MEM region
    }
    auto& maps = d->second.mappings;
    // §5.13.6.4: no overlap with an existing mapping. The candidate is the last mapping starting
    // at or before virt_end.
    auto next = maps.upper_bound(virt_end);
    if (next != maps.begin() && std::prev(next)->second.end >= virt_start) {
        return VIRTIO_IOMMU_S_INVAL;
    }
    if (mappings_ >= limits_.max_mappings) {
        return VIRTIO_IOMMU_S_NOMEM;
    }
    maps.emplace(virt_start, Mapping { virt_end, phys, flags });
    ++mappings_;
    return VIRTIO_IOMMU_S_OK;
}

std::uint8_t IommuDomains::unmap(std::uint32_t domain, std::uint64_t virt_start, std::uint64_t virt_end)
{
    auto d = domains_.find(domain);
    if (d == domains_.end()) {
        return VIRTIO_IOMMU_S_NOENT;
    }
    if (d->second.bypass) {
        return VIRTIO_IOMMU_S_INVAL;
    }
    if (virt_end < virt_start) {
        return VIRTIO_IOMMU_S_INVAL;
    }
    auto& maps = d->second.mappings;
    // The first mapping that can intersect: the one containing virt_start, else the first after.
    auto first = maps.upper_bound(virt_start);
    if (first != maps.begin() && std::prev(first)->second.end >= virt_start) {
        --first;
    }
    auto last = first;
    for (; last != maps.end() && last->first <= virt_end; ++last) {
        // §5.13.6.5: a mapping not covered in its entirety (the request would split it)
        // fails the whole request, and nothing is removed (example 4).
        if (last->first < virt_start || last->second.end > virt_end) {
            return VIRTIO_IOMMU_S_RANGE;
        }
    }
    const auto removed = static_cast<std::size_t>(std::distance(first, last));
    if (removed > 0) {
        maps.erase(first, last);
        mappings_ -= removed;
        generations_.advance();
    }
    // Uncovered parts of the range are fine (examples 1, 6, 7).
    return VIRTIO_IOMMU_S_OK;
}

void IommuDomains::detach_all()
{
    attached_.clear();
    domains_.clear();
    mappings_ = 0;
    generations_.advance();
}

std::optional<IommuDomains::Piece> IommuDomains::translate(
    std::uint32_t endpoint, std::uint64_t iova, std::uint64_t len, Access access, IommuFault* fault) const
{
    const auto refuse = [&](std::uint8_t reason) -> std::optional<Piece> {
        fault->reason = reason;
        fault->endpoint = endpoint;
        fault->address = iova;
        fault->flags = VIRTIO_IOMMU_FAULT_F_ADDRESS
            | ((static_cast<unsigned>(access) & static_cast<unsigned>(Access::read)) != 0 ? VIRTIO_IOMMU_FAULT_F_READ : 0U)
            | ((static_cast<unsigned>(access) & static_cast<unsigned>(Access::write)) != 0 ? VIRTIO_IOMMU_FAULT_F_WRITE
                                                                                            : 0U);
        return std::nullopt;
    };
    const Piece identity { iova, len, true };
    auto a = attached_.find(endpoint);
    if (a == attached_.end()) {
        // §5.13.6.1: an unattached endpoint reaches memory only in bypass mode.
        return unattached_bypass() ? std::optional(identity) : refuse(VIRTIO_IOMMU_FAULT_R_DOMAIN);
    }
    const auto d = domains_.find(a->second);
    if (d == domains_.end()) {
        return refuse(VIRTIO_IOMMU_FAULT_R_DOMAIN);
    }
    if (d->second.bypass) {
        return identity;
    }
    const auto& maps = d->second.mappings;
    auto it = maps.upper_bound(iova);
    if (it == maps.begin()) {
        return refuse(VIRTIO_IOMMU_FAULT_R_MAPPING);
    }
    --it;
    const std::uint64_t start = it->first;
    const Mapping& m = it->second;
    if (m.end < iova) {
        return refuse(VIRTIO_IOMMU_FAULT_R_MAPPING);
    }
    // §5.13.6.4: writes only to WRITE mappings; reads only to READ mappings (this IOMMU does
    // not imply READ from WRITE).
    std::uint32_t needed = 0;
    if ((static_cast<unsigned>(access) & static_cast<unsigned>(Access::read)) != 0) {
        needed |= VIRTIO_IOMMU_MAP_F_READ;
    }
    if ((static_cast<unsigned>(access) & static_cast<unsigned>(Access::write)) != 0) {
        needed |= VIRTIO_IOMMU_MAP_F_WRITE;
    }
    if ((m.flags & needed) != needed) {
        return refuse(VIRTIO_IOMMU_FAULT_R_MAPPING);
    }
    // Invariant: m.end <= input_end < 2^64 - 1, so m.end - iova + 1 does not wrap.
    Piece p;
    p.len = std::min(len, m.end - iova + 1);
    p.gpa = m.phys + (iova - start);
    p.map_start = start;
    p.map_end = m.end;
    p.map_phys = m.phys;
    p.map_flags = m.flags;
    return p;
}

nlohmann::json IommuDomains::dump(std::size_t max_mappings) const
{
    nlohmann::json domains = nlohmann::json::array();
    for (const auto& [id, d] : domains_) {
        nlohmann::json maps = nlohmann::json::array();
        for (const auto& [start, m] : d.mappings) {
            if (maps.size() >= max_mappings) {
                break;
            }
            maps.push_back({ { "virt_start", fmt::format("{:#x}", start) }, { "virt_end", fmt::format("{:#x}", m.end) },
                { "phys_start", fmt::format("{:#x}", m.phys) }, { "flags", m.flags } });
        }
        domains.push_back({ { "id", id }, { "bypass", d.bypass }, { "endpoints", d.endpoints },
            { "mapping_count", d.mappings.size() }, { "mappings", maps } });
    }
    return { { "endpoints", endpoints_ }, { "unattached_bypass", unattached_bypass() }, { "domains", domains },
        { "mapping_count", mappings_ }, { "generation", generations_.current() } };
}

} // namespace vmm::virtio
