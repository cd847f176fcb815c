// SPDX-License-Identifier: Apache-2.0
// BlockRig: a BlockDevice with driver-side queues in fake RAM, activated by hand the way a
// transport would, and helpers that build virtio-blk requests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/driver_queue.hpp"
#include "tests/support/fake_block_backend.hpp"
#include "tests/support/fake_guest.hpp"
#include "virtio/devices/block/block_device.hpp"
#include "virtio/queue/queue_config.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::test {

// A request as the driver built it: where its status byte and data are.
struct BlkRequest {
    std::uint16_t id = 0;
    std::uint64_t data = 0;
    std::uint32_t data_len = 0;
    std::uint64_t status = 0;
};

inline constexpr std::uint8_t STATUS_UNTOUCHED = 0xee;

// Drives either ring layout through one interface.
class AnyDriverQueue {
public:
    AnyDriverQueue(FakeGuest& guest, std::uint16_t size, bool packed) : q_(make(guest, size, packed)) {}
    void configure(QueueConfig& c) const
    {
        std::visit([&](const auto& q) { q.configure(c); }, q_);
    }
    std::uint16_t add(std::span<const Buf> bufs)
    {
        return std::visit([&](auto& q) -> std::uint16_t { return q.add(bufs); }, q_);
    }
    std::optional<UsedEntry> pop_used()
    {
        return std::visit([](auto& q) { return q.pop_used(); }, q_);
    }
    [[nodiscard]] DriverSplitQueue& split() { return std::get<DriverSplitQueue>(q_); }

private:
    using Variant = std::variant<DriverSplitQueue, DriverPackedQueue>;
    static Variant make(FakeGuest& guest, std::uint16_t size, bool packed)
    {
        if (packed) {
            return Variant(std::in_place_type<DriverPackedQueue>, guest, size);
        }
        return Variant(std::in_place_type<DriverSplitQueue>, guest, size);
    }
    Variant q_;
};

struct BlkRigOptions {
    block::BlockOptions device;
    std::size_t image_bytes = 64 * 1024; // 128 sectors
    bool packed = false;
    std::uint64_t drop_features = 0; // offered features the driver does not accept
    std::uint64_t add_features = 0;  // transport features to negotiate (EVENT_IDX, ...)
    EventLoop* loop = nullptr;       // given at activation: notification coalescing on
};

class BlkRig {
public:
    static constexpr std::uint16_t QSIZE = 64;

    explicit BlkRig(BlkRigOptions o = {}) : BlkRig(o, nullptr, nullptr) {}

    // With another backend; `settle` waits until it has completed everything in flight.
    BlkRig(BlkRigOptions o, std::unique_ptr<block::BlockBackend> custom, std::function<void()> settle)
        : options_(o)
    {
        o.device.queue_size = QSIZE;
        if (custom) {
            settle_ = std::move(settle);
            device = std::make_unique<block::BlockDevice>(std::move(custom), o.device);
        } else {
            auto b = std::make_unique<FakeBlockBackend>(o.image_bytes, o.device.read_only);
            backend = b.get();
            settle_ = [b = backend] { b->complete_all(); };
            device = std::make_unique<block::BlockDevice>(std::move(b), o.device);
        }
        features = (device->features() & ~o.drop_features) | o.add_features;
        if (o.packed) {
            features |= feature_bit(VIRTIO_F_RING_PACKED);
        }
        for (std::uint16_t i = 0; i < o.device.num_queues; ++i) {
            configs.emplace_back(QSIZE);
            queues.emplace_back(guest, QSIZE, o.packed);
            queues.back().configure(configs.back());
        }
    }

    // FEATURES_OK, then DRIVER_OK with every queue.
    void start()
    {
        device->ack_features(features);
        std::vector<Queue> qs;
        for (std::uint16_t i = 0; i < configs.size(); ++i) {
            auto q = configs[i].activate(i, guest.dma(), features, irq);
            REQUIRE(q);
            qs.push_back(std::move(q).value());
        }
        REQUIRE(device->activate(ActivationContext { std::move(qs), irq, guest.dma(), options_.loop }));
    }

    // Device reset, then the driver sets the queues up afresh and starts again.
    void restart()
    {
        device->reset();
        for (std::uint16_t i = 0; i < configs.size(); ++i) {
            configs[i].reset();
            queues[i] = AnyDriverQueue(guest, QSIZE, options_.packed);
            queues[i].configure(configs[i]);
        }
        start();
    }

    // header (readable) + data (readable or writable) + status (writable), three descriptors.
    BlkRequest request(std::uint16_t q, std::uint32_t type, std::uint64_t sector, std::uint32_t data_len,
        bool data_writable, std::span<const std::byte> payload = {})
    {
        BlkRequest r;
        const std::uint64_t header = header_at(type, sector);
        r.data_len = data_len;
        r.status = status_byte();
        std::vector<Buf> bufs { readable(header, 16) };
        if (data_len > 0) {
            r.data = guest.alloc(data_len, 16);
            guest.fill(r.data, std::byte { 0xa5 }, data_len);
            if (!payload.empty()) {
                guest.write(r.data, payload);
            }
            bufs.push_back(Buf { r.data, data_len, data_writable });
        }
        bufs.push_back(writable(r.status, 1));
        r.id = queues[q].add(bufs);
        return r;
    }
    BlkRequest read(std::uint16_t q, std::uint64_t sector, std::uint32_t len)
    {
        return request(q, VIRTIO_BLK_T_IN, sector, len, true);
    }
    BlkRequest write(std::uint16_t q, std::uint64_t sector, std::span<const std::byte> data)
    {
        return request(q, VIRTIO_BLK_T_OUT, sector, static_cast<std::uint32_t>(data.size()), false, data);
    }
    BlkRequest flush(std::uint16_t q = 0) { return request(q, VIRTIO_BLK_T_FLUSH, 0, 0, false); }
    // A discard / write zeroes / secure erase request with the given segments.
    BlkRequest segments(std::uint16_t q, std::uint32_t type, std::span<const VirtioBlkDiscardWriteZeroes> segs)
    {
        return request(q, type, 0, static_cast<std::uint32_t>(segs.size_bytes()), false, std::as_bytes(segs));
    }

    std::uint64_t header_at(std::uint32_t type, std::uint64_t sector)
    {
        const std::uint64_t a = guest.alloc(16, 16);
        VirtioBlkReqHeader h {};
        h.type.set(type);
        h.sector.set(sector);
        guest.write_obj(a, h);
        return a;
    }
    std::uint64_t status_byte()
    {
        const std::uint64_t a = guest.alloc(1, 1);
        guest.fill(a, std::byte { STATUS_UNTOUCHED }, 1);
        return a;
    }

    void notify(std::uint16_t q = 0) { device->on_queue_notify(q); }
    // Notify, let the backend finish everything, and return the next used entry.
    std::optional<UsedEntry> run(std::uint16_t q = 0)
    {
        notify(q);
        settle_();
        return queues[q].pop_used();
    }
    [[nodiscard]] std::uint8_t status(const BlkRequest& r) const
    {
        return std::to_integer<std::uint8_t>(guest.read(r.status, 1)[0]);
    }
    [[nodiscard]] std::vector<std::byte> data(const BlkRequest& r) const { return guest.read(r.data, r.data_len); }
    [[nodiscard]] std::vector<std::byte> image(std::size_t off, std::size_t len) const
    {
        const auto& img = backend->image();
        return { img.begin() + static_cast<std::ptrdiff_t>(off), img.begin() + static_cast<std::ptrdiff_t>(off + len) };
    }
    template <WireType T>
    [[nodiscard]] T config_at(std::uint32_t offset) const
    {
        T v {};
        device->read_config(offset, std::as_writable_bytes(std::span(&v, 1)));
        return v;
    }

    FakeGuest guest;
    FakeInterrupt irq;
    FakeBlockBackend* backend = nullptr;
    std::unique_ptr<block::BlockDevice> device;
    std::uint64_t features = 0;
    std::vector<QueueConfig> configs;
    std::vector<AnyDriverQueue> queues;

private:
    BlkRigOptions options_;
    std::function<void()> settle_;
};

[[nodiscard]] inline VirtioBlkDiscardWriteZeroes seg(std::uint64_t sector, std::uint32_t sectors, std::uint32_t flags = 0)
{
    VirtioBlkDiscardWriteZeroes s {};
    s.sector.set(sector);
    s.num_sectors.set(sectors);
    s.flags.set(flags);
    return s;
}

} // namespace vmm::virtio::test
