// SPDX-License-Identifier: Apache-2.0
// DirectDma: the identity DMA space (no VIRTIO_F_ACCESS_PLATFORM): addresses are guest-physical.
#pragma once

#include "virtio/memory/dma_space.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

class DirectDma final : public DmaSpace {
public:
    explicit DirectDma(const GuestMemory& memory) noexcept : memory_(&memory) {}

    // A range may span RAM regions that touch (one slice each), never a hole: device MMIO and
    // PCI BARs are not RAM, so DMA into them fails here instead of reaching a device model.
    [[nodiscard]] Result<SliceList> resolve(std::uint64_t addr, std::uint64_t len,
        Access access) const override;
    [[nodiscard]] bool append(std::uint64_t addr, std::uint64_t len, Access access,
        SliceListBase& out) const override;
    // The identity map never changes: one generation for ever, and nothing ever waits for a
    // pin on it, so an empty pin costs nothing on the per-request path.
    [[nodiscard]] std::uint64_t generation() const noexcept override { return 1; }
    [[nodiscard]] DmaPin pin() const override { return DmaPin {}; }

private:
    [[nodiscard]] bool append_spanning(std::uint64_t addr, std::uint64_t len, SliceListBase& out) const;

    const GuestMemory* memory_;
};

} // namespace vmm::virtio
