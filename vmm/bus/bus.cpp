// SPDX-License-Identifier: Apache-2.0
// Address-range bus.
#include "vmm/bus/bus.hpp"

#include <mutex>

namespace vmm {

Result<> Bus::insert(std::shared_ptr<BusDevice> dev, std::uint64_t base, std::uint64_t len)
{
    std::uint64_t last = 0;
    if (len == 0 || __builtin_add_overflow(base, len - 1, &last)) {
        return fail(Errc::invalid_argument, "{}: bad range {:#x}+{:#x}", name_, base, len);
    }
    std::unique_lock lock(mutex_);
    auto next = ranges_.lower_bound(base);
    if (next != ranges_.end() && next->first <= last) {
        return fail(Errc::busy, "{}: range {:#x}+{:#x} overlaps {:#x}", name_, base, len, next->first);
    }
    if (next != ranges_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + (prev->second.len - 1) >= base) {
            return fail(Errc::busy, "{}: range {:#x}+{:#x} overlaps {:#x}", name_, base, len, prev->first);
        }
    }
    ranges_.emplace(base, Range { len, std::move(dev) });
    return {};
}

bool Bus::remove(std::uint64_t base)
{
    std::unique_lock lock(mutex_);
    return ranges_.erase(base) != 0;
}

std::shared_ptr<BusDevice> Bus::find(std::uint64_t addr, std::size_t size, std::uint64_t* offset) const
{
    std::shared_lock lock(mutex_);
    auto it = ranges_.upper_bound(addr);
    if (it == ranges_.begin()) {
        return nullptr;
    }
    --it;
    const std::uint64_t off = addr - it->first;
    // Overflow-safe: the access must lie wholly inside the range.
    if (off >= it->second.len || size > it->second.len - off) {
        return nullptr;
    }
    *offset = off;
    // A copy of the shared_ptr keeps the device alive across the call even if the range is
    // removed meanwhile by another vCPU.
    return it->second.dev;
}

bool Bus::read(std::uint64_t addr, std::span<std::byte> data) const noexcept
{
    std::uint64_t off = 0;
    auto dev = find(addr, data.size(), &off);
    if (!dev) {
        return false;
    }
    dev->read(off, data);
    return true;
}

bool Bus::write(std::uint64_t addr, std::span<const std::byte> data) const noexcept
{
    std::uint64_t off = 0;
    auto dev = find(addr, data.size(), &off);
    if (!dev) {
        return false;
    }
    dev->write(off, data);
    return true;
}

} // namespace vmm
