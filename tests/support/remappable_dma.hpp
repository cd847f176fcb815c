// SPDX-License-Identifier: Apache-2.0
// RemappableDma: an IOMMU stand-in for tests: identity, minus ranges a test unmaps.
#pragma once

#include <cstdint>
#include <limits>

#include "virtio/memory/dma_space.hpp"

namespace vmm::virtio::test {

// Every mapping change starts a new DMA generation, as a virtio-iommu does on UNMAP or DETACH,
// so queues must resolve their rings again.
class RemappableDma final : public DmaSpace {
public:
    explicit RemappableDma(const DmaSpace& inner) noexcept : inner_(&inner) {}

    [[nodiscard]] Result<SliceList> resolve(std::uint64_t addr, std::uint64_t len, Access access) const override
    {
        // Overflow-safe: an end past 2^64 is clamped, which cannot hide an overlap.
        const std::uint64_t end = clamped_end(addr, len);
        if (len != 0 && addr < hole_end_ && hole_start_ < end) {
            return fail(Errc::out_of_range, "DMA range {:#x}+{:#x} is unmapped", addr, len);
        }
        return inner_->resolve(addr, len, access);
    }
    [[nodiscard]] std::uint64_t generation() const noexcept override { return generations_.current(); }
    [[nodiscard]] DmaPin pin() const override { return generations_.pin(); }
    [[nodiscard]] DmaGenerations& generations() noexcept { return generations_; }

    // Unmaps [start, start+len) (replacing an earlier hole); len 0 maps everything again.
    void unmap(std::uint64_t start, std::uint64_t len, bool new_generation = true) noexcept
    {
        hole_start_ = start;
        hole_end_ = clamped_end(start, len);
        if (new_generation) {
            generations_.advance();
        }
    }

private:
    [[nodiscard]] static std::uint64_t clamped_end(std::uint64_t start, std::uint64_t len) noexcept
    {
        constexpr auto max = std::numeric_limits<std::uint64_t>::max();
        return len > max - start ? max : start + len;
    }

    const DmaSpace* inner_;
    DmaGenerations generations_;
    std::uint64_t hole_start_ = 0;
    std::uint64_t hole_end_ = 0;
};

} // namespace vmm::virtio::test
