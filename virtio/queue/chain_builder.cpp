// SPDX-License-Identifier: Apache-2.0
// Per-descriptor checks shared by the split and packed rings.
#include "virtio/queue/chain_builder.hpp"

#include <limits>

namespace vmm::virtio {

FaultOr<void> ChainBuilder::add(std::uint64_t addr, std::uint32_t len, bool writable)
{
    if (len == 0) {
        return {};
    }
    if (!writable && seen_writable_) {
        return Unexpected(QueueFault::readable_after_writable);
    }
    // virtio 1.2 §2.7.5.2: a chain holds less than 2^32 bytes in total; used.len is a u32.
    total_ += len;
    if (total_ > std::numeric_limits<std::uint32_t>::max()) {
        return Unexpected(QueueFault::chain_length_overflow);
    }
    if (!dma_->append(addr, len, writable ? Access::write : Access::read, writable ? *writable_ : *readable_)) {
        return Unexpected(QueueFault::buffer_unmapped);
    }
    seen_writable_ = seen_writable_ || writable;
    return {};
}

} // namespace vmm::virtio
