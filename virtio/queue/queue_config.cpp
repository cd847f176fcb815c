// SPDX-License-Identifier: Apache-2.0
// QueueConfig: register values and the checks made when a queue goes live.
#include "virtio/queue/queue_config.hpp"

#include <array>
#include <bit>

#include "virtio/spec/features.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio {
namespace {

struct Part {
    const char* name;
    std::uint64_t addr;
    std::uint64_t len;
    std::uint64_t align;
    Access access;
};

[[nodiscard]] bool overlaps(const Part& a, const Part& b) noexcept
{
    // Invariant: both ranges were checked not to wrap.
    return a.addr < b.addr + b.len && b.addr < a.addr + a.len;
}

} // namespace

QueueConfig::QueueConfig(std::uint16_t max_size) noexcept : max_size_(max_size), size_(max_size) {}

bool QueueConfig::writable(const char* what) const noexcept
{
    if (ready_) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio: driver wrote queue {} while the queue is enabled; ignored",
            what);
        if (refused_hook_) {
            refused_hook_();
        }
        return false;
    }
    return true;
}

void QueueConfig::set_size(std::uint16_t size) noexcept
{
    if (writable("size")) {
        size_ = size;
    }
}

void QueueConfig::set_desc_addr(std::uint64_t addr) noexcept
{
    if (writable("descriptor address")) {
        desc_ = addr;
    }
}

void QueueConfig::set_driver_addr(std::uint64_t addr) noexcept
{
    if (writable("driver area address")) {
        driver_ = addr;
    }
}

void QueueConfig::set_device_addr(std::uint64_t addr) noexcept
{
    if (writable("device area address")) {
        device_ = addr;
    }
}

void QueueConfig::set_ready(bool ready) noexcept
{
    ready_ = ready;
}

void QueueConfig::set_ring_state(const RingState& state) noexcept
{
    state_ = state;
}

void QueueConfig::reset() noexcept
{
    size_ = max_size_;
    desc_ = 0;
    driver_ = 0;
    device_ = 0;
    ready_ = false;
    state_ = RingState {};
}

Result<Queue> QueueConfig::activate(std::uint16_t index, const DmaSpace& dma, std::uint64_t acked_features,
    Interrupt& interrupt, CompletionFaults* faults) const
{
    const bool packed = has_feature(acked_features, VIRTIO_F_RING_PACKED);
    if (!ready_) {
        return fail(Errc::guest_fault, "queue {} is not enabled", index);
    }
    // Guest-controlled: size_ and the three addresses.
    if (size_ == 0 || size_ > max_size_ || size_ > VIRTQ_MAX_SIZE) {
        return fail(Errc::guest_fault, "queue {} size {} is not in 1..{}", index, size_, max_size_);
    }
    if (!packed && !std::has_single_bit(size_)) {
        // virtio 1.2 §2.7: split queue sizes are powers of two; packed ones need not be (§2.8.10.1).
        return fail(Errc::guest_fault, "queue {} size {} is not a power of two", index, size_);
    }
    if (packed && (state_.next_avail >= size_ || state_.next_used >= size_)) {
        return fail(Errc::invalid_argument, "queue {} ring state is outside the ring", index);
    }

    // virtio 1.2 §2.7.1 and §2.8.11: alignment of each part. Split: descriptors 16, avail 2,
    // used 4; packed: descriptors 16, event suppression structures 4. std::atomic_ref on ring
    // indices and flags relies on it as well.
    const std::array<Part, 3> parts = packed
        ? std::array<Part, 3> { { { "descriptor ring", desc_, packed_desc_ring_size(size_), PACKED_DESC_ALIGN,
                                      Access::read_write },
            { "driver event suppression", driver_, PACKED_EVENT_SIZE, PACKED_EVENT_ALIGN, Access::read },
            { "device event suppression", device_, PACKED_EVENT_SIZE, PACKED_EVENT_ALIGN, Access::write } } }
        : std::array<Part, 3> { { { "descriptor table", desc_, split_desc_table_size(size_), SPLIT_DESC_ALIGN,
                                      Access::read },
            { "available ring", driver_, split_avail_ring_size(size_), SPLIT_AVAIL_ALIGN, Access::read },
            { "used ring", device_, split_used_ring_size(size_), SPLIT_USED_ALIGN, Access::write } } };

    for (const auto& p : parts) {
        if (p.addr % p.align != 0) {
            return fail(Errc::guest_fault, "queue {} {} at {:#x} is not {}-byte aligned", index, p.name, p.addr,
                p.align);
        }
        std::uint64_t end = 0;
        if (__builtin_add_overflow(p.addr, p.len, &end)) {
            return fail(Errc::guest_fault, "queue {} {} at {:#x} wraps the address space", index, p.name, p.addr);
        }
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        for (std::size_t j = i + 1; j < parts.size(); ++j) {
            if (overlaps(parts[i], parts[j])) {
                return fail(Errc::guest_fault, "queue {} {} at {:#x} overlaps the {} at {:#x}", index,
                    parts[i].name, parts[i].addr, parts[j].name, parts[j].addr);
            }
        }
    }

    Queue::Params params;
    params.index = index;
    params.size = size_;
    params.layout = packed ? RingLayout::packed : RingLayout::split;
    params.features = acked_features;
    params.desc = RingArea(parts[0].addr, parts[0].len, parts[0].access);
    params.driver = RingArea(parts[1].addr, parts[1].len, parts[1].access);
    params.device = RingArea(parts[2].addr, parts[2].len, parts[2].access);
    for (auto* area : { &params.desc, &params.driver, &params.device }) {
        if (auto r = area->resolve(dma); !r) {
            return fail(Errc::guest_fault, "queue {} ring at {:#x} ({} bytes) is not in guest memory: {}", index,
                area->addr(), area->len(), r.error().describe());
        }
    }
    params.state = state_;
    params.dma = &dma;
    params.interrupt = &interrupt;
    params.completion_faults = faults;
    return Queue(std::move(params));
}

} // namespace vmm::virtio
