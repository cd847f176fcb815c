// SPDX-License-Identifier: Apache-2.0
// Queue: the packed ring (virtio 1.2 §2.8).
#include <atomic>

#include "virtio/queue/chain_builder.hpp"
#include "virtio/queue/queue.hpp"

namespace vmm::virtio {
namespace {

// virtio 1.2 §2.8.1: a descriptor is available when its AVAIL bit equals the wrap counter
// the device expects and its USED bit differs from it.
[[nodiscard]] constexpr bool is_available(std::uint16_t flags, bool wrap) noexcept
{
    const bool avail = (flags & VIRTQ_DESC_F_AVAIL) != 0;
    const bool used = (flags & VIRTQ_DESC_F_USED) != 0;
    return avail == wrap && used != wrap;
}

[[nodiscard]] constexpr std::uint64_t desc_offset(std::uint16_t pos) noexcept
{
    return std::uint64_t { 16 } * pos;
}

// Position (pos, wrap) as one number modulo 2*size: wrap counters start at 1, so the first
// lap is [0, size) and the second [size, 2*size).
[[nodiscard]] constexpr std::uint32_t linear(std::uint16_t pos, bool wrap, std::uint16_t size) noexcept
{
    return wrap ? pos : std::uint32_t { pos } + size;
}

} // namespace

bool Queue::packed_avail_at(std::uint16_t pos, bool wrap, std::uint16_t* flags) const noexcept
{
    // Acquire: pairs with the driver's barrier before it flips the flags (§2.8.21.1), so the
    // rest of the descriptor (and of a chain, whose head is made available last) is visible.
    const auto f = desc_.load_u16(desc_offset(pos) + PACKED_DESC_FLAGS_OFFSET, std::memory_order_acquire);
    if (!f) {
        return false;
    }
    *flags = *f;
    return is_available(*f, wrap);
}

FaultOr<bool> Queue::pop_packed(DescriptorChain& chain)
{
    std::uint16_t pos = state_.next_avail;
    bool wrap = state_.avail_wrap;
    std::uint16_t flags = 0;
    if (!packed_avail_at(pos, wrap, &flags)) {
        if (!desc_.at(desc_offset(pos), sizeof(PvirtqDesc))) {
            return Unexpected(QueueFault::ring_unmapped);
        }
        return false;
    }
    ChainBuilder builder(*dma_, chain.readable(), chain.writable());
    std::uint32_t slots = 0;
    std::uint32_t descriptors = 0;
    std::uint16_t id = 0;
    for (;;) {
        ++slots;
        // virtio 1.2 §2.8.17: a list is at most queue-size descriptors. Slots still held by
        // chains in flight cannot have been made available again, so together they never
        // exceed the ring either.
        if (slots > size_) {
            return Unexpected(QueueFault::chain_too_long);
        }
        if (slots_in_flight_ + slots > size_) {
            return Unexpected(QueueFault::queue_overrun);
        }
        if (slots > 1 && !packed_avail_at(pos, wrap, &flags)) {
            // §2.8.6: the driver makes the head available after the rest of the list.
            return Unexpected(QueueFault::chain_incomplete);
        }
        // Copy the descriptor once; the flags were loaded (once) by packed_avail_at() and that
        // value is the one used, whatever the copy's flags field says.
        auto desc = desc_.read<PvirtqDesc>(desc_offset(pos));
        if (!desc) {
            return Unexpected(QueueFault::ring_unmapped);
        }
        // Guest-controlled: every field of desc, and flags.
        ++descriptors;
        ++pos;
        if (pos == size_) {
            pos = 0;
            wrap = !wrap;
        }
        if ((flags & VIRTQ_DESC_F_INDIRECT) != 0) {
            // §2.8.19: only with VIRTIO_F_INDIRECT_DESC, and never in a list linked by NEXT.
            // WRITE on the table descriptor is ignored (§2.8.7).
            if (!indirect_) {
                return Unexpected(QueueFault::indirect_not_negotiated);
            }
            if ((flags & VIRTQ_DESC_F_NEXT) != 0 || slots > 1) {
                return Unexpected(QueueFault::indirect_with_next);
            }
            if (auto r = copy_indirect_table(*dma_, desc->addr.get(), desc->len.get(), size_, packed_table_); !r) {
                return Unexpected(r.error());
            }
            // §2.8.7: table entries are used in order; only WRITE is meaningful there, NEXT and
            // the buffer ID are ignored. INDIRECT is refused rather than ignored: a driver
            // that sets it is broken, and one level of tables is all this walk supports.
            for (const PvirtqDesc& e : packed_table_) {
                ++descriptors;
                const std::uint16_t eflags = e.flags.get();
                if ((eflags & VIRTQ_DESC_F_INDIRECT) != 0) {
                    return Unexpected(QueueFault::nested_indirect);
                }
                if (auto r = builder.add(e.addr.get(), e.len.get(), (eflags & VIRTQ_DESC_F_WRITE) != 0); !r) {
                    return Unexpected(r.error());
                }
            }
            id = desc->id.get();
            break;
        }
        if (auto r = builder.add(desc->addr.get(), desc->len.get(), (flags & VIRTQ_DESC_F_WRITE) != 0); !r) {
            return Unexpected(r.error());
        }
        if ((flags & VIRTQ_DESC_F_NEXT) == 0) {
            // §2.8.6: the buffer ID is in the last descriptor of the list.
            id = desc->id.get();
            break;
        }
    }
    if (!mark_in_flight(id)) {
        return Unexpected(QueueFault::head_in_flight);
    }
    state_.next_avail = pos;
    state_.avail_wrap = wrap;
    slots_in_flight_ += slots;

    chain.seal();
    chain.descriptors_ = descriptors;
    chain.epoch_ = epoch_;
    chain.sequence_ = next_sequence_++;
    chain.id_ = id;
    chain.slots_ = static_cast<std::uint16_t>(slots);
    chain.queue_index_ = index_;
    return true;
}

bool Queue::write_used_packed(const Used& used) noexcept
{
    // virtio 1.2 §2.8.6: one used descriptor per list, written at the next used position; the
    // device then skips as many slots as the list took. AVAIL and USED both equal the device
    // wrap counter; WRITE says len is meaningful (§2.8.3, §2.8.4).
    const std::uint16_t pos = state_.next_used;
    std::uint16_t flags = used.len != 0 ? VIRTQ_DESC_F_WRITE : 0;
    if (state_.used_wrap) {
        flags |= VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
    }
    const std::uint64_t off = desc_offset(pos);
    if (!desc_.write(off + 8, le32(used.len)) || !desc_.write(off + 12, le16(used.id))) {
        return false;
    }
    if (!staged_) {
        // The first entry of a batch becomes visible last, in publish_packed() (§2.8.9).
        staged_first_pos_ = pos;
        staged_first_flags_ = flags;
    } else if (!desc_.store_u16(off + PACKED_DESC_FLAGS_OFFSET, flags, std::memory_order_release)) {
        return false;
    }
    std::uint32_t next = std::uint32_t { pos } + used.slots;
    if (next >= size_) {
        next -= size_;
        state_.used_wrap = !state_.used_wrap;
    }
    state_.next_used = static_cast<std::uint16_t>(next);
    slots_in_flight_ -= used.slots;
    used_since_signal_ += used.slots;
    return true;
}

bool Queue::publish_packed() noexcept
{
    // Release: id and len of this entry and of all later staged ones are visible first.
    return desc_.store_u16(desc_offset(staged_first_pos_) + PACKED_DESC_FLAGS_OFFSET, staged_first_flags_,
        std::memory_order_release);
}

FaultOr<bool> Queue::set_notification_packed(bool enable) noexcept
{
    // virtio 1.2 §2.8.10: the device area's event suppression structure tells the driver
    // whether to send available-buffer notifications; with EVENT_IDX it names the position.
    std::uint16_t mode = RING_EVENT_FLAGS_DISABLE;
    if (enable) {
        mode = RING_EVENT_FLAGS_ENABLE;
        if (event_idx_) {
            const auto desc = static_cast<std::uint16_t>(
                state_.next_avail | (state_.avail_wrap ? 1U << RING_EVENT_WRAP_SHIFT : 0U));
            if (!device_.store_u16(EVENT_DESC_OFFSET, desc, std::memory_order_relaxed)) {
                return Unexpected(QueueFault::ring_unmapped);
            }
            mode = RING_EVENT_FLAGS_DESC;
        }
    }
    if (!device_.store_u16(EVENT_FLAGS_OFFSET, mode, std::memory_order_release)) {
        return Unexpected(QueueFault::ring_unmapped);
    }
    if (!enable) {
        return false;
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::uint16_t flags = 0;
    if (packed_avail_at(state_.next_avail, state_.avail_wrap, &flags)) {
        return true;
    }
    if (!desc_.at(desc_offset(state_.next_avail), sizeof(PvirtqDesc))) {
        return Unexpected(QueueFault::ring_unmapped);
    }
    return false;
}

FaultOr<bool> Queue::needs_notification_packed() noexcept
{
    if (used_since_signal_ == 0) {
        return false;
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const auto mode = driver_.load_u16(EVENT_FLAGS_OFFSET, std::memory_order_relaxed);
    const auto desc = driver_.load_u16(EVENT_DESC_OFFSET, std::memory_order_relaxed);
    if (!mode || !desc) {
        return Unexpected(QueueFault::ring_unmapped);
    }
    const std::uint32_t period = std::uint32_t { size_ } * 2;
    const std::uint32_t now = linear(state_.next_used, state_.used_wrap, size_);
    // Guest-controlled: mode and desc. Reserved values and DESC without EVENT_IDX notify: a
    // spurious notification is harmless (§2.8.10), a missing one hangs the driver.
    bool notify = true;
    switch (*mode & RING_EVENT_FLAGS_MASK) {
    case RING_EVENT_FLAGS_DISABLE:
        notify = false;
        break;
    case RING_EVENT_FLAGS_DESC:
        if (event_idx_) {
            const auto off = static_cast<std::uint16_t>(*desc & RING_EVENT_OFF_MASK);
            const bool wrap = (*desc >> RING_EVENT_WRAP_SHIFT) != 0;
            if (off < size_ && used_since_signal_ < period) {
                // Notify when the named slot is among those used since the last check: the
                // window [signalled_, now) modulo 2*size, vring_need_event() on slots.
                const std::uint32_t event = linear(off, wrap, size_);
                notify = (now + 2 * period - event - 1) % period < used_since_signal_;
            }
        }
        break;
    default:
        break;
    }
    signalled_ = now;
    used_since_signal_ = 0;
    return notify;
}

std::optional<std::uint16_t> Queue::driver_outstanding_packed() const noexcept
{
    // virtio 1.2 §2.8.10: in DESC mode the driver names the ring slot (offset and wrap) whose
    // use it wants to hear about: its own next used position. Slots taken since are outstanding.
    const auto mode = driver_.load_u16(EVENT_FLAGS_OFFSET, std::memory_order_relaxed);
    const auto desc = driver_.load_u16(EVENT_DESC_OFFSET, std::memory_order_relaxed);
    if (!mode || !desc || (*mode & RING_EVENT_FLAGS_MASK) != RING_EVENT_FLAGS_DESC) {
        return std::nullopt;
    }
    const auto off = static_cast<std::uint16_t>(*desc & RING_EVENT_OFF_MASK);
    if (off >= size_) {
        return std::nullopt; // guest-controlled
    }
    const std::uint32_t period = std::uint32_t { size_ } * 2;
    const std::uint32_t event = linear(off, (*desc >> RING_EVENT_WRAP_SHIFT) != 0, size_);
    const std::uint32_t avail = linear(state_.next_avail, state_.avail_wrap, size_);
    const std::uint32_t d = (avail + period - event) % period;
    if (d > size_) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(d);
}

} // namespace vmm::virtio
