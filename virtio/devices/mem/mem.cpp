// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/mem/mem.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>

#include <spdlog/spdlog.h>

#include "vmm/base/log.hpp"

namespace vmm::virtio::mem {
namespace {

std::uint64_t offered_features(const MemOptions& o) noexcept
{
    // UNPLUGGED_INACCESSIBLE: the driver promises not to read unplugged blocks, which Linux
    // needs offered on every architecture but x86 (and takes on x86 too).
    std::uint64_t f = feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX)
        | feature_bit(VIRTIO_F_RING_PACKED) | feature_bit(VIRTIO_F_RING_RESET)
        | feature_bit(VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE);
    f |= o.node ? feature_bit(VIRTIO_MEM_F_ACPI_PXM) : 0;
    return f;
}

constexpr std::uint64_t BITS = 64;

VirtioMemResp response(std::uint16_t type, std::uint16_t state = 0) noexcept
{
    VirtioMemResp r {};
    r.type = le16(type);
    r.state = le16(state);
    return r;
}

} // namespace

MemDevice::MemDevice(const GuestMemory& memory, const MemoryRegion& region, MemOptions options)
    : DeviceBase(DeviceType::mem, { QUEUE_SIZE }, offered_features(options), sizeof(VirtioMemConfig))
    , memory_(memory)
    , region_(region)
    , options_(options)
    , requested_size_(options.requested_size)
{
    const std::uint64_t blocks = options_.region_size / options_.block_size;
    plugged_.assign((blocks + BITS - 1) / BITS, 0);
    usable_size_ = wanted_usable();
    VirtioMemConfig cfg {};
    cfg.block_size = le64(options_.block_size);
    cfg.node_id = le16(options_.node.value_or(0));
    cfg.addr = le64(region_.base().raw);
    cfg.region_size = le64(options_.region_size);
    set_config_obj(0, cfg);
    publish_sizes(false);
}

MemDevice::~MemDevice() = default;

std::uint64_t MemDevice::wanted_usable() const noexcept
{
    if (requested_size_ == 0) {
        return 0;
    }
    // Invariant: requested_size_ <= region_size <= 1 TiB (resize() and the config check them),
    // so no overflow; region_size is a multiple of block_size, so rounding up stays inside it.
    const std::uint64_t bs = options_.block_size;
    const std::uint64_t want = std::min(options_.region_size, requested_size_ + USABLE_EXTENT);
    return (want + bs - 1) / bs * bs;
}

void MemDevice::grow_usable() noexcept
{
    usable_size_ = std::max(usable_size_, wanted_usable());
}

void MemDevice::publish_sizes(bool notify) noexcept
{
    struct Sizes {
        le64 usable_region_size;
        le64 plugged_size;
        le64 requested_size;
    };
    static_assert(sizeof(Sizes) == 24 && WireType<Sizes>);
    const Sizes s { le64(usable_size_), le64(plugged_size()), le64(requested_size_) };
    if (notify) {
        update_config_obj(offsetof(VirtioMemConfig, usable_region_size), s);
    } else {
        set_config_obj(offsetof(VirtioMemConfig, usable_region_size), s);
    }
}

Result<> MemDevice::activate(ActivationContext ctx)
{
    if (ctx.queues.size() != 1 || ctx.queues.front().index() != 0) {
        return fail(Errc::invalid_argument, "virtio-mem needs exactly its request queue 0, got {} queues",
            ctx.queues.size());
    }
    queue_.emplace(std::move(ctx.queues.front()));
    set_interrupt(&ctx.interrupt);
    return {};
}

void MemDevice::reset() noexcept
{
    // §5.15.5: a device reset leaves every block as it is; the driver finds plugged_size and
    // unplugs what it does not know (Linux sends UNPLUG_ALL).
    queue_.reset();
    if (plugged_blocks_ == 0) {
        usable_size_ = wanted_usable();
    }
    publish_sizes(false);
    reset_base();
}

void MemDevice::reset_queue(std::uint16_t queue_index) noexcept
{
    if (queue_index == 0) {
        queue_.reset();
    }
}

Result<> MemDevice::enable_queue(Queue queue)
{
    if (queue.index() != 0) {
        return fail(Errc::invalid_argument, "virtio-mem has one queue, not {}", queue.index() + 1);
    }
    queue_.emplace(std::move(queue));
    return {};
}

void MemDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    if (queue_index != 0 || !queue_) {
        return; // before activation, after a reset, or a queue that does not exist
    }
    Queue& q = *queue_;
    do {
        q.disable_notification();
        while (auto chain = q.pop()) {
            handle(q, std::move(*chain));
        }
    } while (q.enable_notification());
    q.notify_if_needed();
}

void MemDevice::handle(Queue& q, DescriptorChain&& chain) noexcept
{
    // Guest-controlled: the chain's layout and every field. §5.15.6: a device-readable request,
    // then a device-writable response. A chain that is neither is returned unanswered.
    auto req = chain.reader().read_obj<VirtioMemReq>();
    if (!req || chain.writer().available() < sizeof(VirtioMemResp)) {
        ++counters_.bad_requests;
        VMM_LOG_GUEST(spdlog::level::warn,
            "virtio-mem: request without its {}-byte header or a {}-byte response buffer; returned unanswered",
            sizeof(VirtioMemReq), sizeof(VirtioMemResp));
        q.add_used(std::move(chain), 0);
        return;
    }
    const VirtioMemResp resp = execute(*req);
    // Invariant: room for the response was checked above.
    (void)chain.writer().write_obj(resp);
    q.add_used(std::move(chain));
}

std::optional<MemDevice::Range> MemDevice::blocks_of(std::uint64_t addr, std::uint16_t nb_blocks) const noexcept
{
    const std::uint64_t base = region_.base().raw;
    const std::uint64_t bs = options_.block_size;
    if (nb_blocks == 0 || addr < base || (addr - base) % bs != 0) {
        return std::nullopt;
    }
    // Overflow-safe: first < region blocks, and nb_blocks is 16 bits.
    const std::uint64_t first = (addr - base) / bs;
    const std::uint64_t usable_blocks = usable_size_ / bs;
    if (first >= usable_blocks || nb_blocks > usable_blocks - first) {
        return std::nullopt;
    }
    return Range { first, nb_blocks };
}

std::uint64_t MemDevice::plugged_in(Range r) const noexcept
{
    std::uint64_t n = 0;
    for (std::uint64_t b = r.first; b < r.first + r.count; ++b) {
        n += (plugged_[b / BITS] >> (b % BITS)) & 1U;
    }
    return n;
}

void MemDevice::set_blocks(Range r, bool plugged) noexcept
{
    for (std::uint64_t b = r.first; b < r.first + r.count; ++b) {
        const std::uint64_t bit = std::uint64_t { 1 } << (b % BITS);
        if (plugged) {
            plugged_[b / BITS] |= bit;
        } else {
            plugged_[b / BITS] &= ~bit;
        }
    }
    plugged_blocks_ = plugged ? plugged_blocks_ + r.count : plugged_blocks_ - r.count;
}

bool MemDevice::discard(Range r) noexcept
{
    const std::uint64_t len = r.count * options_.block_size;
    auto ok = memory_.discard(region_.host() + r.first * options_.block_size, len);
    if (!ok) {
        ++counters_.discard_failures;
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-mem: unplugged memory not given back: {}", ok.error().describe());
        return false;
    }
    counters_.released_bytes += len;
    return true;
}

VirtioMemResp MemDevice::execute(const VirtioMemReq& req) noexcept
{
    const std::uint16_t type = req.type.get();
    if (type == VIRTIO_MEM_REQ_UNPLUG_ALL) {
        // §5.15.6.3: every block unplugged, and usable_region_size may shrink (no config
        // notification for that: the driver rereads it).
        if (plugged_blocks_ != 0 && !discard(Range { 0, options_.region_size / options_.block_size })) {
            ++counters_.errors;
            return response(VIRTIO_MEM_RESP_ERROR);
        }
        std::fill(plugged_.begin(), plugged_.end(), 0);
        plugged_blocks_ = 0;
        usable_size_ = wanted_usable();
        ++counters_.unplugs;
        publish_sizes(false);
        return response(VIRTIO_MEM_RESP_ACK);
    }
    if (type != VIRTIO_MEM_REQ_PLUG && type != VIRTIO_MEM_REQ_UNPLUG && type != VIRTIO_MEM_REQ_STATE) {
        ++counters_.errors;
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-mem: unknown request type {}", type);
        return response(VIRTIO_MEM_RESP_ERROR);
    }
    const auto range = blocks_of(req.addr.get(), req.nb_blocks.get());
    if (!range) {
        ++counters_.errors;
        VMM_LOG_GUEST(spdlog::level::warn,
            "virtio-mem: request {} for {} blocks at {:#x} is not block-aligned inside the usable region", type,
            req.nb_blocks.get(), req.addr.get());
        return response(VIRTIO_MEM_RESP_ERROR);
    }
    const std::uint64_t plugged = plugged_in(*range);
    if (type == VIRTIO_MEM_REQ_STATE) {
        ++counters_.states;
        const std::uint16_t state = plugged == 0 ? VIRTIO_MEM_STATE_UNPLUGGED
            : plugged == range->count             ? VIRTIO_MEM_STATE_PLUGGED
                                                  : VIRTIO_MEM_STATE_MIXED;
        return response(VIRTIO_MEM_RESP_ACK, state);
    }
    if (type == VIRTIO_MEM_REQ_PLUG) {
        if (plugged != 0) {
            ++counters_.errors; // §5.15.6.1: some of the blocks are plugged already
            return response(VIRTIO_MEM_RESP_ERROR);
        }
        // Plugging past the requested size is refused (Linux's NACK: "plugging more than
        // requested"); the driver retries once requested_size grows.
        if (plugged_size() + range->count * options_.block_size > requested_size_) {
            ++counters_.nacks;
            return response(VIRTIO_MEM_RESP_NACK);
        }
        set_blocks(*range, true);
        ++counters_.plugs;
        publish_sizes(false);
        return response(VIRTIO_MEM_RESP_ACK);
    }
    // UNPLUG
    if (plugged != range->count) {
        ++counters_.errors; // §5.15.6.2: some of the blocks are not plugged
        return response(VIRTIO_MEM_RESP_ERROR);
    }
    if (!discard(*range)) {
        ++counters_.errors;
        return response(VIRTIO_MEM_RESP_ERROR);
    }
    set_blocks(*range, false);
    ++counters_.unplugs;
    publish_sizes(false);
    return response(VIRTIO_MEM_RESP_ACK);
}

Result<> MemDevice::resize(std::uint64_t requested_size)
{
    if (requested_size % options_.block_size != 0) {
        return fail(Errc::invalid_argument, "requested size {} is not a multiple of the block size {}", requested_size,
            options_.block_size);
    }
    if (requested_size > options_.region_size) {
        return fail(Errc::invalid_argument, "requested size {} is more than the device's region of {} bytes",
            requested_size, options_.region_size);
    }
    requested_size_ = requested_size;
    grow_usable();
    // §5.15.5: a change of requested_size (or usable_region_size) is announced.
    publish_sizes(true);
    return {};
}

nlohmann::json MemDevice::status() const
{
    return {
        { "addr", region_.base().raw },
        { "region_size", options_.region_size },
        { "block_size", options_.block_size },
        { "usable_region_size", usable_size_ },
        { "requested_size", requested_size_ },
        { "plugged_size", plugged_size() },
        { "plugs", counters_.plugs },
        { "unplugs", counters_.unplugs },
        { "states", counters_.states },
        { "nacks", counters_.nacks },
        { "errors", counters_.errors },
        { "bad_requests", counters_.bad_requests },
        { "released_bytes", counters_.released_bytes },
        { "discard_failures", counters_.discard_failures },
    };
}

} // namespace vmm::virtio::mem
