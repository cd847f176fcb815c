// SPDX-License-Identifier: Apache-2.0
// Queue: the split ring (virtio 1.2 §2.7).
#include <atomic>

#include "virtio/queue/chain_builder.hpp"
#include "virtio/queue/queue.hpp"

namespace vmm::virtio {

FaultOr<bool> Queue::pop_split(DescriptorChain& chain)
{
    // virtio 1.2 §2.7.13.3: the driver writes the ring entry, then a barrier, then avail->idx.
    // The acquire load pairs with that barrier: entries below idx are visible once idx is.
    const auto avail_idx = driver_.load_u16(RING_IDX_OFFSET, std::memory_order_acquire);
    if (!avail_idx) {
        return Unexpected(QueueFault::ring_unmapped);
    }
    // Guest-controlled: avail_idx. More than size_ new entries cannot be real (the driver
    // cannot have more buffers outstanding than descriptors); an index that went backwards
    // shows up here as a huge distance.
    const auto pending = static_cast<std::uint16_t>(*avail_idx - state_.next_avail);
    if (pending == 0) {
        return false;
    }
    if (pending > size_) {
        return Unexpected(QueueFault::queue_overrun);
    }
    // Invariant: size_ is a power of two (checked at activation), so masking is the modulo.
    const auto slot = static_cast<std::uint16_t>(state_.next_avail & (size_ - 1));
    const auto head = driver_.load_u16(split_avail_entry_offset(slot), std::memory_order_relaxed);
    if (!head) {
        return Unexpected(QueueFault::ring_unmapped);
    }
    // Guest-controlled: head.
    if (*head >= size_) {
        return Unexpected(QueueFault::head_out_of_range);
    }
    if (!mark_in_flight(*head)) {
        return Unexpected(QueueFault::head_in_flight);
    }
    if (auto r = walk_split(*head, chain); !r) {
        return Unexpected(r.error());
    }
    ++state_.next_avail;
    chain.epoch_ = epoch_;
    chain.sequence_ = next_sequence_++;
    chain.id_ = *head;
    chain.slots_ = 1;
    chain.queue_index_ = index_;
    return true;
}

FaultOr<void> Queue::walk_split(std::uint16_t head, DescriptorChain& chain)
{
    ChainBuilder builder(*dma_, chain.readable(), chain.writable());
    std::uint16_t index = head;
    std::uint32_t count = 0;
    for (;;) {
        // virtio 1.2 §2.7.5.3.1: a chain is at most queue-size descriptors long, so a longer
        // walk is a loop (zero-length descriptors count too).
        if (++count > size_) {
            return Unexpected(QueueFault::chain_too_long);
        }
        // Copy the descriptor once; every check and use below reads this copy only.
        const auto desc = desc_.read<VirtqDesc>(std::uint64_t { 16 } * index);
        if (!desc) {
            return Unexpected(QueueFault::ring_unmapped);
        }
        // Guest-controlled: every field of desc.
        const std::uint16_t flags = desc->flags.get();
        if ((flags & VIRTQ_DESC_F_INDIRECT) != 0) {
            // virtio 1.2 §2.7.5.3.1: only with VIRTIO_F_INDIRECT_DESC, never with NEXT (so
            // it ends the chain: zero or more direct descriptors, then one table). WRITE on
            // the table descriptor itself is ignored (§2.7.5.3.2).
            if (!indirect_) {
                return Unexpected(QueueFault::indirect_not_negotiated);
            }
            if ((flags & VIRTQ_DESC_F_NEXT) != 0) {
                return Unexpected(QueueFault::indirect_with_next);
            }
            if (auto r = copy_indirect_table(*dma_, desc->addr.get(), desc->len.get(), size_, split_table_); !r) {
                return Unexpected(r.error());
            }
            // The table is a host copy now: the guest cannot change it under the walk.
            const std::size_t entries = split_table_.size();
            std::uint16_t t = 0;
            std::uint32_t walked = 0;
            for (;;) {
                if (++walked > entries) {
                    return Unexpected(QueueFault::chain_too_long);
                }
                const VirtqDesc& e = split_table_[t];
                const std::uint16_t eflags = e.flags.get();
                if ((eflags & VIRTQ_DESC_F_INDIRECT) != 0) {
                    return Unexpected(QueueFault::nested_indirect);
                }
                if (auto r = builder.add(e.addr.get(), e.len.get(), (eflags & VIRTQ_DESC_F_WRITE) != 0); !r) {
                    return Unexpected(r.error());
                }
                if ((eflags & VIRTQ_DESC_F_NEXT) == 0) {
                    break;
                }
                t = e.next.get();
                if (t >= entries) {
                    return Unexpected(QueueFault::next_out_of_range);
                }
            }
            count += walked;
            break;
        }
        if (auto r = builder.add(desc->addr.get(), desc->len.get(), (flags & VIRTQ_DESC_F_WRITE) != 0); !r) {
            return Unexpected(r.error());
        }
        if ((flags & VIRTQ_DESC_F_NEXT) == 0) {
            break;
        }
        index = desc->next.get();
        if (index >= size_) {
            return Unexpected(QueueFault::next_out_of_range);
        }
    }
    chain.seal();
    chain.descriptors_ = count;
    return {};
}

bool Queue::write_used_split(const Used& used) noexcept
{
    // virtio 1.2 §2.7.8.2: the element is written before idx moves past it (publish_split()).
    const auto slot = static_cast<std::uint16_t>(state_.next_used & (size_ - 1));
    VirtqUsedElem elem;
    elem.id.set(used.id);
    elem.len.set(used.len);
    if (!device_.write(split_used_entry_offset(slot), elem)) {
        return false;
    }
    ++state_.next_used;
    ++used_since_signal_;
    return true;
}

bool Queue::publish_split() noexcept
{
    // Release: the elements written above are visible to a driver that sees the new idx.
    return device_.store_u16(RING_IDX_OFFSET, state_.next_used, std::memory_order_release);
}

FaultOr<bool> Queue::set_notification_split(bool enable) noexcept
{
    // virtio 1.2 §2.7.10: without EVENT_IDX the device sets or clears VIRTQ_USED_F_NO_NOTIFY;
    // with it, avail_event names the avail index that should next trigger a notification.
    if (event_idx_) {
        if (!enable) {
            return false; // nothing to do: avail_event stays behind, so no notification is due
        }
        if (!device_.store_u16(split_avail_event_offset(size_), state_.next_avail, std::memory_order_relaxed)) {
            return Unexpected(QueueFault::ring_unmapped);
        }
    } else {
        const std::uint16_t flags = enable ? 0 : VIRTQ_USED_F_NO_NOTIFY;
        if (!device_.store_u16(RING_FLAGS_OFFSET, flags, std::memory_order_relaxed)) {
            return Unexpected(QueueFault::ring_unmapped);
        }
    }
    if (!enable) {
        return false;
    }
    // The store above and the idx load below must not be reordered (store-load), or a buffer
    // added in between is missed by both sides: full fence, as in the driver's mirror image.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const auto avail_idx = driver_.load_u16(RING_IDX_OFFSET, std::memory_order_acquire);
    if (!avail_idx) {
        return Unexpected(QueueFault::ring_unmapped);
    }
    return *avail_idx != state_.next_avail;
}

FaultOr<bool> Queue::needs_notification_split() noexcept
{
    if (used_since_signal_ == 0) {
        return false;
    }
    // The used idx store (release) must be ordered before the loads of the driver's
    // suppression fields: a store-load pair, so a full fence.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool notify = true;
    if (event_idx_) {
        // virtio 1.2 §2.7.7.2: notify when the used idx moved past used_event.
        const auto used_event = driver_.load_u16(split_used_event_offset(size_), std::memory_order_relaxed);
        if (!used_event) {
            return Unexpected(QueueFault::ring_unmapped);
        }
        // Guest-controlled: used_event. More than 2^16 entries since the last check make the
        // window ambiguous; notify then.
        notify = used_since_signal_ >= (std::uint64_t { 1 } << 16)
            || vring_need_event(*used_event, state_.next_used, static_cast<std::uint16_t>(signalled_));
    } else {
        // virtio 1.2 §2.7.7.2: flags 0 means notify; VIRTQ_AVAIL_F_NO_INTERRUPT means don't.
        const auto flags = driver_.load_u16(RING_FLAGS_OFFSET, std::memory_order_relaxed);
        if (!flags) {
            return Unexpected(QueueFault::ring_unmapped);
        }
        notify = (*flags & VIRTQ_AVAIL_F_NO_INTERRUPT) == 0;
    }
    signalled_ = state_.next_used;
    used_since_signal_ = 0;
    return notify;
}

std::optional<std::uint16_t> Queue::driver_outstanding_split() const noexcept
{
    // virtio 1.2 §2.7.10: used_event is the used idx the driver next wants to hear about,
    // normally its own last_used. Everything taken since then is still outstanding to it.
    const auto used_event = driver_.load_u16(split_used_event_offset(size_), std::memory_order_relaxed);
    if (!used_event) {
        return std::nullopt;
    }
    // Guest-controlled: a used_event ahead of what was taken, or more than a ring behind it
    // (Linux writes 0 while its callback runs), says nothing about the driver's depth.
    const auto d = static_cast<std::uint16_t>(state_.next_avail - *used_event);
    if (d > size_) {
        return std::nullopt;
    }
    return d;
}

} // namespace vmm::virtio
