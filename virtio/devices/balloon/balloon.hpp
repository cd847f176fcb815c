// SPDX-License-Identifier: Apache-2.0
// BalloonDevice: virtio-balloon (virtio 1.2 §5.5), memory the guest gives back to the host.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "virtio/device_base.hpp"
#include "virtio/spec/balloon.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio::balloon {

struct BalloonOptions {
    std::uint64_t target_bytes = 0; // the balloon's size when the driver starts
    bool deflate_on_oom = false;
    bool stats = true;
    bool hinting = false;
    bool reporting = false;
    bool poison = true; // offer PAGE_POISON (Linux then keeps REPORTING when it poisons)
    std::chrono::seconds stats_interval { 0 }; // 0: statistics only when asked for
};

// Inflated pages, reported free pages and hinted free pages are discarded from the host
// (GuestMemory::discard: MADV_DONTNEED, or a hole punched in a memfd); deflated pages come
// back on demand, zero-filled. Page frame numbers from the guest are guest-physical (§5.5.6:
// not addresses the IOMMU translates) and are checked against RAM; buffers on the reporting
// and hinting queues are ordinary DMA buffers, resolved by the queue.
//
// Queue roles follow the negotiated features: Linux numbers only the queues it uses, so
// without FREE_PAGE_HINT the reporting queue is queue 3, not 4 (the fixed indices of §5.5.2
// hold only when every feature is negotiated).
//
// With PAGE_POISON and a non-zero poison_val, free pages the guest reports or hints hold the
// guest's poison pattern, which it checks when it allocates them again: they are left as they
// are (a discarded page would read back zeroes), and counted as kept.
//
// Threads: as Device. `actual` and `poison_val` are written by the driver on vCPU threads
// (on_config_write); the rest runs on the loop thread, the API calls included.
class BalloonDevice final : public DeviceBase {
public:
    static constexpr std::uint16_t QUEUE_SIZE = 128;
    enum class Role : std::uint8_t { inflate, deflate, stats, free_page, reporting };

    BalloonDevice(const GuestMemory& memory, BalloonOptions options);
    ~BalloonDevice() override;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    [[nodiscard]] nlohmann::json status() const override;
    // Linux's driver declines VIRTIO_F_ACCESS_PLATFORM (virtballoon_validate): behind the IOMMU
    // its queues then use guest-physical addresses, as its page frame numbers always do.
    [[nodiscard]] bool physical_dma_allowed() const noexcept override { return true; }

    // The API. The target is rounded down to whole 4 KiB pages and limited to guest RAM.
    [[nodiscard]] Result<> set_target(std::uint64_t bytes);
    // Hands the held statistics buffer back, so that the driver refills it (§5.5.6.3).
    [[nodiscard]] Result<> request_stats();
    // A new hinting round with a fresh command id; stop ends it early (§5.5.6.4).
    [[nodiscard]] Result<std::uint32_t> start_hinting();
    [[nodiscard]] Result<> stop_hinting();
    [[nodiscard]] nlohmann::json stats() const;

    [[nodiscard]] std::uint64_t target_pages() const noexcept { return target_pages_; }
    [[nodiscard]] std::uint32_t actual_pages() const noexcept { return actual_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t released_bytes() const noexcept { return counters_.released_bytes; }
    [[nodiscard]] std::optional<std::uint16_t> queue_of(Role role) const noexcept;

    struct Counters {
        std::uint64_t inflated_pages = 0;
        std::uint64_t deflated_pages = 0;
        std::uint64_t released_bytes = 0; // given back to the host by inflating, reporting or hinting
        std::uint64_t reported_bytes = 0;
        std::uint64_t hinted_bytes = 0;
        std::uint64_t kept_bytes = 0; // reported or hinted but not discarded (poison, huge pages)
        std::uint64_t bad_pfns = 0;   // outside RAM
        std::uint64_t bad_requests = 0;
        std::uint64_t stats_updates = 0;
        std::uint64_t stale_hints = 0;
    };
    [[nodiscard]] const Counters& counters() const noexcept { return counters_; }

protected:
    bool on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept override;

private:
    void handle_pfns(Queue& q, DescriptorChain&& chain, bool inflate) noexcept;
    void handle_stats(Queue& q, DescriptorChain&& chain) noexcept;
    void handle_free_page(Queue& q, DescriptorChain&& chain) noexcept;
    void handle_reporting(Queue& q, DescriptorChain&& chain) noexcept;
    // Discards the host pages behind a device-writable buffer of free pages; false when the
    // buffer is not whole pages of RAM.
    bool give_back_free_pages(DescriptorChain& chain, std::uint64_t& counter) noexcept;
    // Gives back inflated pages: `len` bytes at `host`, inside one RAM region.
    void discard_inflated(const std::byte* host, std::uint64_t len) noexcept;
    // The configuration a driver finds at start: the target, and nothing of its own yet.
    void load_config() noexcept;
    void bad_request(const char* what) noexcept;
    void set_hint_cmd_id(std::uint32_t id) noexcept;
    void arm_stats_timer() noexcept;

    const GuestMemory& memory_;
    BalloonOptions options_;
    std::vector<std::optional<Queue>> queues_; // by queue index
    std::array<std::optional<std::uint16_t>, 5> role_queue_ {};
    std::uint64_t target_pages_ = 0;
    std::atomic<std::uint32_t> actual_ { 0 };
    std::atomic<std::uint32_t> poison_val_ { 0 };

    std::optional<DescriptorChain> stats_chain_; // held until the device wants fresh numbers
    std::vector<std::pair<std::uint16_t, std::uint64_t>> last_stats_;
    std::optional<std::chrono::steady_clock::time_point> last_stats_at_;

    std::uint32_t hint_cmd_id_ = VIRTIO_BALLOON_CMD_ID_STOP;
    std::uint32_t next_cmd_id_ = VIRTIO_BALLOON_CMD_ID_MIN;
    bool hint_running_ = false; // the driver acknowledged hint_cmd_id_ and sends hints

    Counters counters_;
    std::optional<boost::asio::steady_timer> stats_timer_;
    std::uint64_t timer_generation_ = 0;
    std::shared_ptr<BalloonDevice*> self_;
};

} // namespace vmm::virtio::balloon
