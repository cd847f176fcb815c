// SPDX-License-Identifier: Apache-2.0
// Driver-side split and packed virtqueues.
#include "tests/support/driver_queue.hpp"

#include <cassert>

namespace vmm::virtio::test {

// ---- Split ---------------------------------------------------------------------------------

DriverSplitQueue::DriverSplitQueue(FakeGuest& guest, std::uint16_t size)
    : guest_(&guest)
    , size_(size)
    , desc_(guest.alloc(split_desc_table_size(size), SPLIT_DESC_ALIGN))
    , avail_(guest.alloc(split_avail_ring_size(size), SPLIT_AVAIL_ALIGN))
    , used_(guest.alloc(split_used_ring_size(size), SPLIT_USED_ALIGN))
{
}

void DriverSplitQueue::configure(QueueConfig& config) const
{
    config.set_size(size_);
    config.set_desc_addr(desc_);
    config.set_driver_addr(avail_);
    config.set_device_addr(used_);
    config.set_ready(true);
}

void DriverSplitQueue::start_at(std::uint16_t idx, QueueConfig& config)
{
    avail_idx_ = idx;
    last_used_ = idx;
    guest_->write_obj(avail_ + RING_IDX_OFFSET, le16(idx));
    guest_->write_obj(used_ + RING_IDX_OFFSET, le16(idx));
    config.set_ring_state(RingState { idx, idx, true, true });
}

std::uint16_t DriverSplitQueue::add(std::span<const Buf> bufs)
{
    assert(!bufs.empty() && bufs.size() <= size_);
    const std::uint16_t head = next_desc_;
    for (std::size_t i = 0; i < bufs.size(); ++i) {
        const std::uint16_t index = next_desc_;
        next_desc_ = static_cast<std::uint16_t>((next_desc_ + 1) % size_);
        const bool last = i + 1 == bufs.size();
        const std::uint16_t flags = static_cast<std::uint16_t>(
            (bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT));
        write_desc(index, bufs[i].addr, bufs[i].len, flags, last ? 0 : next_desc_);
    }
    push_avail(head);
    return head;
}

std::uint16_t DriverSplitQueue::add_indirect(std::span<const Buf> bufs)
{
    assert(!bufs.empty());
    const std::uint64_t table = guest_->alloc(sizeof(VirtqDesc) * bufs.size(), 16);
    for (std::size_t i = 0; i < bufs.size(); ++i) {
        const bool last = i + 1 == bufs.size();
        VirtqDesc d;
        d.addr.set(bufs[i].addr);
        d.len.set(bufs[i].len);
        d.flags.set(static_cast<std::uint16_t>(
            (bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT)));
        d.next.set(last ? 0 : static_cast<std::uint16_t>(i + 1));
        guest_->write_obj(table + sizeof(VirtqDesc) * i, d);
    }
    const std::uint16_t head = next_desc_;
    next_desc_ = static_cast<std::uint16_t>((next_desc_ + 1) % size_);
    write_desc(head, table, static_cast<std::uint32_t>(sizeof(VirtqDesc) * bufs.size()), VIRTQ_DESC_F_INDIRECT, 0);
    push_avail(head);
    return head;
}

void DriverSplitQueue::write_desc(std::uint16_t index, std::uint64_t addr, std::uint32_t len, std::uint16_t flags,
    std::uint16_t next) const
{
    VirtqDesc d;
    d.addr.set(addr);
    d.len.set(len);
    d.flags.set(flags);
    d.next.set(next);
    guest_->write_obj(desc_ + sizeof(VirtqDesc) * index, d);
}

void DriverSplitQueue::write_avail_entry(std::uint16_t slot, std::uint16_t head) const
{
    guest_->write_obj(avail_ + split_avail_entry_offset(slot), le16(head));
}

void DriverSplitQueue::push_avail(std::uint16_t head)
{
    write_avail_entry(static_cast<std::uint16_t>(avail_idx_ % size_), head);
    set_avail_idx(static_cast<std::uint16_t>(avail_idx_ + 1));
}

void DriverSplitQueue::set_avail_idx(std::uint16_t idx)
{
    avail_idx_ = idx;
    guest_->write_obj(avail_ + RING_IDX_OFFSET, le16(idx));
}

void DriverSplitQueue::set_avail_flags(std::uint16_t flags) const
{
    guest_->write_obj(avail_ + RING_FLAGS_OFFSET, le16(flags));
}

void DriverSplitQueue::set_used_event(std::uint16_t idx) const
{
    guest_->write_obj(avail_ + split_used_event_offset(size_), le16(idx));
}

std::uint16_t DriverSplitQueue::used_idx() const
{
    return guest_->read_obj<le16>(used_ + RING_IDX_OFFSET).get();
}

std::uint16_t DriverSplitQueue::used_flags() const
{
    return guest_->read_obj<le16>(used_ + RING_FLAGS_OFFSET).get();
}

std::uint16_t DriverSplitQueue::avail_event() const
{
    return guest_->read_obj<le16>(used_ + split_avail_event_offset(size_)).get();
}

UsedEntry DriverSplitQueue::used_at(std::uint16_t slot) const
{
    const auto e = guest_->read_obj<VirtqUsedElem>(used_ + split_used_entry_offset(slot));
    return UsedEntry { e.id.get(), e.len.get(), 0 };
}

std::optional<UsedEntry> DriverSplitQueue::pop_used()
{
    if (last_used_ == used_idx()) {
        return std::nullopt;
    }
    const UsedEntry e = used_at(static_cast<std::uint16_t>(last_used_ % size_));
    ++last_used_;
    return e;
}

// ---- Packed --------------------------------------------------------------------------------

DriverPackedQueue::DriverPackedQueue(FakeGuest& guest, std::uint16_t size)
    : guest_(&guest)
    , size_(size)
    , desc_(guest.alloc(packed_desc_ring_size(size), PACKED_DESC_ALIGN))
    , driver_event_(guest.alloc(PACKED_EVENT_SIZE, PACKED_EVENT_ALIGN))
    , device_event_(guest.alloc(PACKED_EVENT_SIZE, PACKED_EVENT_ALIGN))
{
}

void DriverPackedQueue::configure(QueueConfig& config) const
{
    config.set_size(size_);
    config.set_desc_addr(desc_);
    config.set_driver_addr(driver_event_);
    config.set_device_addr(device_event_);
    config.set_ready(true);
}

std::uint16_t DriverPackedQueue::avail_flags(bool wrap) noexcept
{
    return wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
}

std::uint16_t DriverPackedQueue::next_id()
{
    const auto id = static_cast<std::uint16_t>(id_counter_ % size_);
    ++id_counter_;
    return id;
}

void DriverPackedQueue::write_desc(std::uint16_t pos, std::uint64_t addr, std::uint32_t len, std::uint16_t id,
    std::uint16_t flags) const
{
    PvirtqDesc d;
    d.addr.set(addr);
    d.len.set(len);
    d.id.set(id);
    d.flags.set(flags);
    guest_->write_obj(desc_ + sizeof(PvirtqDesc) * pos, d);
}

void DriverPackedQueue::skip(std::uint16_t count)
{
    for (std::uint16_t i = 0; i < count; ++i) {
        if (++next_avail_ == size_) {
            next_avail_ = 0;
            avail_wrap_ = !avail_wrap_;
        }
    }
}

std::uint16_t DriverPackedQueue::add(std::span<const Buf> bufs, std::optional<std::uint16_t> id)
{
    assert(!bufs.empty() && bufs.size() <= size_);
    const std::uint16_t buffer_id = id.value_or(next_id());
    const std::uint16_t first = next_avail_;
    std::uint16_t first_flags = 0;
    for (std::size_t i = 0; i < bufs.size(); ++i) {
        const bool last = i + 1 == bufs.size();
        const auto flags = static_cast<std::uint16_t>((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0)
            | (last ? 0 : VIRTQ_DESC_F_NEXT) | avail_flags(avail_wrap_));
        // virtio 1.2 §2.8.6: the head's flags are written last, after the rest of the list.
        write_desc(next_avail_, bufs[i].addr, bufs[i].len, buffer_id, i == 0 ? 0 : flags);
        if (i == 0) {
            first_flags = flags;
        }
        skip(1);
    }
    guest_->write_obj(desc_ + sizeof(PvirtqDesc) * first + PACKED_DESC_FLAGS_OFFSET, le16(first_flags));
    slots_of_id_[buffer_id] = static_cast<std::uint16_t>(bufs.size());
    return buffer_id;
}

std::uint16_t DriverPackedQueue::add_indirect(std::span<const Buf> bufs, std::optional<std::uint16_t> id)
{
    assert(!bufs.empty());
    const std::uint16_t buffer_id = id.value_or(next_id());
    const std::uint64_t table = guest_->alloc(sizeof(PvirtqDesc) * bufs.size(), 16);
    for (std::size_t i = 0; i < bufs.size(); ++i) {
        PvirtqDesc d;
        d.addr.set(bufs[i].addr);
        d.len.set(bufs[i].len);
        d.flags.set(bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0);
        guest_->write_obj(table + sizeof(PvirtqDesc) * i, d);
    }
    write_desc(next_avail_, table, static_cast<std::uint32_t>(sizeof(PvirtqDesc) * bufs.size()), buffer_id,
        static_cast<std::uint16_t>(VIRTQ_DESC_F_INDIRECT | avail_flags(avail_wrap_)));
    skip(1);
    slots_of_id_[buffer_id] = 1;
    return buffer_id;
}

void DriverPackedQueue::set_driver_event(std::uint16_t flags, std::uint16_t off, bool wrap) const
{
    PvirtqEventSuppress e;
    e.desc.set(static_cast<std::uint16_t>(off | (wrap ? 1U << RING_EVENT_WRAP_SHIFT : 0U)));
    e.flags.set(flags);
    guest_->write_obj(driver_event_, e);
}

PvirtqEventSuppress DriverPackedQueue::device_event() const
{
    return guest_->read_obj<PvirtqEventSuppress>(device_event_);
}

std::optional<UsedEntry> DriverPackedQueue::pop_used()
{
    const auto d = guest_->read_obj<PvirtqDesc>(desc_ + sizeof(PvirtqDesc) * next_used_);
    const std::uint16_t flags = d.flags.get();
    const bool avail = (flags & VIRTQ_DESC_F_AVAIL) != 0;
    const bool used = (flags & VIRTQ_DESC_F_USED) != 0;
    if (avail != used_wrap_ || used != used_wrap_) {
        return std::nullopt;
    }
    const std::uint16_t id = d.id.get();
    const auto it = slots_of_id_.find(id);
    const std::uint16_t slots = it == slots_of_id_.end() ? 1 : it->second;
    std::uint32_t next = std::uint32_t { next_used_ } + slots;
    if (next >= size_) {
        next -= size_;
        used_wrap_ = !used_wrap_;
    }
    next_used_ = static_cast<std::uint16_t>(next);
    return UsedEntry { id, d.len.get(), flags };
}

} // namespace vmm::virtio::test
