// SPDX-License-Identifier: Apache-2.0
// build_e820(): RAM regions clipped to the windows the PC layout leaves usable.
#include "arch/x86_64/e820.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "arch/x86_64/layout.hpp"

namespace vmm::x86 {
namespace {

struct Window {
    std::uint64_t start;
    std::uint64_t end; // exclusive
    std::uint32_t type;
};

// In address order. RAM under the EBDA and the BIOS area is reported reserved so that the
// kernel neither allocates from it nor loses the ACPI tables written there.
constexpr std::array<Window, 4> WINDOWS { {
    { 0, EBDA_START, E820_RAM },
    { EBDA_START, HIGH_MEMORY_START, E820_RESERVED },
    { HIGH_MEMORY_START, MEM_32BIT_HOLE_START, E820_RAM },
    { RAM_64BIT_START, std::numeric_limits<std::uint64_t>::max(), E820_RAM },
} };

void append(std::vector<E820Entry>* map, std::uint64_t start, std::uint64_t end, std::uint32_t type)
{
    if (!map->empty()) {
        auto& last = map->back();
        if (last.type == type && last.addr + last.size == start) {
            last.size += end - start;
            return;
        }
    }
    map->push_back(E820Entry { start, end - start, type });
}

} // namespace

std::vector<E820Entry> build_e820(const GuestMemory& mem, std::span<const E820Entry> reserved)
{
    std::vector<E820Entry> map;
    // Invariant: regions are sorted and disjoint (GuestMemory::create), and so are the
    // windows, so walking regions then windows yields entries in address order.
    for (const auto& region : mem.regions()) {
        if (region.hotplug()) {
            continue; // its driver adds it when plugged (virtio-mem): never boot RAM
        }
        const std::uint64_t base = region.base().raw;
        const std::uint64_t end = region.end().raw;
        for (const auto& w : WINDOWS) {
            const std::uint64_t lo = std::max(base, w.start);
            const std::uint64_t hi = std::min(end, w.end);
            if (lo < hi) {
                append(&map, lo, hi, w.type);
            }
        }
    }
    if (reserved.empty()) {
        return map;
    }
    // Device ranges lie in holes between RAM entries: merge them in by address.
    std::vector<E820Entry> all(map.begin(), map.end());
    all.insert(all.end(), reserved.begin(), reserved.end());
    std::sort(all.begin(), all.end(), [](const E820Entry& a, const E820Entry& b) { return a.addr < b.addr; });
    map.clear();
    for (const auto& e : all) {
        append(&map, e.addr, e.addr + e.size, e.type);
    }
    return map;
}

} // namespace vmm::x86
