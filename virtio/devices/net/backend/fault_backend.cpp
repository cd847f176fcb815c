// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/net/backend/fault_backend.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "virtio/devices/params.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::net {

namespace {

constexpr std::array<std::string_view, 6> KEYS { "direction", "action", "rate", "every", "count", "ms" };
constexpr std::array<std::string_view, 3> DIRECTIONS { "tx", "rx", "both" };
constexpr std::array<std::string_view, 5> ACTIONS { "drop", "corrupt", "duplicate", "delay", "reorder" };
constexpr std::array<std::string_view, 2> LINK_FLAP_KEYS { "down_ms", "up_ms" };

std::size_t total(std::span<const iovec> iov) noexcept
{
    std::size_t n = 0;
    for (const auto& v : iov) {
        n += v.iov_len;
    }
    return n;
}

// Copies up to `limit` bytes of `iov` into `out`.
void gather(std::span<const iovec> iov, std::size_t limit, std::vector<std::uint8_t>& out)
{
    out.clear();
    for (const auto& v : iov) {
        const std::size_t n = std::min(v.iov_len, limit - out.size());
        const auto* p = static_cast<const std::uint8_t*>(v.iov_base);
        out.insert(out.end(), p, p + n);
        if (out.size() == limit) {
            break;
        }
    }
}

} // namespace

Result<std::vector<NetFault>> parse_net_faults(const nlohmann::json& v, std::string_view where)
{
    std::vector<NetFault> out;
    const auto elements = VMM_TRY(params::object_array(v, where, FaultNetBackend::MAX_RULES, KEYS));
    for (const auto& [obj, at] : elements) {
        const nlohmann::json& o = *obj;
        NetFault f;
        const auto* action = params::find(o, "action");
        if (action == nullptr) {
            return fail(Errc::invalid_argument,
                "{}: \"action\" is required: drop, corrupt, duplicate, delay or reorder", at);
        }
        f.action = static_cast<NetFault::Action>(VMM_TRY(params::as_choice(*action, params::join(at, "action"), ACTIONS)));
        if (const auto* d = params::find(o, "direction")) {
            f.direction
                = static_cast<NetFault::Direction>(VMM_TRY(params::as_choice(*d, params::join(at, "direction"), DIRECTIONS)));
        }
        if (const auto* r = params::find(o, "rate")) {
            if (!r->is_number() || r->get<double>() < 0 || r->get<double>() > 1) {
                return fail(Errc::invalid_argument, "{}: expected a number from 0 to 1", params::join(at, "rate"));
            }
            f.rate = r->get<double>();
        }
        if (const auto* e = params::find(o, "every")) {
            f.every = VMM_TRY(params::as_uint(*e, params::join(at, "every"), 1, UINT32_MAX));
        }
        if (const auto* c = params::find(o, "count")) {
            f.count = VMM_TRY(params::as_uint(*c, params::join(at, "count"), 0, UINT64_MAX));
        }
        const auto* ms = params::find(o, "ms");
        if (f.action == NetFault::Action::delay) {
            if (ms == nullptr) {
                return fail(
                    Errc::invalid_argument, "{}: a delay needs \"ms\": 1 to {}", at, FaultNetBackend::MAX_FAULT_MS);
            }
            const auto n = VMM_TRY(params::as_uint(*ms, params::join(at, "ms"), 1, FaultNetBackend::MAX_FAULT_MS));
            f.delay = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(n));
        } else if (ms != nullptr) {
            return fail(Errc::invalid_argument, "{}: only a delay takes \"ms\", not {}", params::join(at, "ms"),
                ACTIONS[static_cast<std::size_t>(f.action)]);
        }
        out.push_back(f);
    }
    return out;
}

nlohmann::json net_faults_json(const std::vector<NetFault>& faults, std::uint64_t seed)
{
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& f : faults) {
        nlohmann::json rule { { "direction", DIRECTIONS[static_cast<std::size_t>(f.direction)] },
            { "action", ACTIONS[static_cast<std::size_t>(f.action)] }, { "rate", f.rate }, { "every", f.every },
            { "count", f.count }, { "seen", f.seen }, { "hit", f.hit } };
        if (f.action == NetFault::Action::delay) {
            rule["ms"] = f.delay.count();
        }
        rules.push_back(std::move(rule));
    }
    return { { "seed", seed }, { "rules", std::move(rules) } };
}

Result<LinkFlap> parse_link_flap(const nlohmann::json& v, std::string_view where)
{
    if (!v.is_object()) {
        return fail(Errc::invalid_argument, "{}: expected an object {{\"down_ms\": N, \"up_ms\": M}}, got {}", where,
            v.type_name());
    }
    VMM_TRY(params::check_keys(v, where, LINK_FLAP_KEYS));
    std::array<std::uint64_t, 2> ms {};
    for (std::size_t i = 0; i < LINK_FLAP_KEYS.size(); ++i) {
        const auto* n = params::find(v, LINK_FLAP_KEYS[i]);
        if (n == nullptr) {
            return fail(Errc::invalid_argument, "{}: \"down_ms\" and \"up_ms\" are both required; \"{}\" is missing",
                where, LINK_FLAP_KEYS[i]);
        }
        ms[i] = VMM_TRY(params::as_uint(*n, params::join(where, LINK_FLAP_KEYS[i]), 0, FaultNetBackend::MAX_FAULT_MS));
    }
    if ((ms[0] == 0) != (ms[1] == 0)) {
        return fail(Errc::invalid_argument, "{}: down_ms {} and up_ms {}: both 0 (no flapping) or both 1 to {}",
            where, ms[0], ms[1], FaultNetBackend::MAX_FAULT_MS);
    }
    using Rep = std::chrono::milliseconds::rep;
    return LinkFlap { std::chrono::milliseconds(static_cast<Rep>(ms[0])),
        std::chrono::milliseconds(static_cast<Rep>(ms[1])) };
}

nlohmann::json link_flap_json(const LinkFlap& flap)
{
    return { { "down_ms", flap.down.count() }, { "up_ms", flap.up.count() } };
}

FaultNetBackend::FaultNetBackend(std::unique_ptr<NetBackend> inner, EventLoop* loop, std::uint64_t seed)
    : inner_(std::move(inner))
    , loop_(loop)
    , seed_(seed)
    , random_(seed)
    , again_(inner_->queues())
    , held_tx_(inner_->queues())
    , held_rx_(inner_->queues())
    , rx_waiter_(inner_->queues())
    , inner_armed_(inner_->queues(), false)
    , link_reported_(inner_->link_up())
{
    if (loop_ != nullptr) {
        for (auto* side : { &held_tx_, &held_rx_ }) {
            for (auto& h : *side) {
                h.timer.emplace(loop_->io());
            }
        }
        flap_timer_.emplace(loop_->io());
    }
    // The host's link changes reach the device through here, merged with this side's.
    inner_->on_link_change([this, alive = std::weak_ptr<bool>(alive_)](bool /*up*/) {
        if (alive.expired()) {
            return;
        }
        // A host that came back has forgotten its watches.
        std::fill(inner_armed_.begin(), inner_armed_.end(), false);
        update_link();
    });
}

FaultNetBackend::~FaultNetBackend()
{
    // Handlers already queued see alive_ gone; the pending waits end now.
    *alive_ = false;
    for (auto* side : { &held_tx_, &held_rx_ }) {
        for (auto& h : *side) {
            if (h.timer) {
                h.timer->cancel();
            }
        }
    }
    if (flap_timer_) {
        flap_timer_->cancel();
    }
}

Result<> FaultNetBackend::set_faults(std::vector<NetFault> faults, std::uint64_t seed)
{
    if (faults.size() > MAX_RULES) {
        return fail(Errc::out_of_range, "{} net fault rules; at most {}", faults.size(), MAX_RULES);
    }
    for (const auto& f : faults) {
        const bool holds = f.action == NetFault::Action::delay || f.action == NetFault::Action::reorder;
        if (holds && loop_ == nullptr) {
            return fail(Errc::unsupported, "net delay and reorder rules need the event loop");
        }
        const auto ms = f.delay.count();
        if (f.action == NetFault::Action::delay && (ms < 1 || static_cast<std::uint64_t>(ms) > MAX_FAULT_MS)) {
            return fail(Errc::out_of_range, "a net delay of {} ms; expected 1 to {}", ms, MAX_FAULT_MS);
        }
    }
    // What the old rules hold is not lost with them.
    release_all();
    faults_ = std::move(faults);
    for (auto& f : faults_) {
        f.seen = f.hit = 0;
    }
    seed_ = seed;
    random_.seed(seed);
    return {};
}

NetFault* FaultNetBackend::pick(bool tx) noexcept
{
    for (auto& f : faults_) {
        const bool applies = f.direction == NetFault::Direction::both
            || (tx ? f.direction == NetFault::Direction::tx : f.direction == NetFault::Direction::rx);
        if (!applies || (f.count != 0 && f.hit >= f.count)) {
            continue;
        }
        // Drawn for every frame a rule sees, whatever it decides: the sequence depends only on
        // the seed and the frames.
        const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
        if (draw >= f.rate) {
            continue;
        }
        ++f.seen;
        if (f.seen % f.every != 0) {
            continue;
        }
        ++f.hit;
        return &f;
    }
    return nullptr;
}

// Flips one bit of the frame's last byte: past every header, so the damage is to the payload,
// which only a checksum can catch.
void FaultNetBackend::corrupt(std::span<const iovec> iov, std::size_t bytes) noexcept
{
    std::size_t at = bytes == 0 ? 0 : bytes - 1;
    for (const auto& v : iov) {
        if (at < v.iov_len) {
            static_cast<std::uint8_t*>(v.iov_base)[at] ^= 0x01;
            return;
        }
        at -= v.iov_len;
    }
}

IoResult FaultNetBackend::copy_out(std::span<const std::uint8_t> frame, std::span<const iovec> iov) noexcept
{
    // A frame larger than the buffers is cut, and its full length says so (NetBackend::receive).
    std::size_t off = 0;
    for (const auto& v : iov) {
        const std::size_t n = std::min(v.iov_len, frame.size() - off);
        std::memcpy(v.iov_base, frame.data() + off, n);
        off += n;
        if (off == frame.size()) {
            break;
        }
    }
    return IoResult { IoResult::Status::done, frame.size(), 0 };
}

IoResult FaultNetBackend::send(std::size_t queue, std::span<const iovec> iov) noexcept
{
    if (fault_down()) {
        // A pulled cable: the frame leaves the guest and goes nowhere.
        ++counters_.link_down_drops;
        return IoResult { IoResult::Status::done, total(iov), 0 };
    }
    const bool tracked = queue < held_tx_.size();
    if (tracked && !held_tx_[queue].frames.empty()) {
        // Held frames that are due go first; if the host has no room for them, none for this one.
        release_tx(queue);
        const auto& frames = held_tx_[queue].frames;
        if (!frames.empty() && frames.front().due <= Clock::now()) {
            return IoResult { IoResult::Status::again, 0, 0 };
        }
    }
    NetFault* f = faults_.empty() ? nullptr : pick(true);
    IoResult r;
    if (f == nullptr) {
        r = inner_->send(queue, iov);
    } else {
        switch (f->action) {
        case NetFault::Action::drop:
            return IoResult { IoResult::Status::done, total(iov), 0 }; // "sent"; lost on the way
        case NetFault::Action::corrupt: {
            // The guest's buffers are not ours to change: a copy goes out damaged.
            std::vector<std::uint8_t> copy;
            gather(iov, MAX_FRAME, copy);
            const iovec one { copy.data(), copy.size() };
            corrupt(std::span(&one, 1), copy.size());
            r = inner_->send(queue, std::span(&one, 1));
            break;
        }
        case NetFault::Action::duplicate:
            r = inner_->send(queue, iov);
            if (r.status == IoResult::Status::done) {
                (void)inner_->send(queue, iov); // a second copy, if the host takes it
            }
            break;
        case NetFault::Action::delay:
        case NetFault::Action::reorder:
            if (!tracked) {
                r = inner_->send(queue, iov);
                break;
            }
            // The guest's buffers go back to it when this returns: a copy waits here.
            hold(true, queue, *f, iov, std::min(total(iov), MAX_FRAME));
            return IoResult { IoResult::Status::done, total(iov), 0 };
        }
    }
    if (r.status == IoResult::Status::done && tracked) {
        passed(true, queue);
    }
    return r;
}

IoResult FaultNetBackend::receive(std::size_t queue, std::span<const iovec> iov) noexcept
{
    if (fault_down()) {
        // A pulled cable: what the host has for the guest is lost (the device does not ask while
        // its link is down, but a frame it asks for meanwhile is not delivered either).
        for (;;) {
            const IoResult r = inner_->receive(queue, iov);
            if (r.status != IoResult::Status::done) {
                return r;
            }
            ++counters_.link_down_drops;
        }
    }
    if (queue >= again_.size()) {
        return inner_->receive(queue, iov);
    }
    if (again_[queue]) {
        // The duplicate of the last frame.
        std::vector<std::uint8_t> frame = std::move(*again_[queue]);
        again_[queue].reset();
        return copy_out(frame, iov);
    }
    if (rx_due(queue)) {
        // A held frame that is due goes before anything newer.
        auto& frames = held_rx_[queue].frames;
        const HeldFrame frame = std::move(frames.front());
        frames.pop_front();
        arm_held(false, queue);
        return copy_out(frame.bytes, iov);
    }
    for (;;) {
        const IoResult r = inner_->receive(queue, iov);
        if (r.status != IoResult::Status::done) {
            return r;
        }
        NetFault* f = faults_.empty() ? nullptr : pick(false);
        if (f == nullptr) {
            passed(false, queue);
            return r;
        }
        const std::size_t got = std::min(r.bytes, total(iov));
        switch (f->action) {
        case NetFault::Action::drop:
            continue; // the next frame, in the same buffers
        case NetFault::Action::corrupt:
            corrupt(iov, got);
            break;
        case NetFault::Action::duplicate:
            if (r.bytes <= got) {
                again_[queue].emplace();
                gather(iov, got, *again_[queue]);
            }
            break;
        case NetFault::Action::delay:
        case NetFault::Action::reorder:
            if (r.bytes > got) {
                break; // cut to fit: the device drops it anyway, now
            }
            hold(false, queue, *f, iov, got);
            continue; // the next frame, in the same buffers
        }
        passed(false, queue);
        return r;
    }
}

void FaultNetBackend::watch_readable(std::size_t queue, std::function<void()> ready)
{
    if (queue >= rx_waiter_.size()) {
        inner_->watch_readable(queue, std::move(ready));
        return;
    }
    if ((again_[queue] || rx_due(queue)) && loop_ != nullptr && !fault_down()) {
        // A frame waits here, not in the host: ready at once, posted as the contract says.
        rx_waiter_[queue] = nullptr;
        post_ready(std::move(ready));
        return;
    }
    // Woken by the host's next frame, or by the timer of a held one (rx_timer), whichever
    // comes first.
    rx_waiter_[queue] = std::move(ready);
    arm_inner_readable(queue);
}

void FaultNetBackend::stop_watching() noexcept
{
    ++watch_generation_;
    for (auto& w : rx_waiter_) {
        w = nullptr;
    }
    std::fill(inner_armed_.begin(), inner_armed_.end(), false);
    inner_->stop_watching();
    if (fault_down()) {
        // The drain of a pulled cable is this side's own watch, not the device's.
        for (std::size_t q = 0; q < inner_armed_.size(); ++q) {
            arm_inner_readable(q);
        }
    }
}

void FaultNetBackend::arm_inner_readable(std::size_t queue)
{
    if (inner_armed_[queue]) {
        return;
    }
    inner_armed_[queue] = true;
    inner_->watch_readable(queue, [this, alive = std::weak_ptr<bool>(alive_), queue] {
        if (alive.expired()) {
            return;
        }
        inner_armed_[queue] = false;
        inner_readable(queue);
    });
}

void FaultNetBackend::inner_readable(std::size_t queue) noexcept
{
    if (fault_down()) {
        drain_rx(queue);
        arm_inner_readable(queue);
        return;
    }
    if (auto ready = std::exchange(rx_waiter_[queue], nullptr)) {
        ready();
    }
}

void FaultNetBackend::post_ready(std::function<void()> ready)
{
    loop_->post([this, ready = std::move(ready), alive = std::weak_ptr<bool>(alive_), gen = watch_generation_] {
        if (!alive.expired() && watch_generation_ == gen) {
            ready();
        }
    });
}

void FaultNetBackend::hold(bool tx, std::size_t queue, const NetFault& f, std::span<const iovec> iov, std::size_t bytes)
{
    Held& h = held_of(tx)[queue];
    if (h.frames.size() >= MAX_HELD) {
        ++counters_.held_overflow;
        return;
    }
    const bool reorder = f.action == NetFault::Action::reorder;
    HeldFrame frame { Clock::now() + (reorder ? REORDER_WAIT : f.delay), reorder, {} };
    gather(iov, bytes, frame.bytes);
    h.frames.push_back(std::move(frame));
    ++(reorder ? counters_.reordered : counters_.delayed);
    arm_held(tx, queue);
}

void FaultNetBackend::passed(bool tx, std::size_t queue) noexcept
{
    Held& h = held_of(tx)[queue];
    if (h.frames.empty()) {
        return; // the usual case, once per frame: no clock read
    }
    bool any = false;
    const auto now = Clock::now();
    for (auto& frame : h.frames) {
        if (frame.until_next) {
            frame.until_next = false;
            frame.due = std::min(frame.due, now);
            any = true;
        }
    }
    if (!any) {
        return;
    }
    if (tx) {
        release_tx(queue); // right behind the frame that passed
    } else {
        arm_held(false, queue); // the device's next receive takes them
    }
}

bool FaultNetBackend::rx_due(std::size_t queue) const noexcept
{
    const auto& frames = held_rx_[queue].frames;
    return !frames.empty() && frames.front().due <= Clock::now();
}

void FaultNetBackend::release_tx(std::size_t queue) noexcept
{
    Held& h = held_tx_[queue];
    const auto now = Clock::now();
    while (!h.frames.empty() && h.frames.front().due <= now) {
        HeldFrame& frame = h.frames.front();
        if (fault_down()) {
            ++counters_.link_down_drops;
            h.frames.pop_front();
            continue;
        }
        const iovec one { frame.bytes.data(), frame.bytes.size() };
        const IoResult r = inner_->send(queue, std::span(&one, 1));
        if (r.status == IoResult::Status::again) {
            h.retry_at = now + TX_RETRY; // the host is full: this frame, and those behind, wait
            break;
        }
        if (r.status == IoResult::Status::error) {
            ++counters_.held_lost;
        }
        h.frames.pop_front();
    }
    arm_held(true, queue);
}

void FaultNetBackend::rx_timer(std::size_t queue) noexcept
{
    if (rx_due(queue)) {
        if (auto ready = std::exchange(rx_waiter_[queue], nullptr)) {
            ready();
        }
    }
    arm_held(false, queue);
}

void FaultNetBackend::arm_held(bool tx, std::size_t queue) noexcept
{
    Held& h = held_of(tx)[queue];
    if (h.frames.empty() || !h.timer) {
        return;
    }
    Clock::time_point at = h.frames.front().due;
    if (tx) {
        at = std::max(at, h.retry_at);
    } else if (at <= Clock::now()) {
        return; // due: the device's next receive takes it, and its watch fires at once
    }
    if (h.armed && h.armed_for == at) {
        return;
    }
    h.armed = true;
    h.armed_for = at;
    const std::uint64_t id = ++h.wait;
    h.timer->expires_at(at); // a wait for another time ends, and its handler does nothing
    h.timer->async_wait(
        [this, alive = std::weak_ptr<bool>(alive_), tx, queue, id](const boost::system::error_code& ec) {
            if (alive.expired() || ec) {
                return;
            }
            Held& timed = held_of(tx)[queue];
            if (timed.wait != id) {
                return;
            }
            timed.armed = false;
            if (tx) {
                release_tx(queue);
            } else {
                rx_timer(queue);
            }
        });
}

void FaultNetBackend::release_all() noexcept
{
    const auto now = Clock::now();
    for (auto* side : { &held_tx_, &held_rx_ }) {
        for (auto& h : *side) {
            for (auto& frame : h.frames) {
                frame.until_next = false;
                frame.due = std::min(frame.due, now);
            }
        }
    }
    for (std::size_t q = 0; q < held_tx_.size(); ++q) {
        release_tx(q); // a full host takes them at the next retry
    }
    for (std::size_t q = 0; q < held_rx_.size(); ++q) {
        if (rx_due(q) && rx_waiter_[q] && loop_ != nullptr) {
            post_ready(std::exchange(rx_waiter_[q], nullptr));
        }
    }
}

Result<> FaultNetBackend::set_link_forced_down(bool down)
{
    if (down != forced_down_) {
        forced_down_ = down;
        fault_link_changed();
    }
    return {};
}

Result<> FaultNetBackend::set_link_flap(std::chrono::milliseconds down, std::chrono::milliseconds up)
{
    const bool off = down.count() == 0 && up.count() == 0;
    auto in_range = [](std::chrono::milliseconds ms) {
        return ms.count() >= 1 && static_cast<std::uint64_t>(ms.count()) <= MAX_FAULT_MS;
    };
    if (!off && (!in_range(down) || !in_range(up))) {
        return fail(Errc::out_of_range, "link flap down {} ms, up {} ms: each 1 to {}, or both 0 (off)", down.count(),
            up.count(), MAX_FAULT_MS);
    }
    if (!off && !flap_timer_) {
        return fail(Errc::unsupported, "link flaps need the event loop");
    }
    flap_ = LinkFlap { down, up };
    ++flap_wait_; // the old cycle's timer does nothing
    if (flap_timer_) {
        flap_timer_->cancel();
    }
    if (off) {
        flap_down_ = false;
        fault_link_changed();
    } else {
        flap_phase(true);
    }
    return {};
}

void FaultNetBackend::flap_phase(bool down) noexcept
{
    flap_down_ = down;
    const std::uint64_t id = ++flap_wait_;
    flap_timer_->expires_after(down ? flap_.down : flap_.up);
    flap_timer_->async_wait([this, alive = std::weak_ptr<bool>(alive_), id](const boost::system::error_code& ec) {
        if (alive.expired() || ec || flap_wait_ != id) {
            return;
        }
        flap_phase(!flap_down_);
    });
    fault_link_changed();
}

void FaultNetBackend::fault_link_changed() noexcept
{
    if (fault_down()) {
        // Frames in flight are lost with the cable, and what the host receives from now on
        // is drained here: the device stops asking while its link is down.
        drop_held();
        for (std::size_t q = 0; q < inner_armed_.size(); ++q) {
            drain_rx(q);
            arm_inner_readable(q);
        }
    }
    update_link();
}

void FaultNetBackend::update_link() noexcept
{
    // virtio 1.2 §5.1.4: the device reports the link in `status`; it hears of each change once.
    const bool up = link_up();
    if (up == link_reported_) {
        return;
    }
    link_reported_ = up;
    ++counters_.link_changes;
    if (link_changed_) {
        link_changed_(up);
    }
}

void FaultNetBackend::on_link_change(std::function<void(bool)> changed)
{
    link_changed_ = std::move(changed);
    link_reported_ = link_up(); // what the device reads alongside
}

void FaultNetBackend::drain_rx(std::size_t queue) noexcept
{
    if (scratch_.empty()) {
        scratch_.resize(MAX_FRAME);
    }
    const iovec all { scratch_.data(), scratch_.size() };
    while (inner_->receive(queue, std::span(&all, 1)).status == IoResult::Status::done) {
        ++counters_.link_down_drops;
    }
}

void FaultNetBackend::drop_held() noexcept
{
    for (auto* side : { &held_tx_, &held_rx_ }) {
        for (auto& h : *side) {
            counters_.link_down_drops += h.frames.size();
            h.frames.clear();
        }
    }
    for (auto& dup : again_) {
        if (dup) {
            ++counters_.link_down_drops;
            dup.reset();
        }
    }
}

std::size_t FaultNetBackend::held(bool tx) const noexcept
{
    std::size_t n = 0;
    for (const auto& h : tx ? held_tx_ : held_rx_) {
        n += h.frames.size();
    }
    return n;
}

nlohmann::json FaultNetBackend::status() const
{
    nlohmann::json s = inner_->status();
    if (!s.is_object()) {
        s = nlohmann::json::object();
    }
    if (!faults_.empty()) {
        s["faults"] = net_faults_json(faults_, seed_);
    }
    s["link"] = { { "forced_down", forced_down_ }, { "flap_down_ms", flap_.down.count() },
        { "flap_up_ms", flap_.up.count() }, { "flap_down", flap_down_ }, { "up", link_up() },
        { "changes", counters_.link_changes }, { "dropped", counters_.link_down_drops } };
    s["held"] = { { "tx", held(true) }, { "rx", held(false) }, { "delayed", counters_.delayed },
        { "reordered", counters_.reordered }, { "overflow", counters_.held_overflow },
        { "lost", counters_.held_lost } };
    return s;
}

} // namespace vmm::virtio::net
