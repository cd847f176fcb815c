// SPDX-License-Identifier: Apache-2.0
// BarAllocator.
#include "vmm/pci/bar_allocator.hpp"

#include <algorithm>
#include <array>
#include <bit>

namespace vmm::pci {

BarAllocator::BarAllocator(Window mmio32, Window mmio64) noexcept
    : mmio32_(mmio32)
    , mmio64_(mmio64)
    , low_ { mmio32, mmio32.base }
    , high_ { mmio64, mmio64.base }
{
}

Result<std::uint64_t> BarAllocator::take(Cursor& c, std::uint64_t size, const char* what)
{
    // Overflow-safe: every value stays inside the window, which does not wrap.
    const std::uint64_t end = c.window.base + c.window.size;
    const std::uint64_t aligned = (c.next + (size - 1)) & ~(size - 1);
    if (aligned < c.next || aligned > end || size > end - aligned) {
        return fail(Errc::out_of_range, "no room for a {:#x}-byte BAR in the {} window {:#x}+{:#x}", size, what,
            c.window.base, c.window.size);
    }
    c.next = aligned + size;
    return aligned;
}

Result<std::uint64_t> BarAllocator::allocate(const BarSpec& bar)
{
    if (!std::has_single_bit(bar.size)) {
        return fail(Errc::invalid_argument, "BAR size {:#x} is not a power of two", bar.size);
    }
    switch (bar.kind) {
    case BarKind::mem32:
        return take(low_, bar.size, "32-bit");
    case BarKind::mem64:
        return take(high_, bar.size, "64-bit");
    case BarKind::io:
        return fail(Errc::unsupported, "I/O BARs are not supported: the host bridge has no I/O window");
    case BarKind::none:
        break;
    }
    return fail(Errc::invalid_argument, "BAR not implemented");
}

Result<> BarAllocator::assign(PciDevice& device)
{
    const BarSpecs bars = device.bars();
    std::array<std::uint8_t, BAR_COUNT> order {};
    for (std::uint8_t i = 0; i < BAR_COUNT; ++i) {
        order[i] = i;
    }
    std::stable_sort(
        order.begin(), order.end(), [&](std::uint8_t a, std::uint8_t b) { return bars[a].size > bars[b].size; });
    for (const std::uint8_t i : order) {
        if (bars[i].kind == BarKind::none) {
            continue;
        }
        device.set_bar_address(i, VMM_TRY(allocate(bars[i])));
    }
    return {};
}

} // namespace vmm::pci
