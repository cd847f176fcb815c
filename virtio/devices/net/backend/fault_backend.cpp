// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/net/backend/fault_backend.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "virtio/devices/params.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::net {

namespace {

constexpr std::array<std::string_view, 5> KEYS { "direction", "action", "rate", "every", "count" };
constexpr std::array<std::string_view, 3> DIRECTIONS { "tx", "rx", "both" };
constexpr std::array<std::string_view, 3> ACTIONS { "drop", "corrupt", "duplicate" };

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
            return fail(Errc::invalid_argument, "{}: \"action\" is required: drop, corrupt or duplicate", at);
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
        out.push_back(f);
    }
    return out;
}

nlohmann::json net_faults_json(const std::vector<NetFault>& faults, std::uint64_t seed)
{
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& f : faults) {
        rules.push_back({ { "direction", DIRECTIONS[static_cast<std::size_t>(f.direction)] },
            { "action", ACTIONS[static_cast<std::size_t>(f.action)] }, { "rate", f.rate }, { "every", f.every },
            { "count", f.count }, { "seen", f.seen }, { "hit", f.hit } });
    }
    return { { "seed", seed }, { "rules", std::move(rules) } };
}

FaultNetBackend::FaultNetBackend(std::unique_ptr<NetBackend> inner, EventLoop* loop, std::uint64_t seed)
    : inner_(std::move(inner))
    , loop_(loop)
    , seed_(seed)
    , random_(seed)
    , again_(inner_->queues())
{
}

Result<> FaultNetBackend::set_faults(std::vector<NetFault> faults, std::uint64_t seed)
{
    if (faults.size() > MAX_RULES) {
        return fail(Errc::out_of_range, "{} net fault rules; at most {}", faults.size(), MAX_RULES);
    }
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

IoResult FaultNetBackend::send(std::size_t queue, std::span<const iovec> iov) noexcept
{
    NetFault* f = faults_.empty() ? nullptr : pick(true);
    if (f == nullptr) {
        return inner_->send(queue, iov);
    }
    switch (f->action) {
    case NetFault::Action::drop:
        return IoResult { IoResult::Status::done, total(iov), 0 }; // "sent"; lost on the way
    case NetFault::Action::corrupt: {
        // The guest's buffers are not ours to change: a copy goes out damaged.
        std::vector<std::uint8_t> copy;
        gather(iov, MAX_FRAME, copy);
        const iovec one { copy.data(), copy.size() };
        corrupt(std::span(&one, 1), copy.size());
        return inner_->send(queue, std::span(&one, 1));
    }
    case NetFault::Action::duplicate: {
        const IoResult first = inner_->send(queue, iov);
        if (first.status == IoResult::Status::done) {
            (void)inner_->send(queue, iov); // a second copy, if the host takes it
        }
        return first;
    }
    }
    return inner_->send(queue, iov);
}

IoResult FaultNetBackend::receive(std::size_t queue, std::span<const iovec> iov) noexcept
{
    if (queue < again_.size() && again_[queue]) {
        // The duplicate of the last frame.
        std::vector<std::uint8_t> frame = std::move(*again_[queue]);
        again_[queue].reset();
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
    for (;;) {
        const IoResult r = inner_->receive(queue, iov);
        if (r.status != IoResult::Status::done || faults_.empty()) {
            return r;
        }
        NetFault* f = pick(false);
        if (f == nullptr) {
            return r;
        }
        const std::size_t got = std::min(r.bytes, total(iov));
        switch (f->action) {
        case NetFault::Action::drop:
            continue; // the next frame, in the same buffers
        case NetFault::Action::corrupt:
            corrupt(iov, got);
            return r;
        case NetFault::Action::duplicate:
            if (queue < again_.size() && r.bytes <= got) {
                again_[queue].emplace();
                gather(iov, got, *again_[queue]);
            }
            return r;
        }
        return r;
    }
}

void FaultNetBackend::watch_readable(std::size_t queue, std::function<void()> ready)
{
    if (queue < again_.size() && again_[queue] && loop_ != nullptr) {
        // A duplicate waits here, not in the host: ready at once, posted as the contract says.
        loop_->post([ready = std::move(ready), alive = std::weak_ptr<bool>(alive_)] {
            if (!alive.expired()) {
                ready();
            }
        });
        return;
    }
    inner_->watch_readable(queue, std::move(ready));
}

nlohmann::json FaultNetBackend::status() const
{
    nlohmann::json s = inner_->status();
    if (!faults_.empty()) {
        if (!s.is_object()) {
            s = nlohmann::json::object();
        }
        s["faults"] = net_faults_json(faults_, seed_);
    }
    return s;
}

} // namespace vmm::virtio::net
