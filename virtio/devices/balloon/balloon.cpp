// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/balloon/balloon.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <spdlog/spdlog.h>

#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::balloon {
namespace {

constexpr std::size_t role_index(BalloonDevice::Role r) noexcept
{
    return static_cast<std::size_t>(r);
}

std::uint64_t offered_features(const BalloonOptions& o) noexcept
{
    // MUST_TELL_HOST: deflated pages are only reused once the device has seen them, which
    // costs the driver nothing and keeps a later host-side use of the list possible.
    std::uint64_t f = feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX)
        | feature_bit(VIRTIO_F_RING_PACKED) | feature_bit(VIRTIO_BALLOON_F_MUST_TELL_HOST);
    f |= o.stats ? feature_bit(VIRTIO_BALLOON_F_STATS_VQ) : 0;
    f |= o.deflate_on_oom ? feature_bit(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) : 0;
    f |= o.hinting ? feature_bit(VIRTIO_BALLOON_F_FREE_PAGE_HINT) : 0;
    f |= o.poison ? feature_bit(VIRTIO_BALLOON_F_PAGE_POISON) : 0;
    f |= o.reporting ? feature_bit(VIRTIO_BALLOON_F_PAGE_REPORTING) : 0;
    return f;
}

std::vector<std::uint16_t> queue_sizes(const BalloonOptions& o)
{
    const std::size_t n = 2 + (o.stats ? 1U : 0U) + (o.hinting ? 1U : 0U) + (o.reporting ? 1U : 0U);
    return std::vector<std::uint16_t>(n, BalloonDevice::QUEUE_SIZE);
}

std::uint64_t ram_pages(const GuestMemory& m) noexcept
{
    return m.total_size() >> VIRTIO_BALLOON_PFN_SHIFT;
}

} // namespace

BalloonDevice::BalloonDevice(const GuestMemory& memory, BalloonOptions options)
    : DeviceBase(DeviceType::balloon, queue_sizes(options), offered_features(options), sizeof(VirtioBalloonConfig))
    , memory_(memory)
    , options_(options)
    , self_(std::make_shared<BalloonDevice*>(this))
{
    target_pages_ = std::min(options_.target_bytes >> VIRTIO_BALLOON_PFN_SHIFT, ram_pages(memory_));
    load_config();
}

void BalloonDevice::load_config() noexcept
{
    VirtioBalloonConfig cfg {};
    cfg.num_pages = le32(static_cast<std::uint32_t>(std::min<std::uint64_t>(target_pages_, UINT32_MAX)));
    set_config_obj(0, cfg);
}

BalloonDevice::~BalloonDevice()
{
    stats_chain_.reset();
    queues_.clear();
}

std::optional<std::uint16_t> BalloonDevice::queue_of(Role role) const noexcept
{
    return role_queue_[role_index(role)];
}

Result<> BalloonDevice::activate(ActivationContext ctx)
{
    // §5.5.2, as Linux numbers them: the queues it uses, densely, in this order.
    role_queue_ = {};
    std::uint16_t next = 0;
    const auto assign = [&](Role r, bool present) {
        if (present) {
            role_queue_[role_index(r)] = next++;
        }
    };
    assign(Role::inflate, true);
    assign(Role::deflate, true);
    assign(Role::stats, acked(VIRTIO_BALLOON_F_STATS_VQ));
    assign(Role::free_page, acked(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
    assign(Role::reporting, acked(VIRTIO_BALLOON_F_PAGE_REPORTING));
    queues_.clear();
    queues_.resize(next);
    for (auto& q : ctx.queues) {
        const std::uint16_t index = q.index();
        if (index >= next) {
            continue; // a queue no acked feature uses: never served
        }
        queues_[index].emplace(std::move(q));
    }
    for (std::uint16_t i = 0; i < next; ++i) {
        if (!queues_[i]) {
            return fail(Errc::invalid_argument, "virtio-balloon: queue {} is needed by the acked features but disabled", i);
        }
    }
    set_interrupt(&ctx.interrupt);
    if (ctx.loop != nullptr && !stats_timer_) {
        stats_timer_.emplace(ctx.loop->io());
    }
    arm_stats_timer();
    return {};
}

void BalloonDevice::reset() noexcept
{
    ++timer_generation_;
    if (stats_timer_) {
        stats_timer_->cancel();
    }
    // §2.4: nothing of the old queues is touched after a reset; the held buffer goes with them.
    stats_chain_.reset();
    queues_.clear();
    role_queue_ = {};
    hint_running_ = false;
    actual_.store(0, std::memory_order_relaxed);
    poison_val_.store(0, std::memory_order_relaxed);
    // The target stays (the API set it); the driver-written fields and the hinting round go.
    hint_cmd_id_ = VIRTIO_BALLOON_CMD_ID_STOP;
    load_config();
    reset_base();
}

bool BalloonDevice::on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    // Guest-controlled: offset and size. Only whole `actual` and `poison_val` are writable.
    std::uint32_t v = 0;
    if (in.size() != sizeof(v)) {
        return false;
    }
    std::memcpy(&v, in.data(), sizeof(v));
    if (offset == offsetof(VirtioBalloonConfig, actual)) {
        actual_.store(v, std::memory_order_relaxed);
    } else if (offset == offsetof(VirtioBalloonConfig, poison_val)) {
        poison_val_.store(v, std::memory_order_relaxed);
    } else {
        return false;
    }
    set_config(offset, in);
    return true;
}

void BalloonDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    if (queue_index >= queues_.size() || !queues_[queue_index]) {
        return; // before activation, after a reset, or a queue the features do not use
    }
    std::optional<Role> role;
    for (std::size_t r = 0; r < role_queue_.size(); ++r) {
        if (role_queue_[r] == queue_index) {
            role = static_cast<Role>(r);
        }
    }
    if (!role) {
        return;
    }
    Queue& q = *queues_[queue_index];
    do {
        q.disable_notification();
        while (auto chain = q.pop()) {
            switch (*role) {
            case Role::inflate: handle_pfns(q, std::move(*chain), true); break;
            case Role::deflate: handle_pfns(q, std::move(*chain), false); break;
            case Role::stats: handle_stats(q, std::move(*chain)); break;
            case Role::free_page: handle_free_page(q, std::move(*chain)); break;
            case Role::reporting: handle_reporting(q, std::move(*chain)); break;
            }
        }
    } while (q.enable_notification());
    q.notify_if_needed();
}

void BalloonDevice::bad_request(const char* what) noexcept
{
    ++counters_.bad_requests;
    VMM_LOG_GUEST(spdlog::level::warn, "virtio-balloon: {}", what);
}

void BalloonDevice::handle_pfns(Queue& q, DescriptorChain&& chain, bool inflate) noexcept
{
    // §5.5.6: an array of le32 page frame numbers, 4 KiB each. Guest-controlled: every number.
    Reader& r = chain.reader();
    if (r.available() % sizeof(std::uint32_t) != 0 || chain.writer().available() != 0) {
        bad_request("inflate/deflate buffer is not an array of 32-bit page numbers; the whole entries are used");
    }
    std::array<std::uint32_t, 256> pfns {};
    // The run of pages adjacent on the host that goes back in one call, and where its region ends.
    const std::byte* run = nullptr;
    std::uint64_t run_len = 0;
    const std::byte* region_end = nullptr;
    while (r.available() >= sizeof(std::uint32_t)) {
        const std::size_t n = std::min(pfns.size(), r.available() / sizeof(std::uint32_t));
        if (!r.read(std::as_writable_bytes(std::span(pfns.data(), n)))) {
            break;
        }
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t pfn = pfns[i];
            const std::byte* host
                = memory_.host_ptr(GuestAddress { pfn << VIRTIO_BALLOON_PFN_SHIFT }, VIRTIO_BALLOON_PAGE_SIZE);
            if (host == nullptr) {
                ++counters_.bad_pfns;
                VMM_LOG_GUEST(spdlog::level::warn, "virtio-balloon: page frame {:#x} is not guest RAM; ignored", pfn);
                continue;
            }
            if (!inflate) {
                ++counters_.deflated_pages; // back on demand: nothing to do (§5.5.6.1)
                continue;
            }
            ++counters_.inflated_pages;
            if (run != nullptr && host == run + run_len && host < region_end) {
                run_len += VIRTIO_BALLOON_PAGE_SIZE;
                continue;
            }
            if (run != nullptr) {
                discard_inflated(run, run_len);
            }
            // Invariant: host_ptr() found the page in a region, so region_of() does too.
            const MemoryRegion* region = memory_.region_of(host, VIRTIO_BALLOON_PAGE_SIZE);
            region_end = region->host() + region->size();
            run = host;
            run_len = VIRTIO_BALLOON_PAGE_SIZE;
        }
    }
    if (run != nullptr) {
        discard_inflated(run, run_len);
    }
    q.add_used(std::move(chain), 0);
}

void BalloonDevice::discard_inflated(const std::byte* host, std::uint64_t len) noexcept
{
    if (auto ok = memory_.discard(host, len); ok) {
        counters_.released_bytes += len;
    } else {
        // Huge-page RAM cannot give back 4 KiB pages: the balloon still holds them for the guest.
        counters_.kept_bytes += len;
        VMM_LOG_GUEST(spdlog::level::debug, "virtio-balloon: {}", ok.error().describe());
    }
}

bool BalloonDevice::give_back_free_pages(DescriptorChain& chain, std::uint64_t& counter) noexcept
{
    Writer& w = chain.writer();
    if (chain.reader().available() != 0 || w.available() == 0) {
        return false;
    }
    const bool keep = acked(VIRTIO_BALLOON_F_PAGE_POISON) && poison_val_.load(std::memory_order_relaxed) != 0;
    for (const iovec& v : w.iovecs(w.available())) {
        const auto* host = static_cast<const std::byte*>(v.iov_base);
        counter += v.iov_len;
        // A page the guest poisoned must read back its pattern (§5.5.6.6): left in place.
        if (keep) {
            counters_.kept_bytes += v.iov_len;
            continue;
        }
        if (auto ok = memory_.discard(host, v.iov_len); ok) {
            counters_.released_bytes += v.iov_len;
        } else {
            counters_.kept_bytes += v.iov_len;
            VMM_LOG_GUEST(spdlog::level::debug, "virtio-balloon: free pages kept: {}", ok.error().describe());
        }
    }
    return true;
}

void BalloonDevice::handle_reporting(Queue& q, DescriptorChain&& chain) noexcept
{
    // §5.5.6.7: device-writable buffers, each a run of free pages; returned once acted on.
    if (!give_back_free_pages(chain, counters_.reported_bytes)) {
        bad_request("free page report is not a device-writable buffer; returned untouched");
    }
    q.add_used(std::move(chain), 0);
}

void BalloonDevice::handle_free_page(Queue& q, DescriptorChain&& chain) noexcept
{
    // §5.5.6.4: a 4-byte device-readable buffer is a command id from the driver; a
    // device-writable one is a hint.
    if (chain.reader().available() != 0) {
        auto id = chain.reader().read_obj<le32>();
        if (!id || chain.writer().available() != 0) {
            bad_request("free page hinting command is not a 4-byte id alone");
        } else if (id->get() == VIRTIO_BALLOON_CMD_ID_STOP) {
            // The driver ran out of free pages or saw our STOP. What it hinted is already
            // given back: DONE lets it reuse those pages now.
            hint_running_ = false;
            set_hint_cmd_id(VIRTIO_BALLOON_CMD_ID_DONE);
        } else if (id->get() == hint_cmd_id_ && hint_cmd_id_ >= VIRTIO_BALLOON_CMD_ID_MIN) {
            hint_running_ = true;
        } else {
            ++counters_.stale_hints; // an id of an earlier round
        }
        q.add_used(std::move(chain), 0);
        return;
    }
    if (!hint_running_) {
        ++counters_.stale_hints; // §5.5.6.4: hints of a stale round are ignored
    } else if (!give_back_free_pages(chain, counters_.hinted_bytes)) {
        bad_request("free page hint is not a device-writable buffer; ignored");
    }
    q.add_used(std::move(chain), 0);
}

void BalloonDevice::handle_stats(Queue& q, DescriptorChain&& chain) noexcept
{
    // §5.5.6.3: packed {le16 tag; le64 val} entries. The buffer stays with the device until it
    // wants fresh numbers; a driver that sends another meanwhile gets the older one back.
    if (stats_chain_) {
        q.add_used(std::move(*stats_chain_), 0);
        stats_chain_.reset();
    }
    Reader& r = chain.reader();
    last_stats_.clear();
    std::array<std::byte, VIRTIO_BALLOON_STAT_SIZE> e {};
    while (r.available() >= e.size() && last_stats_.size() < 64) {
        if (!r.read(e)) {
            break;
        }
        std::uint16_t tag = 0;
        std::uint64_t val = 0;
        std::memcpy(&tag, e.data(), sizeof(tag));
        std::memcpy(&val, e.data() + sizeof(tag), sizeof(val));
        last_stats_.emplace_back(tag, val);
    }
    if (r.available() != 0) {
        bad_request("statistics buffer is not whole 10-byte entries, or has more than 64; the first whole ones are kept");
    }
    last_stats_at_ = std::chrono::steady_clock::now();
    ++counters_.stats_updates;
    stats_chain_.emplace(std::move(chain));
}

Result<> BalloonDevice::request_stats()
{
    const auto index = queue_of(Role::stats);
    if (!index || *index >= queues_.size() || !queues_[*index]) {
        return fail(Errc::unsupported, "the driver has no statistics queue (not started, or STATS_VQ not acked)");
    }
    if (!stats_chain_) {
        return {}; // the driver holds the buffer: fresh numbers are on their way
    }
    Queue& q = *queues_[*index];
    if (q.owns(*stats_chain_)) {
        q.add_used(std::move(*stats_chain_), 0);
        q.notify_if_needed();
    }
    stats_chain_.reset();
    return {};
}

void BalloonDevice::arm_stats_timer() noexcept
{
    if (!stats_timer_ || options_.stats_interval.count() == 0) {
        return;
    }
    stats_timer_->expires_after(options_.stats_interval);
    stats_timer_->async_wait(
        [weak = std::weak_ptr<BalloonDevice*>(self_), gen = timer_generation_](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (ec || !self || (*self)->timer_generation_ != gen) {
                return; // cancelled, or the device was reset or destroyed since
            }
            (void)(*self)->request_stats();
            (*self)->arm_stats_timer();
        });
}

Result<> BalloonDevice::set_target(std::uint64_t bytes)
{
    const std::uint64_t pages = bytes >> VIRTIO_BALLOON_PFN_SHIFT;
    if (pages > ram_pages(memory_)) {
        return fail(Errc::invalid_argument, "balloon size {} bytes is more than the guest's {} bytes of RAM", bytes,
            memory_.total_size());
    }
    target_pages_ = pages;
    // §5.5.6: num_pages is the device's request; the change notification tells the driver.
    update_config_obj(offsetof(VirtioBalloonConfig, num_pages), le32(static_cast<std::uint32_t>(pages)));
    return {};
}

void BalloonDevice::set_hint_cmd_id(std::uint32_t id) noexcept
{
    hint_cmd_id_ = id;
    update_config_obj(offsetof(VirtioBalloonConfig, free_page_hint_cmd_id), le32(id));
}

Result<std::uint32_t> BalloonDevice::start_hinting()
{
    if (!queue_of(Role::free_page) || queues_.empty()) {
        return fail(Errc::unsupported, "free page hinting is not in use (not started, or FREE_PAGE_HINT not acked)");
    }
    // §5.5.6.4: a new round gets an id not used since the last STOP: ids count up from 2.
    const std::uint32_t id = next_cmd_id_;
    next_cmd_id_ = id == UINT32_MAX ? VIRTIO_BALLOON_CMD_ID_MIN : id + 1;
    hint_running_ = false;
    set_hint_cmd_id(id);
    return id;
}

Result<> BalloonDevice::stop_hinting()
{
    if (!queue_of(Role::free_page) || queues_.empty()) {
        return fail(Errc::unsupported, "free page hinting is not in use (not started, or FREE_PAGE_HINT not acked)");
    }
    // The driver answers with its STOP, and then gets DONE (handle_free_page).
    set_hint_cmd_id(VIRTIO_BALLOON_CMD_ID_STOP);
    return {};
}

nlohmann::json BalloonDevice::stats() const
{
    nlohmann::json values = nlohmann::json::object();
    for (const auto& [tag, val] : last_stats_) {
        const std::string name = tag < VIRTIO_BALLOON_STAT_NAMES.size() ? std::string(VIRTIO_BALLOON_STAT_NAMES[tag])
                                                                         : fmt::format("tag_{}", tag);
        values[name] = val;
    }
    nlohmann::json out = {
        { "target_bytes", target_pages_ << VIRTIO_BALLOON_PFN_SHIFT },
        { "actual_bytes", std::uint64_t { actual_pages() } << VIRTIO_BALLOON_PFN_SHIFT },
        { "released_bytes", counters_.released_bytes },
        { "updates", counters_.stats_updates },
        { "stats", std::move(values) },
    };
    if (last_stats_at_) {
        out["age_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - *last_stats_at_)
                            .count();
    }
    return out;
}

nlohmann::json BalloonDevice::status() const
{
    return {
        { "target_bytes", target_pages_ << VIRTIO_BALLOON_PFN_SHIFT },
        { "actual_bytes", std::uint64_t { actual_pages() } << VIRTIO_BALLOON_PFN_SHIFT },
        { "released_bytes", counters_.released_bytes },
        { "inflated_pages", counters_.inflated_pages },
        { "deflated_pages", counters_.deflated_pages },
        { "reported_bytes", counters_.reported_bytes },
        { "hinted_bytes", counters_.hinted_bytes },
        { "kept_bytes", counters_.kept_bytes },
        { "bad_pfns", counters_.bad_pfns },
        { "bad_requests", counters_.bad_requests },
        { "stale_hints", counters_.stale_hints },
        { "stats_updates", counters_.stats_updates },
        { "hint_cmd_id", hint_cmd_id_ },
        { "poison_val", poison_val_.load(std::memory_order_relaxed) },
    };
}

} // namespace vmm::virtio::balloon
