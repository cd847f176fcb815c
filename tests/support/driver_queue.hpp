// SPDX-License-Identifier: Apache-2.0
// Driver-side split and packed virtqueues in fake guest RAM, for testing devices and queues.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "tests/support/fake_guest.hpp"
#include "virtio/queue/queue_config.hpp"
#include "virtio/spec/ring.hpp"

namespace vmm::virtio::test {

// One buffer of a chain, as the driver describes it.
struct Buf {
    std::uint64_t addr = 0;
    std::uint32_t len = 0;
    bool writable = false;
};

[[nodiscard]] inline Buf readable(std::uint64_t addr, std::uint32_t len)
{
    return Buf { addr, len, false };
}
[[nodiscard]] inline Buf writable(std::uint64_t addr, std::uint32_t len)
{
    return Buf { addr, len, true };
}

struct UsedEntry {
    std::uint32_t id = 0;
    std::uint32_t len = 0;
    std::uint16_t flags = 0; // packed only
};

// What a Linux-like driver does with a split ring (virtio 1.2 §2.7): the three parts live in
// fake RAM, chains take descriptors round-robin, and the used ring is read back in order. The
// raw accessors let tests write what no correct driver would.
class DriverSplitQueue {
public:
    DriverSplitQueue(FakeGuest& guest, std::uint16_t size);

    [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
    [[nodiscard]] std::uint64_t desc_addr() const noexcept { return desc_; }
    [[nodiscard]] std::uint64_t avail_addr() const noexcept { return avail_; }
    [[nodiscard]] std::uint64_t used_addr() const noexcept { return used_; }

    // Programs size and the three addresses and enables the queue.
    void configure(QueueConfig& config) const;
    // Moves every index to `idx` (driver and, through `config`, device) to test wrap-around.
    void start_at(std::uint16_t idx, QueueConfig& config);

    // Writes the chain into free descriptors and publishes it; returns the head.
    std::uint16_t add(std::span<const Buf> bufs);
    std::uint16_t add(std::initializer_list<Buf> bufs) { return add(std::span(bufs.begin(), bufs.size())); }
    // One descriptor pointing at an indirect table (allocated in guest RAM) holding bufs.
    std::uint16_t add_indirect(std::span<const Buf> bufs);
    std::uint16_t add_indirect(std::initializer_list<Buf> bufs)
    {
        return add_indirect(std::span(bufs.begin(), bufs.size()));
    }

    // Raw access.
    void write_desc(std::uint16_t index, std::uint64_t addr, std::uint32_t len, std::uint16_t flags,
        std::uint16_t next) const;
    void write_avail_entry(std::uint16_t slot, std::uint16_t head) const;
    // Appends head to the avail ring and bumps avail idx.
    void push_avail(std::uint16_t head);
    void set_avail_idx(std::uint16_t idx);
    [[nodiscard]] std::uint16_t avail_idx() const noexcept { return avail_idx_; }
    void set_avail_flags(std::uint16_t flags) const;
    void set_used_event(std::uint16_t idx) const;

    [[nodiscard]] std::uint16_t used_idx() const;
    [[nodiscard]] std::uint16_t used_flags() const;
    [[nodiscard]] std::uint16_t avail_event() const;
    [[nodiscard]] UsedEntry used_at(std::uint16_t slot) const;
    // The next used entry the driver has not consumed yet.
    [[nodiscard]] std::optional<UsedEntry> pop_used();

private:
    FakeGuest* guest_;
    std::uint16_t size_;
    std::uint64_t desc_;
    std::uint64_t avail_;
    std::uint64_t used_;
    std::uint16_t next_desc_ = 0;
    std::uint16_t avail_idx_ = 0;
    std::uint16_t last_used_ = 0;
};

// The same for a packed ring (virtio 1.2 §2.8). Buffer IDs are handed out round-robin below
// the queue size unless a test picks one.
class DriverPackedQueue {
public:
    DriverPackedQueue(FakeGuest& guest, std::uint16_t size);

    [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
    [[nodiscard]] std::uint64_t desc_addr() const noexcept { return desc_; }
    [[nodiscard]] std::uint64_t driver_event_addr() const noexcept { return driver_event_; }
    [[nodiscard]] std::uint64_t device_event_addr() const noexcept { return device_event_; }
    [[nodiscard]] std::uint16_t next_avail() const noexcept { return next_avail_; }
    [[nodiscard]] bool avail_wrap() const noexcept { return avail_wrap_; }

    void configure(QueueConfig& config) const;

    // Writes the list at the next positions, head flags last; returns the buffer ID.
    std::uint16_t add(std::span<const Buf> bufs, std::optional<std::uint16_t> id = std::nullopt);
    std::uint16_t add(std::initializer_list<Buf> bufs) { return add(std::span(bufs.begin(), bufs.size())); }
    std::uint16_t add(std::initializer_list<Buf> bufs, std::uint16_t id)
    {
        return add(std::span(bufs.begin(), bufs.size()), id);
    }
    std::uint16_t add_indirect(std::span<const Buf> bufs, std::optional<std::uint16_t> id = std::nullopt);
    std::uint16_t add_indirect(std::initializer_list<Buf> bufs)
    {
        return add_indirect(std::span(bufs.begin(), bufs.size()));
    }

    // Raw access. avail_flags() gives AVAIL/USED bits marking a descriptor available for `wrap`.
    [[nodiscard]] static std::uint16_t avail_flags(bool wrap) noexcept;
    void write_desc(std::uint16_t pos, std::uint64_t addr, std::uint32_t len, std::uint16_t id,
        std::uint16_t flags) const;
    // Advances the driver's position as if `count` descriptors were written.
    void skip(std::uint16_t count);
    void set_driver_event(std::uint16_t flags, std::uint16_t off = 0, bool wrap = false) const;
    [[nodiscard]] PvirtqEventSuppress device_event() const;

    [[nodiscard]] std::optional<UsedEntry> pop_used();

private:
    std::uint16_t next_id();

    FakeGuest* guest_;
    std::uint16_t size_;
    std::uint64_t desc_;
    std::uint64_t driver_event_;
    std::uint64_t device_event_;
    std::uint16_t next_avail_ = 0;
    bool avail_wrap_ = true;
    std::uint16_t next_used_ = 0;
    bool used_wrap_ = true;
    std::uint16_t id_counter_ = 0;
    std::map<std::uint16_t, std::uint16_t> slots_of_id_;
};

} // namespace vmm::virtio::test
