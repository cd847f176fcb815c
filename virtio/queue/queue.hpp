// SPDX-License-Identifier: Apache-2.0
// Queue: a running virtqueue (split or packed) on the event-loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "virtio/interrupt.hpp"
#include "virtio/queue/completion_faults.hpp"
#include "virtio/memory/dma_space.hpp"
#include "virtio/queue/descriptor_chain.hpp"
#include "virtio/queue/notification_data.hpp"
#include "virtio/queue/queue_fault.hpp"
#include "virtio/queue/ring_area.hpp"
#include "virtio/spec/ring.hpp"

namespace vmm::virtio {

enum class RingLayout : std::uint8_t { split, packed };

class Queue;

// Where the device is in the rings. Zero/true (the reset state) except when restoring a
// snapshot or in tests that start near index wrap-around.
struct RingState {
    std::uint16_t next_avail = 0; // split: free-running avail index; packed: ring position
    std::uint16_t next_used = 0;  // split: free-running used index; packed: ring position
    bool avail_wrap = true;       // packed only: device's view of the driver wrap counter
    bool used_wrap = true;        // packed only: device ring wrap counter
};

namespace detail {

// A completion waiting for its turn (VIRTIO_F_IN_ORDER), held back by an injected fault, or
// being written.
struct UsedEntry {
    std::uint16_t id = 0;
    std::uint16_t slots = 1;
    std::uint32_t len = 0;
    bool valid = false;
};

// Completions an injected fault holds back, on the heap so that a timer can find the queue that
// holds them (through a weak reference) however often the Queue object is moved.
struct HeldUsed {
    struct Entry {
        UsedEntry used;
        std::chrono::steady_clock::time_point due;
        bool until_next = false; // released as soon as a later completion is written
    };
    Queue* owner = nullptr;
    std::deque<Entry> entries;
};

// Queue's data, in a base of its own so that Queue's moves stay member-wise and can still
// re-point the held completions at the Queue's new address.
struct QueueMembers {
    const DmaSpace* dma_ = nullptr;
    Interrupt* interrupt_ = nullptr;
    RingArea desc_;
    RingArea driver_;
    RingArea device_;
    std::uint64_t ring_generation_ = 0;
    std::uint64_t features_ = 0;
    std::uint64_t epoch_ = 0;
    std::uint16_t index_ = 0;
    std::uint16_t size_ = 0;
    RingLayout layout_ = RingLayout::split;
    bool event_idx_ = false;
    bool indirect_ = false;
    bool in_order_ = false;

    RingState state_;
    std::optional<QueueFault> fault_;

    // In-flight tracking: one bit per head (split) or per buffer ID (packed, all 2^16).
    std::vector<std::uint64_t> in_flight_bits_;
    std::size_t in_flight_ = 0;
    std::uint32_t slots_in_flight_ = 0; // packed: ring slots held by popped chains

    // VIRTIO_F_IN_ORDER: completions are written in pop order.
    std::uint64_t next_sequence_ = 0;
    std::uint64_t next_completion_ = 0;
    std::vector<UsedEntry> pending_;

    // Staged, unpublished used entries.
    bool staged_ = false;
    std::uint16_t staged_first_pos_ = 0;   // packed: slot whose flags publish_used() writes
    std::uint16_t staged_first_flags_ = 0; // packed: those flags

    // Used-buffer notification bookkeeping: used index (split) or linear slot position
    // (packed, modulo 2*size) at the last needs_notification(), and entries used since.
    std::uint32_t signalled_ = 0;
    std::uint64_t used_since_signal_ = 0;

    // Copies of indirect tables, kept to avoid an allocation per chain.
    std::vector<VirtqDesc> split_table_;
    std::vector<PvirtqDesc> packed_table_;

    // Completions held back by injected faults (completion_faults.hpp); null until one is.
    std::shared_ptr<HeldUsed> held_;
    CompletionFaults* completion_faults_ = nullptr;
};

} // namespace detail

// The device side of one virtqueue, built by QueueConfig::activate() from registers that were
// validated then. Event-loop thread only; movable, not copyable.
//
// Canonical loop:
//     do {
//         q.disable_notification();
//         while (auto chain = q.pop()) { ...; q.add_used(std::move(*chain)); }
//     } while (q.enable_notification());
//     q.notify_if_needed();
class Queue : private detail::QueueMembers {
public:
    Queue(Queue&& other) noexcept;
    Queue& operator=(Queue&& other) noexcept;
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;
    ~Queue() = default;

    [[nodiscard]] std::uint16_t index() const noexcept { return index_; }
    [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
    [[nodiscard]] RingLayout layout() const noexcept { return layout_; }
    [[nodiscard]] std::uint64_t features() const noexcept { return features_; }
    [[nodiscard]] const DmaSpace& dma() const noexcept { return *dma_; }
    // Unique per Queue instance (never 0); chains carry it.
    [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }

    // The next available chain, validated, or nullopt when there is none or the queue has
    // faulted (see fault()). Never blocks, never throws.
    [[nodiscard]] std::optional<DescriptorChain> pop();

    // Gives the most recently popped chain back unused, as if it had never been popped: the next
    // pop() returns the same buffers again (the driver cannot tell). Chains go back in the
    // reverse order of popping (the last one first); false, with nothing changed, for any
    // other chain. For devices that take buffers before they know how many a packet needs
    // (virtio-net's mergeable receive buffers).
    bool unpop(DescriptorChain&& chain) noexcept;
    // Hands a chain back with used length = chain.writer().bytes_written(), and publishes it.
    void add_used(DescriptorChain&& chain);
    // The same with an explicit used length, clamped to the chain's writable capacity.
    void add_used(DescriptorChain&& chain, std::uint32_t len);
    // Writes the used entry without making it visible; publish_used() exposes every staged
    // entry at once (a request spanning several buffers, e.g. net mergeable RX buffers).
    void stage_used(DescriptorChain&& chain, std::uint32_t len);
    void publish_used();

    // Available-buffer notification suppression (virtio 1.2 §2.7.10, §2.8.10).
    void disable_notification();
    // Re-enables notifications; true when buffers arrived meanwhile (pop again).
    [[nodiscard]] bool enable_notification();
    // Whether the driver wants a used-buffer notification for what was used since the last
    // call (EVENT_IDX / NO_INTERRUPT / packed event suppression aware). Publishes staged
    // entries first.
    [[nodiscard]] bool needs_notification();
    // needs_notification() and, if so, Interrupt::trigger_queue(index()).
    void notify_if_needed();
    // With EVENT_IDX: how many buffers (split: chain heads; packed: ring slots) the device has
    // taken beyond the point where the driver asked for its next used-buffer notification,
    // that is, how many the driver has outstanding since it last looked at the used ring.
    // nullopt without EVENT_IDX, when the driver names no event (packed ENABLE or DISABLE),
    // or when its value is out of range. Guest-controlled: a hint for notification
    // coalescing, never used for anything that touches memory.
    [[nodiscard]] std::optional<std::uint16_t> driver_outstanding() const noexcept;

    // Whether `chain` was popped from this Queue instance and not yet handed back. A device
    // finishing asynchronous work checks it before writing into the chain's buffers: after a
    // reset the driver may already have reused them.
    [[nodiscard]] bool owns(const DescriptorChain& chain) const noexcept { return chain.epoch_ == epoch_; }

    [[nodiscard]] std::optional<QueueFault> fault() const noexcept { return fault_; }
    [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
    [[nodiscard]] RingState ring_state() const noexcept;

    // VIRTIO_F_NOTIFICATION_DATA: checks next_off/next_wrap against the device's position (the
    // transport has matched vqn to this queue). A bad value is a hint to ignore, not a fault:
    // notifications carry no state the device depends on.
    [[nodiscard]] Result<> check_notification_data(const NotificationData& data) const;

private:
    friend class QueueConfig;

    struct Params {
        std::uint16_t index = 0;
        std::uint16_t size = 0;
        RingLayout layout = RingLayout::split;
        std::uint64_t features = 0;
        RingArea desc;
        RingArea driver;
        RingArea device;
        RingState state;
        const DmaSpace* dma = nullptr;
        Interrupt* interrupt = nullptr;
        CompletionFaults* completion_faults = nullptr;
    };
    using Used = detail::UsedEntry;
    using Held = detail::HeldUsed::Entry;

    explicit Queue(Params p);

    void latch(QueueFault fault, std::uint64_t detail) noexcept;
    [[nodiscard]] bool refresh_rings() noexcept;
    [[nodiscard]] bool mark_in_flight(std::uint16_t id) noexcept;
    void complete(DescriptorChain&& chain, std::uint32_t len, bool publish);
    void write_used(const Used& used);
    // write_used() unless an injected fault holds the completion back (only if `may_hold`, or
    // behind held ones with IN_ORDER).
    void emit(const Used& used, bool may_hold);
    // Writes the held completions `release` picks (a prefix when IN_ORDER); true if any.
    template <typename Pick> bool write_held(Pick release);
    // Writes the held completions that are due and tells the driver.
    void release_held();

    // Layout-specific halves (split_ring.cpp, packed_ring.cpp).
    // Fill `chain` (fresh) with the next available chain: true, or false when there is none.
    [[nodiscard]] FaultOr<bool> pop_split(DescriptorChain& chain);
    [[nodiscard]] FaultOr<bool> pop_packed(DescriptorChain& chain);
    [[nodiscard]] bool write_used_split(const Used& used) noexcept;
    [[nodiscard]] bool write_used_packed(const Used& used) noexcept;
    [[nodiscard]] bool publish_split() noexcept;
    [[nodiscard]] bool publish_packed() noexcept;
    [[nodiscard]] FaultOr<bool> set_notification_split(bool enable) noexcept;
    [[nodiscard]] FaultOr<bool> set_notification_packed(bool enable) noexcept;
    [[nodiscard]] FaultOr<bool> needs_notification_split() noexcept;
    [[nodiscard]] FaultOr<bool> needs_notification_packed() noexcept;
    [[nodiscard]] std::optional<std::uint16_t> driver_outstanding_split() const noexcept;
    [[nodiscard]] std::optional<std::uint16_t> driver_outstanding_packed() const noexcept;
    [[nodiscard]] FaultOr<void> walk_split(std::uint16_t head, DescriptorChain& chain);
    [[nodiscard]] bool packed_avail_at(std::uint16_t pos, bool wrap, std::uint16_t* flags) const noexcept;
};

} // namespace vmm::virtio
