// SPDX-License-Identifier: Apache-2.0
// DescriptorChain: one validated buffer taken from a virtqueue, handed back with add_used().
#pragma once

#include <cstdint>
#include <utility>

#include "virtio/queue/chain_io.hpp"

namespace vmm::virtio {

class Queue;

// Every descriptor of the chain has been copied out of guest memory once, checked, and resolved
// through the DMA space; what is left are the slices behind a Reader (device-readable part) and
// a Writer (device-writable part). Move-only: it goes back to its queue exactly once. A chain
// remembers the Queue instance (epoch) it came from, so completing it after that queue was
// reset or re-activated does nothing.
class DescriptorChain {
public:
    // Only a Queue can make one: it builds the chain in place, in the caller's optional.
    class Key {
        friend class Queue;
        Key() = default;
    };
    explicit DescriptorChain(Key /*key*/) noexcept {}

    DescriptorChain(DescriptorChain&& o) noexcept
        : reader_(std::move(o.reader_))
        , writer_(std::move(o.writer_))
        , epoch_(std::exchange(o.epoch_, 0))
        , sequence_(o.sequence_)
        , id_(o.id_)
        , slots_(o.slots_)
        , queue_index_(o.queue_index_)
        , descriptors_(o.descriptors_)
    {
    }
    DescriptorChain& operator=(DescriptorChain&& o) noexcept
    {
        if (this != &o) {
            reader_ = std::move(o.reader_);
            writer_ = std::move(o.writer_);
            epoch_ = std::exchange(o.epoch_, 0);
            sequence_ = o.sequence_;
            id_ = o.id_;
            slots_ = o.slots_;
            queue_index_ = o.queue_index_;
            descriptors_ = o.descriptors_;
        }
        return *this;
    }
    DescriptorChain(const DescriptorChain&) = delete;
    DescriptorChain& operator=(const DescriptorChain&) = delete;
    ~DescriptorChain() = default;

    // Split ring: the head descriptor index. Packed ring: the buffer ID.
    [[nodiscard]] std::uint16_t head() const noexcept { return id_; }
    [[nodiscard]] std::uint16_t queue_index() const noexcept { return queue_index_; }
    // Descriptors walked, zero-length and indirect-table entries included.
    [[nodiscard]] std::uint32_t descriptor_count() const noexcept { return descriptors_; }
    // False once handed back (or moved from).
    [[nodiscard]] bool valid() const noexcept { return epoch_ != 0; }

    [[nodiscard]] Reader& reader() noexcept { return reader_; }
    [[nodiscard]] const Reader& reader() const noexcept { return reader_; }
    [[nodiscard]] Writer& writer() noexcept { return writer_; }
    [[nodiscard]] const Writer& writer() const noexcept { return writer_; }

private:
    friend class Queue;
    // The walk appends each direction's slices here, then seals them.
    [[nodiscard]] ChainSlices& readable() noexcept { return reader_.cursor_.unsealed(); }
    [[nodiscard]] ChainSlices& writable() noexcept { return writer_.cursor_.unsealed(); }
    void seal() noexcept
    {
        reader_.cursor_.seal();
        writer_.cursor_.seal();
    }

    Reader reader_;
    Writer writer_;
    std::uint64_t epoch_ = 0;    // Queue instance; 0: handed back or moved from
    std::uint64_t sequence_ = 0; // pop order, for VIRTIO_F_IN_ORDER completion
    std::uint16_t id_ = 0;
    std::uint16_t slots_ = 1;    // packed: ring slots the chain occupied
    std::uint16_t queue_index_ = 0;
    std::uint32_t descriptors_ = 0;
};

} // namespace vmm::virtio
