// SPDX-License-Identifier: Apache-2.0
// SlotPool: the requests a device has in flight, each found again by the 32-bit tag the back
// end hands back on completion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vmm/base/log.hpp"

namespace vmm::virtio {

// Slots are reused most recent first and the pool only grows, up to the number of requests
// the device had in flight at once (bounded by its queues' sizes), so after warm-up a request
// costs no allocation. A slot's T keeps its members (and their capacity) between uses; the
// device resets what it needs on acquire. References to slots do not survive acquire().
template <class T>
class SlotPool {
public:
    void reserve(std::size_t n)
    {
        slots_.reserve(n);
        used_.reserve(n);
        free_.reserve(n);
    }

    [[nodiscard]] std::uint32_t acquire()
    {
        std::uint32_t slot = 0;
        if (free_.empty()) {
            slot = static_cast<std::uint32_t>(slots_.size());
            slots_.emplace_back();
            used_.push_back(true);
        } else {
            slot = free_.back();
            free_.pop_back();
            used_[slot] = true;
        }
        return slot;
    }

    void release(std::uint32_t slot)
    {
        VMM_ASSERT(in_use(slot));
        used_[slot] = false;
        free_.push_back(slot);
    }

    // Whether `tag` names a slot in use: what a completion's tag must be.
    [[nodiscard]] bool in_use(std::uint64_t tag) const noexcept { return tag < used_.size() && used_[tag]; }
    [[nodiscard]] std::size_t in_use_count() const noexcept { return slots_.size() - free_.size(); }
    [[nodiscard]] std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(slots_.size()); }

    T& operator[](std::uint64_t slot) noexcept { return slots_[slot]; }
    const T& operator[](std::uint64_t slot) const noexcept { return slots_[slot]; }

    // Calls f(slot, T&) for every slot in use.
    template <class F>
    void for_each_in_use(F&& f)
    {
        for (std::uint32_t i = 0; i < slots_.size(); ++i) {
            if (used_[i]) {
                f(i, slots_[i]);
            }
        }
    }
    template <class F>
    void for_each_in_use(F&& f) const
    {
        for (std::uint32_t i = 0; i < slots_.size(); ++i) {
            if (used_[i]) {
                f(i, slots_[i]);
            }
        }
    }

private:
    std::vector<T> slots_;
    std::vector<bool> used_;
    std::vector<std::uint32_t> free_;
};

} // namespace vmm::virtio
