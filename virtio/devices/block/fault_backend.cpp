// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/block/fault_backend.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

#include "virtio/devices/params.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::block {

namespace {

constexpr std::array<std::string_view, 7> RULE_KEYS { "op", "first_sector", "last_sector", "every", "count", "error",
    "latency_ms" };
constexpr std::array<std::string_view, 6> OP_NAMES { "any", "read", "write", "flush", "discard", "write_zeroes" };
constexpr std::array<std::string_view, 2> ERROR_NAMES { "eio", "enospc" };
constexpr std::array<int, 2> ERRORS { -EIO, -ENOSPC };
constexpr std::uint64_t MAX_LATENCY_MS = 60'000;

BlockFault::Op op_of(IoOp op) noexcept
{
    switch (op) {
    case IoOp::read: return BlockFault::Op::read;
    case IoOp::write: return BlockFault::Op::write;
    case IoOp::flush: return BlockFault::Op::flush;
    case IoOp::discard: return BlockFault::Op::discard;
    case IoOp::write_zeroes:
    case IoOp::zero_fill: return BlockFault::Op::write_zeroes;
    }
    return BlockFault::Op::any;
}

bool matches(const BlockFault& f, const IoRequest& r) noexcept
{
    if (f.op != BlockFault::Op::any && f.op != op_of(r.op)) {
        return false;
    }
    if (r.op == IoOp::flush) {
        return true;
    }
    const std::uint64_t first = r.offset / 512;
    const std::uint64_t last = r.length == 0 ? first : (r.offset + r.length - 1) / 512;
    return first <= f.last_sector && last >= f.first_sector;
}

} // namespace

Result<std::vector<BlockFault>> parse_block_faults(const nlohmann::json& v, std::string_view where)
{
    std::vector<BlockFault> out;
    const auto elements = VMM_TRY(params::object_array(v, where, FaultBackend::MAX_RULES, RULE_KEYS));
    for (const auto& [obj, at] : elements) {
        const nlohmann::json& o = *obj;
        BlockFault f;
        if (const auto* op = params::find(o, "op")) {
            f.op = static_cast<BlockFault::Op>(VMM_TRY(params::as_choice(*op, params::join(at, "op"), OP_NAMES)));
        }
        if (const auto* s = params::find(o, "first_sector")) {
            f.first_sector = VMM_TRY(params::as_uint(*s, params::join(at, "first_sector"), 0, UINT64_MAX));
        }
        if (const auto* s = params::find(o, "last_sector")) {
            f.last_sector = VMM_TRY(params::as_uint(*s, params::join(at, "last_sector"), 0, UINT64_MAX));
        }
        if (f.last_sector < f.first_sector) {
            return fail(Errc::invalid_argument, "{}: last_sector {} is below first_sector {}", at, f.last_sector,
                f.first_sector);
        }
        if (const auto* e = params::find(o, "every")) {
            f.every = VMM_TRY(params::as_uint(*e, params::join(at, "every"), 1, UINT32_MAX));
        }
        if (const auto* c = params::find(o, "count")) {
            f.count = VMM_TRY(params::as_uint(*c, params::join(at, "count"), 0, UINT64_MAX));
        }
        if (const auto* e = params::find(o, "error")) {
            f.error = ERRORS[VMM_TRY(params::as_choice(*e, params::join(at, "error"), ERROR_NAMES))];
        }
        if (const auto* l = params::find(o, "latency_ms")) {
            f.latency = std::chrono::milliseconds(
                VMM_TRY(params::as_uint(*l, params::join(at, "latency_ms"), 0, MAX_LATENCY_MS)));
        }
        if (f.error == 0 && f.latency.count() == 0) {
            return fail(Errc::invalid_argument, "{}: the rule does nothing; give it \"error\" (eio or enospc) or "
                "\"latency_ms\"", at);
        }
        out.push_back(f);
    }
    return out;
}

nlohmann::json faults_json(const std::vector<BlockFault>& faults)
{
    nlohmann::json out = nlohmann::json::array();
    for (const auto& f : faults) {
        nlohmann::json j = { { "op", OP_NAMES[static_cast<std::size_t>(f.op)] }, { "first_sector", f.first_sector },
            { "last_sector", f.last_sector }, { "every", f.every }, { "count", f.count }, { "matched", f.matched },
            { "fired", f.fired } };
        if (f.error != 0) {
            j["error"] = f.error == -EIO ? "eio" : "enospc";
        }
        if (f.latency.count() > 0) {
            j["latency_ms"] = f.latency.count();
        }
        out.push_back(std::move(j));
    }
    return out;
}

FaultBackend::FaultBackend(std::unique_ptr<BlockBackend> inner, EventLoop* loop)
    : inner_(std::move(inner))
    , loop_(loop)
{
    inner_->set_sink(this);
    if (loop_ != nullptr) {
        timer_.emplace(loop_->io());
    }
}

FaultBackend::~FaultBackend()
{
    *alive_ = false;
}

Result<> FaultBackend::set_faults(std::vector<BlockFault> faults)
{
    if (faults.size() > MAX_RULES) {
        return fail(Errc::out_of_range, "{} fault rules; at most {}", faults.size(), MAX_RULES);
    }
    for (const auto& f : faults) {
        if (f.latency.count() > 0 && loop_ == nullptr) {
            return fail(Errc::unsupported, "latency rules need the event loop");
        }
    }
    faults_ = std::move(faults);
    for (auto& f : faults_) {
        f.matched = 0;
        f.fired = 0;
    }
    return {};
}

BlockFault* FaultBackend::fire(const IoRequest& request) noexcept
{
    for (auto& f : faults_) {
        if (!matches(f, request)) {
            continue;
        }
        ++f.matched;
        if (f.matched % f.every != 0 || (f.count != 0 && f.fired >= f.count)) {
            continue;
        }
        ++f.fired;
        return &f;
    }
    return nullptr;
}

void FaultBackend::submit(IoRequest&& request) noexcept
{
    BlockFault* f = faults_.empty() ? nullptr : fire(request);
    if (f == nullptr) {
        inner_->submit(std::move(request));
        return;
    }
    if (f->latency.count() == 0) {
        failed_.emplace_back(request.tag, f->error);
        return;
    }
    const auto due = std::chrono::steady_clock::now() + f->latency;
    // Keep due order: a later request of a shorter rule goes in front of longer waits.
    auto at = std::find_if(delayed_.begin(), delayed_.end(), [&](const Delayed& d) { return d.due > due; });
    delayed_.insert(at, Delayed { due, std::move(request), f->error });
    arm_timer();
}

void FaultBackend::flush_submissions() noexcept
{
    inner_->flush_submissions();
    deliver_failed();
}

// Failed requests complete on the loop, after the batch they came in, as a host error would.
void FaultBackend::deliver_failed() noexcept
{
    if (sink_ == nullptr) {
        return;
    }
    bool any = false;
    while (!failed_.empty()) {
        auto batch = std::exchange(failed_, {});
        for (const auto& [tag, error] : batch) {
            sink_->io_complete(tag, error); // may submit again, into failed_
            any = true;
        }
        inner_->flush_submissions();
    }
    if (any) {
        sink_->io_batch_done();
    }
}

void FaultBackend::release_due(bool all) noexcept
{
    const auto now = std::chrono::steady_clock::now();
    bool submitted = false;
    while (!delayed_.empty() && (all || delayed_.front().due <= now)) {
        Delayed d = std::move(delayed_.front());
        delayed_.pop_front();
        if (d.error != 0) {
            failed_.emplace_back(d.request.tag, d.error);
        } else {
            inner_->submit(std::move(d.request));
            submitted = true;
        }
    }
    if (submitted) {
        inner_->flush_submissions();
    }
    deliver_failed();
}

void FaultBackend::arm_timer() noexcept
{
    if (!timer_ || delayed_.empty()) {
        return;
    }
    timer_->expires_at(delayed_.front().due);
    timer_->async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        if (ec || alive.expired()) {
            return;
        }
        release_due(false);
        arm_timer();
    });
}

void FaultBackend::drain() noexcept
{
    // Held requests go on (or fail) now; what their completions submit goes round again.
    do {
        release_due(true);
        inner_->drain();
    } while (!delayed_.empty() || !failed_.empty());
    if (timer_) {
        timer_->cancel();
    }
}

nlohmann::json FaultBackend::status() const
{
    return faults_.empty() ? nlohmann::json(nullptr) : nlohmann::json { { "faults", faults_json(faults_) } };
}

void FaultBackend::io_complete(std::uint64_t tag, int result) noexcept
{
    if (sink_ != nullptr) {
        sink_->io_complete(tag, result);
    }
}

void FaultBackend::io_batch_done() noexcept
{
    if (sink_ != nullptr) {
        sink_->io_batch_done();
    }
}

} // namespace vmm::virtio::block
