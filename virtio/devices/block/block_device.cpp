// SPDX-License-Identifier: Apache-2.0
// BlockDevice: request parsing and validation, host operations, completion, cache mode, resize.
#include "virtio/devices/block/block_device.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include <boost/container/small_vector.hpp>

#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::block {
namespace {

constexpr std::size_t HEADER = sizeof(VirtioBlkReqHeader);
constexpr std::size_t SEGMENT = sizeof(VirtioBlkDiscardWriteZeroes);

std::uint64_t offered_features(const BlockOptions& o)
{
    std::uint64_t f = feature_bit(VIRTIO_BLK_F_SEG_MAX) | feature_bit(VIRTIO_BLK_F_BLK_SIZE)
        | feature_bit(VIRTIO_BLK_F_TOPOLOGY) | feature_bit(VIRTIO_F_RING_RESET);
    if (o.size_max != 0) {
        f |= feature_bit(VIRTIO_BLK_F_SIZE_MAX);
    }
    if (o.read_only) {
        f |= feature_bit(VIRTIO_BLK_F_RO);
    }
    if (o.cache != CacheMode::unsafe) {
        // virtio 1.2 §5.2.5: CONFIG_WCE may only be offered together with FLUSH.
        f |= feature_bit(VIRTIO_BLK_F_FLUSH) | feature_bit(VIRTIO_BLK_F_CONFIG_WCE);
    }
    if (o.num_queues > 1) {
        f |= feature_bit(VIRTIO_BLK_F_MQ);
    }
    if (o.discard) {
        f |= feature_bit(VIRTIO_BLK_F_DISCARD);
    }
    if (o.write_zeroes) {
        f |= feature_bit(VIRTIO_BLK_F_WRITE_ZEROES);
    }
    if (o.secure_erase) {
        f |= feature_bit(VIRTIO_BLK_F_SECURE_ERASE);
    }
    if (o.lifetime) {
        f |= feature_bit(VIRTIO_BLK_F_LIFETIME);
    }
    return f;
}

std::uint8_t log2_exact(std::uint32_t v)
{
    return static_cast<std::uint8_t>(std::countr_zero(v));
}

const char* type_name(std::uint32_t type)
{
    switch (type) {
    case VIRTIO_BLK_T_IN:
        return "read";
    case VIRTIO_BLK_T_OUT:
        return "write";
    case VIRTIO_BLK_T_FLUSH:
        return "flush";
    case VIRTIO_BLK_T_DISCARD:
        return "discard";
    case VIRTIO_BLK_T_WRITE_ZEROES:
        return "write zeroes";
    case VIRTIO_BLK_T_SECURE_ERASE:
        return "secure erase";
    default:
        return "request";
    }
}

} // namespace

BlockDevice::BlockDevice(std::unique_ptr<BlockBackend> backend, BlockOptions options)
    : DeviceBase(DeviceType::block, std::vector<std::uint16_t>(options.num_queues, options.queue_size),
          offered_features(options), sizeof(VirtioBlkConfig))
    , backend_(std::move(backend))
    , options_(std::move(options))
{
    backend_->set_sink(this);
    std::memcpy(id_.data(), options_.serial.data(), std::min(options_.serial.size(), id_.size()));
    capacity_ = backend_->size() >> VIRTIO_BLK_SECTOR_SHIFT;
    writeback_.store(initial_writeback() != 0, std::memory_order_relaxed);

    const std::uint32_t physical = options_.physical_block_size != 0 ? options_.physical_block_size : options_.blk_size;
    VirtioBlkConfig cfg {};
    cfg.capacity.set(capacity_);
    cfg.size_max.set(options_.size_max);
    cfg.seg_max.set(options_.seg_max != 0 ? options_.seg_max : static_cast<std::uint32_t>(options_.queue_size - 2));
    cfg.blk_size.set(options_.blk_size);
    cfg.topology.physical_block_exp = log2_exact(physical / options_.blk_size);
    cfg.topology.alignment_offset = options_.alignment_offset;
    cfg.topology.min_io_size.set(options_.min_io_size);
    cfg.topology.opt_io_size.set(options_.opt_io_size);
    cfg.writeback = initial_writeback();
    cfg.num_queues.set(options_.num_queues);
    const auto alignment = static_cast<std::uint32_t>(options_.blk_size / VIRTIO_BLK_SECTOR_SIZE);
    if (options_.discard) {
        cfg.max_discard_sectors.set(options_.max_discard_sectors);
        cfg.max_discard_seg.set(options_.max_discard_seg);
        cfg.discard_sector_alignment.set(alignment);
    }
    if (options_.write_zeroes) {
        cfg.max_write_zeroes_sectors.set(options_.max_write_zeroes_sectors);
        cfg.max_write_zeroes_seg.set(options_.max_write_zeroes_seg);
        // §5.2.6.2: set if and only if a write zeroes request can deallocate: it punches a
        // hole when the image allows discard.
        cfg.write_zeroes_may_unmap = options_.discard ? 1 : 0;
    }
    if (options_.secure_erase) {
        cfg.max_secure_erase_sectors.set(options_.max_secure_erase_sectors);
        cfg.max_secure_erase_seg.set(options_.max_secure_erase_seg);
        cfg.secure_erase_sector_alignment.set(alignment);
    }
    set_config_obj(0, cfg);

    queues_.resize(options_.num_queues);
    touched_.assign(options_.num_queues, false);
    requests_.reserve(std::size_t { options_.num_queues } * options_.queue_size);
}

BlockDevice::~BlockDevice()
{
    for (std::size_t i = 0; i < coalescers_.size(); ++i) {
        const auto& st = coalescers_[i]->policy().stats();
        spdlog::debug("virtio-blk {} queue {}: {} notifications held, {} sent at the driver's depth, {} by time "
                      "(depth {}, interval {} ns)",
            backend_->describe(), i, st.holds, st.at_depth, st.by_time, coalescers_[i]->policy().peak(),
            coalescers_[i]->policy().interval().count());
    }
    drop_queues_and_drain();
    backend_->set_sink(nullptr);
}

std::uint8_t BlockDevice::initial_writeback() const noexcept
{
    return options_.cache == CacheMode::writethrough ? 0 : 1;
}

void BlockDevice::ack_features(std::uint64_t features) noexcept
{
    DeviceBase::ack_features(features);
    std::uint8_t wb = initial_writeback();
    // virtio 1.2 §5.2.5: CONFIG_WCE without FLUSH starts in writethrough.
    if (has_feature(features, VIRTIO_BLK_F_CONFIG_WCE) && !has_feature(features, VIRTIO_BLK_F_FLUSH)) {
        wb = 0;
    }
    writeback_.store(wb != 0, std::memory_order_relaxed);
    set_config_obj(offsetof(VirtioBlkConfig, writeback), wb);
}

bool BlockDevice::on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    // Guest-controlled: offset and in. Only writeback is writable, and only with CONFIG_WCE
    // (virtio 1.2 §5.2.4); everything else in the space is read-only.
    if (offset != offsetof(VirtioBlkConfig, writeback) || in.size() != 1 || !acked(VIRTIO_BLK_F_CONFIG_WCE)) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-blk {}: config write of {} bytes at {:#x} ignored",
            backend_->describe(), in.size(), offset);
        return false;
    }
    const std::uint8_t wb = in[0] != std::byte { 0 } ? 1 : 0;
    writeback_.store(wb != 0, std::memory_order_relaxed);
    set_config_obj(offset, wb);
    return true;
}

bool BlockDevice::write_through() const noexcept
{
    if (options_.cache == CacheMode::unsafe) {
        return false; // FLUSH not offered: no durability promised (§5.2.6.2)
    }
    if (acked(VIRTIO_BLK_F_CONFIG_WCE)) {
        return !writeback_.load(std::memory_order_relaxed); // stable case 2
    }
    // FLUSH offered: negotiated, the driver flushes (case 3); not negotiated, every completed
    // write must already be stable (case 1).
    return !acked(VIRTIO_BLK_F_FLUSH);
}

Result<> BlockDevice::activate(ActivationContext ctx)
{
    for (auto& q : queues_) {
        q.reset();
    }
    for (auto& q : ctx.queues) {
        const std::uint16_t i = q.index();
        if (i >= queues_.size()) {
            return fail(Errc::invalid_argument, "virtio-blk has {} queues, not {}", queues_.size(), i + 1);
        }
        queues_[i].emplace(std::move(q));
    }
    interrupt_ = &ctx.interrupt;
    set_interrupt(&ctx.interrupt);
    if (ctx.loop != nullptr && options_.coalesce && coalescers_.empty()) {
        for (std::uint16_t i = 0; i < queues_.size(); ++i) {
            coalescers_.push_back(std::make_unique<NotifyCoalescer>(&ctx.loop->io(), [this, i] { hold_expired(i); }));
        }
    }
    return {};
}

void BlockDevice::drop_queues_and_drain() noexcept
{
    // Queues first: every completion delivered while draining then finds its queue gone and
    // is dropped, so nothing is written into guest memory the driver may already reuse.
    for (auto& q : queues_) {
        q.reset();
    }
    for (auto& c : coalescers_) {
        c->reset(); // the next driver may run at another depth
    }
    backend_->drain();
}

void BlockDevice::reset() noexcept
{
    // virtio 1.2 §2.4: when this returns, no host I/O touches guest memory any more.
    drop_queues_and_drain();
    flush_failed_ = false;
    interrupt_ = nullptr;
    reset_base();
    const std::uint8_t wb = initial_writeback();
    writeback_.store(wb != 0, std::memory_order_relaxed);
    set_config_obj(offsetof(VirtioBlkConfig, writeback), wb);
}

void BlockDevice::reset_queue(std::uint16_t queue_index) noexcept
{
    if (queue_index >= queues_.size()) {
        return;
    }
    // virtio 1.2 §2.6.1: the device must not use the queue's buffers after the reset. The
    // queue goes first (its requests become stale), then everything in flight is waited for;
    // requests of the other queues complete normally meanwhile.
    queues_[queue_index].reset();
    if (queue_index < coalescers_.size()) {
        coalescers_[queue_index]->cancel();
    }
    backend_->drain();
}

Result<> BlockDevice::enable_queue(Queue queue)
{
    const std::uint16_t i = queue.index();
    if (i >= queues_.size()) {
        return fail(Errc::invalid_argument, "virtio-blk has {} queues, not {}", queues_.size(), i + 1);
    }
    queues_[i].emplace(std::move(queue));
    return {};
}

Result<std::uint64_t> BlockDevice::resize(std::uint64_t bytes)
{
    if (bytes == 0 || bytes % VIRTIO_BLK_SECTOR_SIZE != 0) {
        return fail(Errc::invalid_argument, "size {} is not a positive multiple of 512 bytes", bytes);
    }
    const std::uint64_t size = VMM_TRY(backend_->resize(bytes));
    capacity_ = size >> VIRTIO_BLK_SECTOR_SHIFT;
    // §5.2.6.2: the device MAY change capacity and SHOULD send a config change notification.
    update_config_obj(offsetof(VirtioBlkConfig, capacity), le64(capacity_));
    spdlog::info("virtio-blk {}: capacity now {} sectors", backend_->describe(), capacity_);
    return capacity_;
}

void BlockDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    if (queue_index >= queues_.size() || !queues_[queue_index]) {
        return; // before activation, or a queue the driver did not enable
    }
    Queue& q = *queues_[queue_index];
    bool arrived = false;
    do {
        q.disable_notification();
        while (auto chain = q.pop()) {
            handle(q, std::move(*chain));
            arrived = true;
        }
    } while (q.enable_notification());
    if (arrived && queue_index < coalescers_.size()) {
        coalescers_[queue_index]->arrived(q);
    }
    // One submission for everything this notification brought. Completions that finish
    // inside it arrive through io_batch_done() before it returns.
    backend_->flush_submissions();
    signal(queue_index);
}

void BlockDevice::signal(std::uint16_t i) noexcept
{
    touched_[i] = false;
    if (!queues_[i]) {
        return;
    }
    notify_used(i < coalescers_.size() ? coalescers_[i].get() : nullptr, *queues_[i]);
}

void BlockDevice::hold_expired(std::uint16_t i) noexcept
{
    if (i < queues_.size() && queues_[i]) {
        notify_if_hold_over(*coalescers_[i], *queues_[i]);
    }
}

bool BlockDevice::in_range(std::uint64_t sector, std::uint64_t sectors) const noexcept
{
    // Overflow-safe: sector + sectors <= capacity, without computing the sum.
    return sector <= capacity_ && sectors <= capacity_ - sector;
}

void BlockDevice::complete(Queue& queue, DescriptorChain&& chain, std::uint8_t status, std::uint32_t data_len) noexcept
{
    Writer& w = chain.writer();
    // Invariant: handle() checked that the chain has a writable byte for the status, and
    // data_len never covers it.
    if (data_len > 0) {
        (void)w.commit(data_len);
    }
    // used.len: the data bytes the device wrote plus the status byte (virtio 1.2 §2.7.8.2).
    const auto written = static_cast<std::uint32_t>(w.bytes_written());
    (void)w.skip(w.available() - 1);
    (void)w.write_obj(status);
    queue.add_used(std::move(chain), written + 1);
}

void BlockDevice::handle(Queue& queue, DescriptorChain&& chain) noexcept
{
    // virtio 1.2 §5.2.6: header (readable), data, status (the last writable byte). Without a
    // writable byte there is nowhere to report anything: hand the chain back untouched and
    // tell the driver its device needs a reset.
    if (chain.writer().capacity() == 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-blk {}: request on queue {} has no status byte; rejected",
            backend_->describe(), queue.index());
        queue.add_used(std::move(chain), 0);
        if (interrupt_ != nullptr) {
            interrupt_->signal_needs_reset();
        }
        return;
    }
    // Guest-controlled: the header, copied once.
    auto header = chain.reader().read_obj<VirtioBlkReqHeader>();
    if (!header) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-blk {}: request shorter than its {}-byte header",
            backend_->describe(), HEADER);
        complete(queue, std::move(chain), VIRTIO_BLK_S_IOERR);
        return;
    }
    const std::uint32_t type = header->type.get();
    switch (type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        handle_read_write(queue, std::move(chain), type, header->sector.get());
        return;
    case VIRTIO_BLK_T_FLUSH:
        handle_flush(queue, std::move(chain));
        return;
    case VIRTIO_BLK_T_GET_ID:
        handle_get_id(queue, std::move(chain));
        return;
    case VIRTIO_BLK_T_GET_LIFETIME:
        handle_get_lifetime(queue, std::move(chain));
        return;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
    case VIRTIO_BLK_T_SECURE_ERASE:
        handle_segments(queue, std::move(chain), type);
        return;
    default:
        complete(queue, std::move(chain), VIRTIO_BLK_S_UNSUPP);
        return;
    }
}

std::uint32_t BlockDevice::start(Queue& queue, DescriptorChain&& chain, std::uint32_t type) noexcept
{
    const std::uint32_t slot = requests_.acquire();
    Request& r = requests_[slot];
    r.chain.emplace(std::move(chain));
    // The buffers stay in use across loop turns: hold the DMA generation they were resolved
    // in, so that an IOMMU unmap of them waits for this request.
    r.pin = queue.dma().pin();
    r.queue = queue.index();
    r.type = type;
    r.pending = 0;
    r.error = 0;
    r.data_len = 0;
    r.then_flush = false;
    return slot;
}

void BlockDevice::submit(std::uint32_t slot, IoRequest&& io) noexcept
{
    io.tag = slot;
    ++requests_[slot].pending;
    backend_->submit(std::move(io));
}

void BlockDevice::handle_read_write(
    Queue& queue, DescriptorChain&& chain, std::uint32_t type, std::uint64_t sector) noexcept
{
    const bool is_write = type == VIRTIO_BLK_T_OUT;
    // Guest-controlled: the data length, from the chain's layout. A read fills every writable
    // byte before the status; a write takes every readable byte after the header.
    const std::size_t len = is_write ? chain.reader().available() : chain.writer().available() - 1;
    if (is_write && options_.read_only) {
        // §5.2.6.2: IOERR, and nothing written.
        complete(queue, std::move(chain), VIRTIO_BLK_S_IOERR);
        return;
    }
    if (len % VIRTIO_BLK_SECTOR_SIZE != 0 || !in_range(sector, len >> VIRTIO_BLK_SECTOR_SHIFT)) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-blk {}: {} of {} bytes at sector {} is outside the {} sectors "
                                           "or not whole sectors",
            backend_->describe(), type_name(type), len, sector, capacity_);
        complete(queue, std::move(chain), VIRTIO_BLK_S_IOERR);
        return;
    }
    if (len == 0) {
        complete(queue, std::move(chain), VIRTIO_BLK_S_OK);
        return;
    }
    IoRequest io;
    io.op = is_write ? IoOp::write : IoOp::read;
    // Invariant: in_range() holds, so the byte offset is below capacity * 512 <= backend size.
    io.offset = sector << VIRTIO_BLK_SECTOR_SHIFT;
    io.length = len;
    io.iov = is_write ? chain.reader().iovecs(len) : chain.writer().iovecs(len);
    io.sync = is_write && write_through();
    const std::uint32_t slot = start(queue, std::move(chain), type);
    requests_[slot].data_len = is_write ? 0 : static_cast<std::uint32_t>(len);
    submit(slot, std::move(io));
}

void BlockDevice::handle_flush(Queue& queue, DescriptorChain&& chain) noexcept
{
    if (options_.cache == CacheMode::unsafe) {
        complete(queue, std::move(chain), VIRTIO_BLK_S_UNSUPP); // FLUSH not offered
        return;
    }
    if (flush_failed_) {
        // D4 / "fsyncgate": the host reports a write-back error once; a later fdatasync would
        // succeed although the data is lost. Keep failing until the device is reset.
        complete(queue, std::move(chain), VIRTIO_BLK_S_IOERR);
        return;
    }
    const std::uint32_t slot = start(queue, std::move(chain), VIRTIO_BLK_T_FLUSH);
    IoRequest io;
    io.op = IoOp::flush;
    submit(slot, std::move(io));
}

void BlockDevice::handle_get_id(Queue& queue, DescriptorChain&& chain) noexcept
{
    // §5.2.6: up to 20 bytes, NUL-padded. A shorter buffer gets the part that fits.
    const std::size_t n = std::min(id_.size(), chain.writer().available() - 1);
    (void)chain.writer().write(std::as_bytes(std::span(id_.data(), n)));
    complete(queue, std::move(chain), VIRTIO_BLK_S_OK);
}

void BlockDevice::handle_get_lifetime(Queue& queue, DescriptorChain&& chain) noexcept
{
    if (!options_.lifetime || !acked(VIRTIO_BLK_F_LIFETIME)) {
        complete(queue, std::move(chain), VIRTIO_BLK_S_UNSUPP);
        return;
    }
    if (chain.writer().available() - 1 < sizeof(VirtioBlkLifetime)) {
        complete(queue, std::move(chain), VIRTIO_BLK_S_IOERR);
        return;
    }
    VirtioBlkLifetime lt {};
    lt.pre_eol_info.set(options_.lifetime->pre_eol_info);
    lt.device_lifetime_est_typ_a.set(options_.lifetime->device_lifetime_est_typ_a);
    lt.device_lifetime_est_typ_b.set(options_.lifetime->device_lifetime_est_typ_b);
    (void)chain.writer().write_obj(lt);
    complete(queue, std::move(chain), VIRTIO_BLK_S_OK);
}

void BlockDevice::handle_segments(Queue& queue, DescriptorChain&& chain, std::uint32_t type) noexcept
{
    unsigned feature = VIRTIO_BLK_F_DISCARD;
    std::uint32_t max_seg = options_.max_discard_seg;
    std::uint32_t max_sectors = options_.max_discard_sectors;
    std::uint32_t allowed_flags = 0; // §5.2.6.2: unmap on a discard is UNSUPP
    if (type == VIRTIO_BLK_T_WRITE_ZEROES) {
        feature = VIRTIO_BLK_F_WRITE_ZEROES;
        max_seg = options_.max_write_zeroes_seg;
        max_sectors = options_.max_write_zeroes_sectors;
        allowed_flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
    } else if (type == VIRTIO_BLK_T_SECURE_ERASE) {
        feature = VIRTIO_BLK_F_SECURE_ERASE;
        max_seg = options_.max_secure_erase_seg;
        max_sectors = options_.max_secure_erase_sectors;
    }
    if (!acked(feature)) {
        complete(queue, std::move(chain), VIRTIO_BLK_S_UNSUPP);
        return;
    }
    if (options_.read_only) {
        complete(queue, std::move(chain), VIRTIO_BLK_S_IOERR); // these are writes
        return;
    }
    // Guest-controlled: the segment count, bounded before anything is copied. Linux (up to at
    // least 6.12, drivers/block/virtio_blk.c) picks the data direction from bit 0 of the type,
    // so its SECURE_ERASE segments arrive device-writable, in front of the status byte: take
    // them from there when there are no readable ones.
    const bool from_writable = type == VIRTIO_BLK_T_SECURE_ERASE && chain.reader().available() == 0;
    const std::size_t len = from_writable ? chain.writer().available() - 1 : chain.reader().available();
    if (len == 0 || len % SEGMENT != 0 || len / SEGMENT > std::min(max_seg, BlockOptions::MAX_SEGMENTS)) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-blk {}: {} with {} bytes of segments (at most {} of {} bytes)",
            backend_->describe(), type_name(type), len, max_seg, SEGMENT);
        complete(queue, std::move(chain), VIRTIO_BLK_S_IOERR);
        return;
    }
    // Copied once into host memory (at most MAX_SEGMENTS * 16 bytes), then validated.
    std::array<VirtioBlkDiscardWriteZeroes, BlockOptions::MAX_SEGMENTS> raw {};
    const auto raw_bytes = std::as_writable_bytes(std::span(raw)).first(len);
    if (from_writable) {
        std::size_t at = 0;
        for (const iovec& v : chain.writer().iovecs(len)) {
            std::memcpy(raw_bytes.data() + at, v.iov_base, v.iov_len);
            at += v.iov_len;
        }
    } else {
        // Invariant: len bytes are readable.
        (void)chain.reader().read(raw_bytes);
    }
    boost::container::small_vector<Segment, 4> segments;
    for (std::size_t i = 0; i < len / SEGMENT; ++i) {
        segments.push_back(Segment { raw[i].sector.get(), raw[i].num_sectors.get(), raw[i].flags.get() });
    }
    // §5.2.6.2: any unknown flag (or unmap on discard) is UNSUPP, before any range is looked at.
    for (const auto& s : segments) {
        if ((s.flags & ~allowed_flags) != 0) {
            complete(queue, std::move(chain), VIRTIO_BLK_S_UNSUPP);
            return;
        }
    }
    for (const auto& s : segments) {
        if (s.sectors > max_sectors || !in_range(s.sector, s.sectors)) {
            VMM_LOG_GUEST(spdlog::level::warn, "virtio-blk {}: {} of {} sectors at {} is outside the {} sectors or "
                                               "above the limit of {}",
                backend_->describe(), type_name(type), s.sectors, s.sector, capacity_, max_sectors);
            complete(queue, std::move(chain), VIRTIO_BLK_S_IOERR);
            return;
        }
    }
    const std::uint32_t slot = start(queue, std::move(chain), type);
    Request& r = requests_[slot];
    // Secure erase overwrites in place and then commits; write zeroes is committed in
    // writethrough mode like any write. A discarded range has no content to make durable.
    r.then_flush = type == VIRTIO_BLK_T_SECURE_ERASE || (type == VIRTIO_BLK_T_WRITE_ZEROES && write_through());
    for (const auto& s : segments) {
        if (s.sectors == 0) {
            continue;
        }
        IoRequest io;
        io.offset = s.sector << VIRTIO_BLK_SECTOR_SHIFT;
        io.length = std::uint64_t { s.sectors } << VIRTIO_BLK_SECTOR_SHIFT;
        if (type == VIRTIO_BLK_T_DISCARD) {
            io.op = IoOp::discard;
        } else if (type == VIRTIO_BLK_T_WRITE_ZEROES) {
            io.op = IoOp::write_zeroes;
            // Deallocate only when the guest allows it and the image is configured to.
            io.unmap = (s.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0 && options_.discard;
        } else {
            io.op = IoOp::zero_fill;
        }
        submit(slot, std::move(io));
    }
    if (r.pending == 0) {
        if (r.then_flush) {
            r.then_flush = false;
            IoRequest io;
            io.op = IoOp::flush;
            submit(slot, std::move(io));
        } else {
            finish(slot);
        }
    }
}

void BlockDevice::io_complete(std::uint64_t tag, int result) noexcept
{
    const auto slot = static_cast<std::uint32_t>(tag);
    VMM_ASSERT(requests_.in_use(tag) && requests_[slot].pending > 0);
    Request& r = requests_[slot];
    --r.pending;
    if (result < 0) {
        if (r.error == 0) {
            r.error = result;
        }
        // A failed flush, or a write that hit EIO (possibly failed write-back of earlier
        // data), may have lost data the guest was told was written: latch it.
        const bool flush = r.type == VIRTIO_BLK_T_FLUSH || r.type == VIRTIO_BLK_T_SECURE_ERASE || r.then_flush;
        if (flush || (r.type == VIRTIO_BLK_T_OUT && result == -EIO)) {
            flush_failed_ = true;
        }
        VMM_LOG_GUEST(spdlog::level::err, "virtio-blk {}: {} failed: {}", backend_->describe(), type_name(r.type),
            std::error_code(-result, std::system_category()).message());
    }
    if (r.pending > 0) {
        return;
    }
    const bool queue_alive = r.queue < queues_.size() && queues_[r.queue] && queues_[r.queue]->owns(*r.chain);
    if (r.then_flush && r.error == 0 && queue_alive) {
        r.then_flush = false;
        IoRequest io;
        io.op = IoOp::flush;
        submit(slot, std::move(io));
        return;
    }
    if (r.type == VIRTIO_BLK_T_FLUSH && r.error != 0) {
        flush_failed_ = true;
    }
    finish(slot);
}

void BlockDevice::finish(std::uint32_t slot) noexcept
{
    Request& r = requests_[slot];
    // A chain of a queue that was reset (or of an earlier activation) is stale: the driver may
    // have reused its buffers, so nothing is written (virtio 1.2 §2.6.1).
    if (r.queue < queues_.size() && queues_[r.queue] && queues_[r.queue]->owns(*r.chain)) {
        const std::uint8_t status = r.error == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
        complete(*queues_[r.queue], std::move(*r.chain), status, r.error == 0 ? r.data_len : 0);
        touched_[r.queue] = true;
    }
    r.chain.reset();
    r.pin.reset();
    requests_.release(slot);
}

nlohmann::json BlockDevice::status() const
{
    return backend_->status();
}

void BlockDevice::io_batch_done() noexcept
{
    for (std::uint16_t i = 0; i < queues_.size(); ++i) {
        if (touched_[i]) {
            signal(i);
        }
    }
}

} // namespace vmm::virtio::block
