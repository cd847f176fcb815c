// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: a split or packed virtqueue driven by arbitrary queue state, rings and RAM.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include <spdlog/spdlog.h>

#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/fake_guest.hpp"
#include "tests/support/remappable_dma.hpp"
#include "virtio/queue/queue_config.hpp"
#include "virtio/spec/features.hpp"

using namespace vmm;
using namespace vmm::virtio;
using vmm::fuzz::invariant_failed;

namespace {

// Input layout:
//   [0, 16)            queue state: layout, features, size, start positions, ring placement
//   [16, 48)           operations, one byte each; some take argument bytes from the RAM part
//   [48, 48 + R)       ring bytes: descriptor area, then driver area, then device area
//   [48 + R, end)      RAM contents: copied to the buffer area of RAM0, the rest to RAM1
constexpr std::size_t STATE_SIZE = 16;
constexpr std::size_t OPS_SIZE = 32;

// A small guest: two 64 KiB regions around a 64 KiB hole, rings at fixed places in RAM0.
constexpr std::uint64_t RAM0_SIZE = 0x10000;
constexpr std::uint64_t RAM1_BASE = 0x20000;
constexpr std::uint64_t RAM1_SIZE = 0x10000;
constexpr std::uint64_t DESC_AT = 0x0000;
constexpr std::uint64_t DRIVER_AT = 0x1000;
constexpr std::uint64_t DEVICE_AT = 0x2000;
constexpr std::uint64_t BUFFERS_AT = 0x3000;

test::FakeGuest& guest()
{
    static const std::array<MemoryRegionSpec, 2> map { {
        { GuestAddress { 0 }, RAM0_SIZE },
        { GuestAddress { RAM1_BASE }, RAM1_SIZE },
    } };
    static test::FakeGuest g(map);
    return g;
}

std::byte* host(std::uint64_t gpa, std::uint64_t len)
{
    return guest().memory().host_ptr(GuestAddress { gpa }, len);
}

// Every iovec of a chain must lie inside mapped guest RAM.
void check_inside_ram(const IovecList& iov)
{
    for (const auto& v : iov) {
        bool inside = false;
        for (const auto& r : guest().memory().regions()) {
            const auto* base = r.host();
            const auto* p = static_cast<const std::byte*>(v.iov_base);
            if (p >= base && v.iov_len <= r.size() && static_cast<std::uint64_t>(p - base) <= r.size() - v.iov_len) {
                inside = true;
            }
        }
        if (!inside) {
            invariant_failed("a chain slice lies outside guest RAM");
        }
    }
}

class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    [[nodiscard]] std::span<const std::uint8_t> take(std::size_t n)
    {
        n = std::min(n, size_ - pos_);
        auto s = std::span(data_ + pos_, n);
        pos_ += n;
        return s;
    }
    [[nodiscard]] std::uint8_t byte()
    {
        auto s = take(1);
        return s.empty() ? 0 : s[0];
    }
    [[nodiscard]] std::span<const std::uint8_t> rest() { return take(size_ - pos_); }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// The split used ring's idx as the driver sees it.
std::uint16_t used_idx(std::uint64_t used_ring)
{
    std::uint16_t v = 0;
    std::memcpy(&v, host(used_ring + RING_IDX_OFFSET, 2), 2);
    return v;
}

std::uint16_t u16_at(std::span<const std::uint8_t> s, std::size_t off)
{
    return off + 1 < s.size() ? static_cast<std::uint16_t>(s[off] | s[off + 1] << 8) : 0;
}

struct Run {
    // Between the queue and RAM, so that operations can change mappings (an IOMMU's UNMAP).
    test::RemappableDma dma { guest().dma() };
    QueueConfig config { 256 };
    test::FakeInterrupt irq;
    std::uint64_t features = feature_bit(VIRTIO_F_VERSION_1);
    std::optional<Queue> queue;
    std::deque<DescriptorChain> in_flight;
    std::vector<DescriptorChain> stale;

    void activate()
    {
        auto q = config.activate(0, dma, features, irq);
        if (q) {
            queue.emplace(std::move(q).value());
        } else {
            queue.reset();
        }
    }
};

void write_some(DescriptorChain& chain, std::size_t n)
{
    static const std::array<std::byte, 256> fill {};
    n = std::min({ n, chain.writer().available(), fill.size() });
    if (!chain.writer().write(std::span(fill).first(n))) {
        invariant_failed("a write within available() failed");
    }
}

void read_some(DescriptorChain& chain, std::size_t n)
{
    std::array<std::byte, 256> buf {};
    n = std::min({ n, chain.reader().available(), buf.size() });
    if (!chain.reader().read(std::span(buf).first(n))) {
        invariant_failed("a read within available() failed");
    }
}

void run_op(Run& run, std::uint8_t op, Input& args)
{
    Queue& q = *run.queue;
    const std::size_t arg = op >> 4;
    switch (op & 0x0f) {
    case 0:
    case 1: {
        auto chain = q.pop();
        if (chain) {
            if (std::uint64_t { chain->reader().capacity() } + chain->writer().capacity()
                > std::numeric_limits<std::uint32_t>::max()) {
                invariant_failed("chain longer than 2^32 bytes");
            }
            check_inside_ram(chain->reader().iovecs(std::numeric_limits<std::size_t>::max()));
            check_inside_ram(chain->writer().iovecs(std::numeric_limits<std::size_t>::max()));
            read_some(*chain, arg * 16);
            run.in_flight.push_back(std::move(*chain));
        }
        break;
    }
    case 2:
        if (!run.in_flight.empty()) {
            write_some(run.in_flight.front(), arg * 8);
            q.add_used(std::move(run.in_flight.front()));
            run.in_flight.pop_front();
        }
        break;
    case 3:
        if (!run.in_flight.empty()) {
            q.add_used(std::move(run.in_flight.back()), static_cast<std::uint32_t>(arg << 6));
            run.in_flight.pop_back();
        }
        break;
    case 4:
        if (!run.in_flight.empty()) {
            q.stage_used(std::move(run.in_flight.front()), static_cast<std::uint32_t>(arg));
            run.in_flight.pop_front();
        }
        break;
    case 5:
        q.publish_used();
        break;
    case 6:
        q.notify_if_needed();
        break;
    case 7:
        q.disable_notification();
        break;
    case 8:
        (void)q.enable_notification();
        break;
    case 9: {
        // The driver moves on: a new avail index (split) or flags on a descriptor (packed).
        const std::uint8_t lo = args.byte();
        const std::uint8_t hi = args.byte();
        const auto v = static_cast<std::uint16_t>(lo | hi << 8);
        if (q.layout() == RingLayout::split) {
            std::memcpy(host(DRIVER_AT + RING_IDX_OFFSET, 2), &v, 2);
        } else {
            const std::uint64_t pos = arg % q.size();
            std::memcpy(host(DESC_AT + 16 * pos + PACKED_DESC_FLAGS_OFFSET, 2), &v, 2);
        }
        break;
    }
    case 10: {
        std::uint32_t raw = 0;
        for (int i = 0; i < 4; ++i) {
            raw = raw << 8 | args.byte();
        }
        (void)q.check_notification_data(decode_notification_data(raw));
        break;
    }
    case 11:
        if (!run.in_flight.empty()) {
            auto& c = run.in_flight.front();
            check_inside_ram(c.reader().iovecs(arg * 32));
            const auto iov = c.writer().iovecs(arg * 32);
            check_inside_ram(iov);
            std::size_t n = 0;
            for (const auto& v : iov) {
                std::memset(v.iov_base, 0xa5, v.iov_len);
                n += v.iov_len;
            }
            if (!c.writer().commit(n)) {
                invariant_failed("commit of the bytes iovecs() gave failed");
            }
        }
        break;
    case 12: {
        // Per-queue reset: the chains in flight become stale and must never be completed.
        for (auto& c : run.in_flight) {
            run.stale.push_back(std::move(c));
        }
        run.in_flight.clear();
        const RingState state = run.config.ring_state();
        run.config.set_ready(false);
        run.config.set_ready(true);
        run.config.set_ring_state(state);
        const std::uint16_t used_before = used_idx(run.config.device_addr());
        run.activate();
        if (!run.queue) {
            return;
        }
        for (auto& c : run.stale) {
            if (run.queue->owns(c)) {
                invariant_failed("a new queue owns a chain of the old one");
            }
            run.queue->add_used(std::move(c), 1);
        }
        run.stale.clear();
        if (run.queue->layout() == RingLayout::split && used_idx(run.config.device_addr()) != used_before) {
            invariant_failed("a stale chain was completed");
        }
        break;
    }
    case 13:
        if (!run.in_flight.empty()) {
            auto& c = run.in_flight.front();
            (void)c.reader().skip(arg * 4);
            (void)c.writer().skip(arg * 4);
        }
        break;
    case 14: {
        // A mapping change: unmap a window (or, with length 0, map everything again).
        const std::uint64_t start = std::uint64_t { args.byte() } << 8;
        const std::uint64_t len = std::uint64_t { arg } << 8;
        run.dma.unmap(start, len);
        break;
    }
    default: {
        auto chain = q.pop();
        if (chain) {
            write_some(*chain, arg * 16);
            q.add_used(std::move(*chain));
        }
        break;
    }
    }
    if (run.queue && run.queue->in_flight() > run.queue->size()) {
        invariant_failed("more chains in flight than the queue size");
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/)
{
    spdlog::set_level(spdlog::level::off);
    (void)guest();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    Input in(data, size);
    const auto state = in.take(STATE_SIZE);
    const auto ops = in.take(OPS_SIZE);
    if (state.size() < STATE_SIZE) {
        return 0;
    }

    // Queue state.
    Run run;
    const bool packed = (state[0] & 1) != 0;
    run.features |= packed ? feature_bit(VIRTIO_F_RING_PACKED) : 0;
    run.features |= (state[0] & 2) != 0 ? feature_bit(VIRTIO_F_EVENT_IDX) : 0;
    run.features |= (state[0] & 4) != 0 ? feature_bit(VIRTIO_F_INDIRECT_DESC) : 0;
    run.features |= (state[0] & 8) != 0 ? feature_bit(VIRTIO_F_IN_ORDER) : 0;
    const auto qsize = static_cast<std::uint16_t>(packed ? 1 + state[1] : 1U << (state[1] % 9));
    RingState ring;
    ring.next_avail = u16_at(state, 2);
    ring.next_used = u16_at(state, 4);
    if (packed) {
        ring.avail_wrap = (ring.next_avail & 0x8000) == 0;
        ring.used_wrap = (ring.next_used & 0x8000) == 0;
        ring.next_avail = static_cast<std::uint16_t>((ring.next_avail & 0x7fff) % qsize);
        ring.next_used = static_cast<std::uint16_t>((ring.next_used & 0x7fff) % qsize);
    }
    std::uint64_t desc = DESC_AT;
    std::uint64_t driver = DRIVER_AT;
    std::uint64_t device = DEVICE_AT;
    if ((state[6] & 1) != 0) {
        desc += state[8] & 0x1f;
        driver += state[9] & 0x7;
        device += state[10] & 0x7;
    }

    // Ring bytes, then RAM.
    std::memset(host(0, RAM0_SIZE), 0, RAM0_SIZE);
    std::memset(host(RAM1_BASE, RAM1_SIZE), 0, RAM1_SIZE);
    const std::uint64_t desc_len = std::uint64_t { 16 } * qsize;
    const std::uint64_t driver_len = packed ? PACKED_EVENT_SIZE : split_avail_ring_size(qsize);
    const std::uint64_t device_len = packed ? PACKED_EVENT_SIZE : split_used_ring_size(qsize);
    for (const auto& [at, len] : { std::pair { DESC_AT, desc_len }, std::pair { DRIVER_AT, driver_len },
             std::pair { DEVICE_AT, device_len } }) {
        const auto bytes = in.take(len);
        std::memcpy(host(at, bytes.size()), bytes.data(), bytes.size());
    }
    const auto ram = in.rest();
    const std::size_t ram0 = std::min<std::size_t>(ram.size(), RAM0_SIZE - BUFFERS_AT);
    std::memcpy(host(BUFFERS_AT, ram0), ram.data(), ram0);
    const std::size_t ram1 = std::min<std::size_t>(ram.size() - ram0, RAM1_SIZE);
    std::memcpy(host(RAM1_BASE, ram1), ram.data() + ram0, ram1);

    run.config.set_size(qsize);
    run.config.set_desc_addr(desc);
    run.config.set_driver_addr(driver);
    run.config.set_device_addr(device);
    run.config.set_ring_state(ring);
    run.config.set_ready(true);
    run.activate();
    if (!run.queue) {
        return 0;
    }

    // Operations take their argument bytes from the front of the RAM part: both are input.
    Input args(ram.data(), ram.size());
    for (const std::uint8_t op : ops) {
        if (!run.queue) {
            break;
        }
        run_op(run, op, args);
    }
    // Complete what is left, as a device draining its queue would.
    if (run.queue) {
        while (!run.in_flight.empty()) {
            run.queue->add_used(std::move(run.in_flight.front()));
            run.in_flight.pop_front();
        }
        run.queue->publish_used();
        (void)run.queue->needs_notification();
    }
    return 0;
}
