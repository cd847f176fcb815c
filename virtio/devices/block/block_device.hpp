// SPDX-License-Identifier: Apache-2.0
// BlockDevice: virtio-blk (virtio 1.2 §5.2) over an asynchronous BlockBackend.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "virtio/device_base.hpp"
#include "virtio/devices/block/block_backend.hpp"
#include "virtio/devices/slot_pool.hpp"
#include "virtio/queue/notify_coalescer.hpp"
#include "virtio/spec/block.hpp"

namespace vmm::virtio::block {

enum class CacheMode : std::uint8_t {
    // FLUSH and CONFIG_WCE offered, writeback cache on: completed writes are in the host page
    // cache and become durable at the guest's next FLUSH (fdatasync).
    writeback,
    // The same features, cache off: every write is committed (RWF_DSYNC) before it completes.
    // The guest may switch to writeback through the writeback config field.
    writethrough,
    // No FLUSH offered: nothing is ever committed on the guest's behalf. Not durable: a host
    // crash loses whatever the page cache held. For scratch disks only.
    unsafe,
};

struct Lifetime {
    std::uint16_t pre_eol_info = VIRTIO_BLK_PRE_EOL_INFO_UNDEFINED;
    std::uint16_t device_lifetime_est_typ_a = 0;
    std::uint16_t device_lifetime_est_typ_b = 0;
};

// What the device offers; the config parser fills it (block_config.hpp) and checks the bounds
// that the comments give.
struct BlockOptions {
    static constexpr std::uint16_t MAX_QUEUES = 64;
    static constexpr std::uint16_t MAX_QUEUE_SIZE = 1024; // readv takes at most 1024 iovecs
    static constexpr std::uint32_t MAX_SEGMENTS = 256;    // Linux's MAX_DISCARD_SEGMENTS

    bool read_only = false;
    CacheMode cache = CacheMode::writeback;
    std::uint16_t num_queues = 1;   // 1..MAX_QUEUES; MQ offered above 1
    std::uint16_t queue_size = 256; // power of two, 2..MAX_QUEUE_SIZE
    std::string serial;             // GET_ID, at most 20 bytes
    std::uint32_t seg_max = 0;      // 0: queue_size - 2
    std::uint32_t size_max = 0;     // 0: SIZE_MAX not offered
    std::uint32_t blk_size = 512;   // logical block size: power of two, 512..65536
    std::uint32_t physical_block_size = 0; // 0: blk_size; else a power-of-two multiple of it
    std::uint8_t alignment_offset = 0;     // in logical blocks
    std::uint16_t min_io_size = 0;         // in logical blocks
    std::uint32_t opt_io_size = 0;         // in logical blocks
    bool discard = false;
    std::uint32_t max_discard_sectors = 0x3f'ffff;
    std::uint32_t max_discard_seg = 32;    // 1..MAX_SEGMENTS
    bool write_zeroes = true;
    std::uint32_t max_write_zeroes_sectors = 0x3f'ffff;
    std::uint32_t max_write_zeroes_seg = 32;
    bool secure_erase = false;
    std::uint32_t max_secure_erase_sectors = 0x3f'ffff;
    std::uint32_t max_secure_erase_seg = 32;
    std::optional<Lifetime> lifetime; // LIFETIME offered when set; reserved values refused
    bool coalesce = true; // hold interrupts while the driver is below its depth (NotifyCoalescer)
};

// Threads: as Device. Requests are parsed on the loop thread, each range checked against the
// capacity, and handed to the backend as one or more host operations straight on the guest's
// buffers; a request completes (status byte, used entry, notification) when its last
// operation does. In-flight requests hold a DMA pin. reset() and reset_queue() wait for the
// backend to finish everything it was given before they return, and completions of requests
// from a queue that was reset meanwhile are dropped without touching guest memory.
// Used-buffer notifications go through a NotifyCoalescer per queue when there is a loop: one
// interrupt per batch while the driver keeps adding requests, at once at queue depth 1.
class BlockDevice final : public DeviceBase, private IoCompletionSink {
public:
    BlockDevice(std::unique_ptr<BlockBackend> backend, BlockOptions options);
    ~BlockDevice() override;

    // FEATURES_OK: sets the initial cache mode (virtio 1.2 §5.2.5).
    void ack_features(std::uint64_t features) noexcept override;
    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    void reset_queue(std::uint16_t queue_index) noexcept override;
    [[nodiscard]] Result<> enable_queue(Queue queue) override;

    // ---- Host side (loop thread) ----
    // Resizes the backing storage to `bytes` (a multiple of 512) and tells the driver with a
    // configuration change notification (virtio 1.2 §5.2.6.2). Returns the new capacity.
    [[nodiscard]] Result<std::uint64_t> resize(std::uint64_t bytes);
    [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }
    // A flush or write-back failed since the last reset: every FLUSH fails until then.
    [[nodiscard]] bool flush_failed() const noexcept { return flush_failed_; }
    [[nodiscard]] std::size_t requests_in_flight() const noexcept { return requests_.in_use_count(); }
    [[nodiscard]] bool writeback() const noexcept { return writeback_.load(std::memory_order_relaxed); }
    [[nodiscard]] const BlockOptions& options() const noexcept { return options_; }
    // Null before the first activation with a loop.
    [[nodiscard]] const NotifyCoalescer* coalescer(std::uint16_t queue_index) const noexcept
    {
        return queue_index < coalescers_.size() ? coalescers_[queue_index].get() : nullptr;
    }
    [[nodiscard]] BlockBackend& backend() noexcept { return *backend_; }
    // The backend's status (injected fault rules and their counters), or null.
    [[nodiscard]] nlohmann::json status() const override;

private:
    struct Request {
        std::optional<DescriptorChain> chain;
        DmaPin pin;
        std::uint16_t queue = 0;
        std::uint32_t type = 0;
        std::uint32_t pending = 0;  // host operations not completed yet
        int error = 0;              // the first failure, a negative errno
        std::uint32_t data_len = 0; // IN: bytes the read fills
        bool then_flush = false;    // commit (fdatasync) once the operations are done
    };
    struct Segment {
        std::uint64_t sector = 0;
        std::uint32_t sectors = 0;
        std::uint32_t flags = 0;
    };

    bool on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept override;
    void io_complete(std::uint64_t tag, int result) noexcept override;
    void io_batch_done() noexcept override;

    void handle(Queue& queue, DescriptorChain&& chain) noexcept;
    // Completes a chain at once with `status` after `data_len` device-written data bytes.
    void complete(Queue& queue, DescriptorChain&& chain, std::uint8_t status, std::uint32_t data_len = 0) noexcept;
    [[nodiscard]] std::uint32_t start(Queue& queue, DescriptorChain&& chain, std::uint32_t type) noexcept;
    void submit(std::uint32_t slot, IoRequest&& io) noexcept;
    void finish(std::uint32_t slot) noexcept;
    void handle_read_write(Queue& queue, DescriptorChain&& chain, std::uint32_t type, std::uint64_t sector) noexcept;
    void handle_flush(Queue& queue, DescriptorChain&& chain) noexcept;
    void handle_segments(Queue& queue, DescriptorChain&& chain, std::uint32_t type) noexcept;
    void handle_get_id(Queue& queue, DescriptorChain&& chain) noexcept;
    void handle_get_lifetime(Queue& queue, DescriptorChain&& chain) noexcept;
    [[nodiscard]] bool in_range(std::uint64_t sector, std::uint64_t sectors) const noexcept;
    // Whether a write must be committed before it completes (virtio 1.2 §5.2.6.2, stable writes).
    [[nodiscard]] bool write_through() const noexcept;
    [[nodiscard]] std::uint8_t initial_writeback() const noexcept;
    void drop_queues_and_drain() noexcept;
    // Used entries were added to queue i: notify, now or when the coalescer says.
    void signal(std::uint16_t i) noexcept;
    void hold_expired(std::uint16_t i) noexcept;

    std::unique_ptr<BlockBackend> backend_;
    BlockOptions options_;
    std::array<char, VIRTIO_BLK_ID_BYTES> id_ {};
    std::uint64_t capacity_ = 0; // sectors; loop thread
    std::atomic<bool> writeback_ { true };
    bool flush_failed_ = false;
    Interrupt* interrupt_ = nullptr;

    std::vector<std::optional<Queue>> queues_;
    std::vector<bool> touched_; // completed into since the last notification check
    std::vector<std::unique_ptr<NotifyCoalescer>> coalescers_; // per queue, with a loop
    SlotPool<Request> requests_;
};

} // namespace vmm::virtio::block
