// SPDX-License-Identifier: Apache-2.0
// Queue: the layout-independent parts (fault latch, in-flight tracking, completion, notify).
#include "virtio/queue/queue.hpp"

#include <algorithm>
#include <atomic>
#include <limits>

#include "virtio/spec/features.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio {
namespace {

// Epochs are unique per Queue instance in the process, so a chain can never be completed on
// a queue other than the one it was popped from, even after reset and re-activation.
std::atomic<std::uint64_t> next_epoch { 1 };

// Buffer IDs of packed rings are 16-bit and not bounded by the queue size (virtio 1.2 §2.8.13).
constexpr std::size_t PACKED_IDS = std::size_t { 1 } << 16;

} // namespace

Queue::Queue(Params p)
{
    dma_ = p.dma;
    interrupt_ = p.interrupt;
    completion_faults_ = p.completion_faults;
    desc_ = std::move(p.desc);
    driver_ = std::move(p.driver);
    device_ = std::move(p.device);
    ring_generation_ = p.dma->generation();
    features_ = p.features;
    epoch_ = next_epoch.fetch_add(1, std::memory_order_relaxed);
    index_ = p.index;
    size_ = p.size;
    layout_ = p.layout;
    event_idx_ = has_feature(p.features, VIRTIO_F_EVENT_IDX);
    indirect_ = has_feature(p.features, VIRTIO_F_INDIRECT_DESC);
    in_order_ = has_feature(p.features, VIRTIO_F_IN_ORDER);
    state_ = p.state;
    const std::size_t ids = layout_ == RingLayout::split ? size_ : PACKED_IDS;
    in_flight_bits_.assign((ids + 63) / 64, 0);
    if (in_order_) {
        pending_.resize(size_);
    }
    if (layout_ == RingLayout::split) {
        signalled_ = state_.next_used;
    } else {
        signalled_ = state_.used_wrap ? state_.next_used : std::uint32_t { state_.next_used } + size_;
    }
}

Queue::Queue(Queue&& other) noexcept : detail::QueueMembers(std::move(other))
{
    if (held_) {
        held_->owner = this;
    }
}

Queue& Queue::operator=(Queue&& other) noexcept
{
    detail::QueueMembers::operator=(std::move(other));
    if (held_) {
        held_->owner = this;
    }
    return *this;
}

RingState Queue::ring_state() const noexcept
{
    return state_;
}

void Queue::latch(QueueFault fault, std::uint64_t detail) noexcept
{
    if (fault_) {
        return;
    }
    fault_ = fault;
    VMM_LOG_GUEST(spdlog::level::warn, "virtio queue {}: {} (at {:#x}); queue stopped until reset", index_,
        to_string(fault), detail);
    if (interrupt_ != nullptr) {
        interrupt_->report_queue_fault(fault);
        interrupt_->signal_needs_reset();
    }
}

bool Queue::refresh_rings() noexcept
{
    // virtio 1.2 §2.6 with an IOMMU: ring translations may change whenever the DMA space's
    // mappings do, so a cached translation is only good for the generation it was made in.
    const std::uint64_t gen = dma_->generation();
    if (gen == ring_generation_) {
        return true;
    }
    for (auto* area : { &desc_, &driver_, &device_ }) {
        if (!area->resolve(*dma_)) {
            latch(QueueFault::ring_unmapped, area->addr());
            return false;
        }
    }
    ring_generation_ = gen;
    return true;
}

bool Queue::mark_in_flight(std::uint16_t id) noexcept
{
    auto& word = in_flight_bits_[id / 64];
    const std::uint64_t bit = std::uint64_t { 1 } << (id % 64);
    if ((word & bit) != 0) {
        return false;
    }
    word |= bit;
    ++in_flight_;
    return true;
}

std::optional<DescriptorChain> Queue::pop()
{
    // One object, returned by name on every path: the chain is built where the caller keeps
    // it, never moved on the way out.
    std::optional<DescriptorChain> out;
    if (fault_ || !refresh_rings()) {
        return out;
    }
    out.emplace(DescriptorChain::Key {});
    auto r = layout_ == RingLayout::split ? pop_split(*out) : pop_packed(*out);
    if (!r) {
        latch(r.error(), state_.next_avail);
        out.reset();
    } else if (!*r) {
        out.reset();
    }
    return out;
}

bool Queue::unpop(DescriptorChain&& chain) noexcept
{
    // Only the newest chain of this incarnation: its ring position is exactly next_avail less
    // its slots, and no later pop has moved past it.
    if (chain.epoch_ != epoch_ || next_sequence_ == 0 || chain.sequence_ != next_sequence_ - 1) {
        return false;
    }
    if (layout_ == RingLayout::split) {
        --state_.next_avail;
    } else {
        // Invariant: a chain takes 1..size_ slots, so going back crosses the ring's end once
        // at most, and then the wrap counter flips back.
        if (state_.next_avail < chain.slots_) {
            state_.next_avail = static_cast<std::uint16_t>(state_.next_avail + size_ - chain.slots_);
            state_.avail_wrap = !state_.avail_wrap;
        } else {
            state_.next_avail = static_cast<std::uint16_t>(state_.next_avail - chain.slots_);
        }
        slots_in_flight_ -= chain.slots_;
    }
    in_flight_bits_[chain.id_ / 64] &= ~(std::uint64_t { 1 } << (chain.id_ % 64));
    --in_flight_;
    --next_sequence_;
    chain.epoch_ = 0;
    return true;
}

void Queue::add_used(DescriptorChain&& chain)
{
    const std::size_t written = chain.writer().bytes_written();
    complete(std::move(chain), static_cast<std::uint32_t>(std::min<std::size_t>(written, UINT32_MAX)), true);
}

void Queue::add_used(DescriptorChain&& chain, std::uint32_t len)
{
    complete(std::move(chain), len, true);
}

void Queue::stage_used(DescriptorChain&& chain, std::uint32_t len)
{
    complete(std::move(chain), len, false);
}

void Queue::complete(DescriptorChain&& chain, std::uint32_t len, bool publish)
{
    if (chain.epoch_ != epoch_) {
        // virtio 1.2 §2.6.1: after a queue reset the device must not use the old buffers.
        // The chain belongs to an earlier incarnation of this queue (or was handed back).
        chain.epoch_ = 0;
        return;
    }
    chain.epoch_ = 0;
    if (fault_ || !refresh_rings()) {
        return;
    }
    // virtio 1.2 §2.7.8.2: used.len never claims more than the device-writable capacity.
    const std::size_t capacity = chain.writer().capacity();
    const Used used { chain.id_, chain.slots_, static_cast<std::uint32_t>(std::min<std::size_t>(len, capacity)),
        true };
    if (in_order_) {
        // virtio 1.2 §2.7.9, §2.8.8: with VIRTIO_F_IN_ORDER buffers are used in the order they
        // were made available. Hold completions that overtook an older chain.
        // Invariant: at most size_ chains are in flight, so their sequences differ modulo size_.
        pending_[chain.sequence_ % size_] = used;
        while (!fault_ && pending_[next_completion_ % size_].valid) {
            Used next = std::exchange(pending_[next_completion_ % size_], Used {});
            emit(next, publish);
            ++next_completion_;
        }
    } else {
        emit(used, publish);
    }
    if (publish) {
        publish_used();
    }
}

void Queue::emit(const Used& used, bool may_hold)
{
    if (completion_faults_ == nullptr) {
        write_used(used);
        return;
    }
    // Staged entries (a mergeable receive packet's buffers) reach the driver together: it reads
    // them as one run, so no fault of their own may split them.
    const auto hold = may_hold ? completion_faults_->on_complete(index_) : CompletionFaults::Hold {};
    const bool reorder = hold.until_next && !in_order_;
    // With IN_ORDER nothing may overtake a held completion (staged ones wait with the last).
    const bool behind = in_order_ && held_ && !held_->entries.empty();
    if (hold.delay.count() <= 0 && !reorder && !behind) {
        write_used(used);
        // Completions waiting to be overtaken follow the one that just did (not a staged one:
        // they would land inside its run).
        if (may_hold && held_ && write_held([](const Held& h) { return h.until_next; })) {
            publish_used();
        }
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    auto due = hold.delay.count() > 0 ? now + hold.delay : reorder ? now + CompletionFaults::REORDER_WAIT : now;
    if (behind) {
        due = std::max(due, held_->entries.back().due);
    }
    if (!held_) {
        held_ = std::make_shared<detail::HeldUsed>();
        held_->owner = this;
    }
    held_->entries.push_back(Held { used, due, reorder && hold.delay.count() <= 0 });
    completion_faults_->release_at(due, [held = std::weak_ptr<detail::HeldUsed>(held_)] {
        if (const auto h = held.lock(); h && h->owner != nullptr) {
            h->owner->release_held();
        }
    });
}

template <typename Pick> bool Queue::write_held(Pick release)
{
    bool wrote = false;
    auto& entries = held_->entries;
    for (auto it = entries.begin(); it != entries.end() && !fault_;) {
        if (!release(*it)) {
            if (in_order_) {
                break;
            }
            ++it;
            continue;
        }
        write_used(it->used);
        it = entries.erase(it);
        wrote = true;
    }
    return wrote;
}

void Queue::release_held()
{
    if (!held_ || fault_ || !refresh_rings()) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (write_held([now](const Held& h) { return h.due <= now; })) {
        notify_if_needed();
    }
}

void Queue::write_used(const Used& used)
{
    const bool ok = layout_ == RingLayout::split ? write_used_split(used) : write_used_packed(used);
    if (!ok) {
        latch(QueueFault::ring_unmapped, device_.addr());
        return;
    }
    in_flight_bits_[used.id / 64] &= ~(std::uint64_t { 1 } << (used.id % 64));
    --in_flight_;
    staged_ = true;
}

void Queue::publish_used()
{
    if (!staged_ || fault_) {
        return;
    }
    const bool ok = layout_ == RingLayout::split ? publish_split() : publish_packed();
    staged_ = false;
    if (!ok) {
        latch(QueueFault::ring_unmapped, device_.addr());
    }
}

void Queue::disable_notification()
{
    if (fault_ || !refresh_rings()) {
        return;
    }
    auto r = layout_ == RingLayout::split ? set_notification_split(false) : set_notification_packed(false);
    if (!r) {
        latch(r.error(), device_.addr());
    }
}

bool Queue::enable_notification()
{
    if (fault_ || !refresh_rings()) {
        return false;
    }
    auto r = layout_ == RingLayout::split ? set_notification_split(true) : set_notification_packed(true);
    if (!r) {
        latch(r.error(), device_.addr());
        return false;
    }
    return *r;
}

bool Queue::needs_notification()
{
    // Staged entries count as used below, so they must be visible before the driver is told:
    // a notification for entries it cannot see yet would be the last one it gets for them.
    publish_used();
    if (fault_ || !refresh_rings()) {
        return false;
    }
    auto r = layout_ == RingLayout::split ? needs_notification_split() : needs_notification_packed();
    if (!r) {
        latch(r.error(), driver_.addr());
        return false;
    }
    return *r;
}

void Queue::notify_if_needed()
{
    if (needs_notification() && interrupt_ != nullptr) {
        interrupt_->trigger_queue(index_);
    }
}

std::optional<std::uint16_t> Queue::driver_outstanding() const noexcept
{
    // Only through translations of the current DMA generation (see refresh_rings()); a stale
    // one is not refreshed here, a hint is not worth a fault.
    if (fault_ || !event_idx_ || dma_->generation() != ring_generation_) {
        return std::nullopt;
    }
    return layout_ == RingLayout::split ? driver_outstanding_split() : driver_outstanding_packed();
}

Result<> Queue::check_notification_data(const NotificationData& data) const
{
    // Guest-controlled: data.
    if (layout_ == RingLayout::split) {
        const auto ahead = static_cast<std::uint16_t>(data.split_avail_idx() - state_.next_avail);
        if (ahead > size_) {
            return fail(Errc::guest_fault, "queue {} notified avail idx {} is {} ahead of the device at {}", index_,
                data.split_avail_idx(), ahead, state_.next_avail);
        }
        return {};
    }
    if (data.next_off >= size_) {
        return fail(Errc::guest_fault, "queue {} notified offset {} is outside the ring of {}", index_,
            data.next_off, size_);
    }
    const std::uint32_t period = std::uint32_t { size_ } * 2;
    const std::uint32_t theirs = data.next_wrap ? data.next_off : std::uint32_t { data.next_off } + size_;
    const std::uint32_t ours = state_.avail_wrap ? state_.next_avail : std::uint32_t { state_.next_avail } + size_;
    const std::uint32_t ahead = (theirs + period - ours) % period;
    if (ahead > size_) {
        return fail(Errc::guest_fault, "queue {} notified position {}/{} is {} slots ahead of the device", index_,
            data.next_off, data.next_wrap, ahead);
    }
    return {};
}

} // namespace vmm::virtio
