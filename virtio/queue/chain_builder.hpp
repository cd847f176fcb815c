// SPDX-License-Identifier: Apache-2.0
// ChainBuilder: the layout-independent checks on each descriptor of a chain (internal).
#pragma once

#include <cstdint>
#include <vector>

#include "virtio/memory/dma_space.hpp"
#include "virtio/queue/chain_io.hpp"
#include "virtio/queue/queue_fault.hpp"

namespace vmm::virtio {

// Collects the buffers of one chain from descriptors the ring code has already copied out of
// guest memory, in chain order, straight into the chain's two lists.
class ChainBuilder {
public:
    ChainBuilder(const DmaSpace& dma, ChainSlices& readable, ChainSlices& writable) noexcept
        : dma_(&dma)
        , readable_(&readable)
        , writable_(&writable)
    {
    }

    // Guest-controlled: addr, len, writable. Checks (virtio 1.2 §2.7.4.2, §2.7.5.2, §2.8.17):
    // readable buffers come before writable ones, the lengths sum to less than 2^32, and each
    // range resolves through the DMA space for the access its direction needs. A zero-length
    // descriptor is skipped (the caller still counts it against the chain bound): QEMU's
    // refusal of them has hung guests that send empty control buffers (CVE-2023-5158 context).
    [[nodiscard]] FaultOr<void> add(std::uint64_t addr, std::uint32_t len, bool writable);

private:
    const DmaSpace* dma_;
    ChainSlices* readable_;
    ChainSlices* writable_;
    std::uint64_t total_ = 0;
    bool seen_writable_ = false;
};

// Copies an indirect descriptor table (virtio 1.2 §2.7.5.3, §2.8.7) into `out`, once, after
// checking its length: non-zero, a multiple of 16, and at most `max_entries` entries. The table
// must resolve as device-readable memory.
template <class Desc>
[[nodiscard]] FaultOr<void> copy_indirect_table(const DmaSpace& dma, std::uint64_t addr, std::uint32_t len,
    std::uint16_t max_entries, std::vector<Desc>& out)
{
    static_assert(sizeof(Desc) == 16);
    if (len == 0 || len % sizeof(Desc) != 0) {
        return Unexpected(QueueFault::indirect_bad_length);
    }
    const std::size_t entries = len / sizeof(Desc);
    if (entries > max_entries) {
        return Unexpected(QueueFault::indirect_too_large);
    }
    auto slices = dma.resolve(addr, len, Access::read);
    if (!slices) {
        return Unexpected(QueueFault::indirect_unmapped);
    }
    out.resize(entries);
    auto bytes = std::as_writable_bytes(std::span(out));
    std::size_t done = 0;
    for (const auto& s : *slices) {
        s.copy_to(bytes.subspan(done, s.size()));
        done += s.size();
    }
    return {};
}

} // namespace vmm::virtio
