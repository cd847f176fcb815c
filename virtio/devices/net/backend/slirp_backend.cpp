// SPDX-License-Identifier: Apache-2.0
// SlirpBackend: libslirp's callbacks, its sockets and timers on the loop, and the frame FIFO.
#include "virtio/devices/net/backend/slirp_backend.hpp"
#include "virtio/devices/net/bytes.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>

#include <libslirp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "vmm/base/log.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm::virtio::net {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Everything libslirp's callbacks and the queued handlers touch. The backend owns it; handlers
// hold a weak_ptr, so one that runs after the backend is gone finds nothing and does nothing.
//
// libslirp is driven as QEMU's main loop drives it, one "turn" at a time: slirp_pollfds_fill
// says which sockets to watch and how long slirp's TCP timers may sleep; slirp_pollfds_poll,
// given the sockets' readiness, reads and writes them and runs those timers. Here the sockets
// are registered in an epoll descriptor of our own which the loop watches, and a timer stands
// for the sleep. Every slirp call (an input frame, a turn, a slirp timer) is followed by a new
// fill, since slirp may have opened, closed or changed the interest of any socket meanwhile.
struct SlirpBackend::State : std::enable_shared_from_this<State> {
    struct Timer {
        explicit Timer(asio::io_context& io) : timer(io) {}
        asio::steady_timer timer;
        SlirpTimerCb cb = nullptr;
        void* cb_opaque = nullptr;
        std::uint64_t id = 0;
        std::uint64_t generation = 0; // a wake-up from an older timer_mod is stale
    };

    State(asio::io_context& context, UserNetOptions opts, const MacAddress& mac)
        : io(context)
        , options(std::move(opts))
        , guest_mac(mac)
        , epoll_stream(context)
        , turn_timer(context)
    {
    }
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() { close(); }

    [[nodiscard]] Result<> start();
    void close() noexcept;

    void service(bool poll_sockets) noexcept;
    void refill() noexcept;
    void sync_epoll() noexcept;
    void arm_epoll_wait();
    void arm_turn_timer(std::uint32_t timeout_ms);
    void post_turn();
    void post_refill();

    void push_frame(const void* data, std::size_t len);
    void post_readable();
    void post_writable();
    template <class F>
    void post_watch(bool& posted, std::function<void()>& callback, F&& ready_now);

    asio::io_context& io;
    UserNetOptions options;
    MacAddress guest_mac;
    Slirp* slirp = nullptr;
    bool alive = true;

    std::vector<pollfd> pollfds;                       // the set of the last fill
    std::unordered_map<int, std::uint32_t> registered; // in epoll_fd: descriptor, events
    std::unordered_map<int, std::uint32_t> wanted;     // scratch for sync_epoll
    UniqueFd epoll_fd;
    asio::posix::stream_descriptor epoll_stream; // epoll_fd, which it does not own
    bool epoll_waiting = false;
    asio::steady_timer turn_timer;
    bool turn_timer_armed = false;
    std::uint64_t turn_generation = 0;
    bool turn_posted = false;
    bool refill_posted = false;

    std::unordered_map<std::uint64_t, std::unique_ptr<Timer>> timers; // libslirp's own
    std::uint64_t next_timer_id = 0;

    std::deque<std::vector<std::uint8_t>> fifo; // frames for the guest, oldest first
    std::size_t fifo_bytes = 0;
    std::vector<std::vector<std::uint8_t>> spare; // delivered frames' buffers, for reuse
    std::vector<std::uint8_t> tx_buffer; // a gathered frame on its way to slirp_input
    Stats stats;

    std::function<void()> readable;
    std::function<void()> writable;
    bool readable_posted = false;
    bool writable_posted = false;
    std::uint64_t watch_generation = 0; // stop_watching() voids what was posted before it
};

namespace {

using State = SlirpBackend::State;

State& state_of(void* opaque) noexcept
{
    return *static_cast<State*>(opaque);
}

std::uint32_t epoll_events(short poll_events) noexcept
{
    std::uint32_t e = 0;
    e |= (poll_events & POLLIN) != 0 ? std::uint32_t { EPOLLIN } : 0U;
    e |= (poll_events & POLLOUT) != 0 ? std::uint32_t { EPOLLOUT } : 0U;
    e |= (poll_events & POLLPRI) != 0 ? std::uint32_t { EPOLLPRI } : 0U;
    return e; // errors and hang-ups are always reported
}

short poll_events(int slirp_events) noexcept
{
    int e = 0;
    e |= (slirp_events & SLIRP_POLL_IN) != 0 ? POLLIN : 0;
    e |= (slirp_events & SLIRP_POLL_OUT) != 0 ? POLLOUT : 0;
    e |= (slirp_events & SLIRP_POLL_PRI) != 0 ? POLLPRI : 0;
    e |= (slirp_events & SLIRP_POLL_ERR) != 0 ? POLLERR : 0;
    e |= (slirp_events & SLIRP_POLL_HUP) != 0 ? POLLHUP : 0;
    return static_cast<short>(e);
}

int slirp_revents(short revents) noexcept
{
    int e = 0;
    e |= (revents & POLLIN) != 0 ? SLIRP_POLL_IN : 0;
    e |= (revents & POLLOUT) != 0 ? SLIRP_POLL_OUT : 0;
    e |= (revents & POLLPRI) != 0 ? SLIRP_POLL_PRI : 0;
    e |= (revents & POLLERR) != 0 ? SLIRP_POLL_ERR : 0;
    e |= (revents & POLLHUP) != 0 ? SLIRP_POLL_HUP : 0;
    return e;
}

// libslirp's callbacks. They run inside slirp calls, so they never call back into libslirp nor
// run the device's callbacks: anything more is posted. No exception may cross libslirp's C.

ssize_t send_packet(const void* buf, size_t len, void* opaque)
{
    State& s = state_of(opaque);
    if (s.alive) {
        s.push_frame(buf, len);
    }
    // Dropped frames are not an error either: TCP retransmits.
    return static_cast<ssize_t>(len);
}

void guest_error(const char* msg, void* /*opaque*/)
{
    VMM_LOG_GUEST(spdlog::level::warn, "user network: {}", msg);
}

std::int64_t clock_get_ns(void* /*opaque*/)
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void* timer_new(SlirpTimerCb cb, void* cb_opaque, void* opaque)
{
    State& s = state_of(opaque);
    try {
        auto t = std::make_unique<State::Timer>(s.io);
        t->cb = cb;
        t->cb_opaque = cb_opaque;
        t->id = ++s.next_timer_id;
        State::Timer* raw = t.get();
        s.timers.emplace(raw->id, std::move(t));
        return raw;
    } catch (const std::exception& e) {
        spdlog::error("user network: no timer for libslirp: {}", e.what());
        return nullptr;
    }
}

void timer_free(void* timer, void* opaque)
{
    if (timer != nullptr) {
        // Destroying the asio timer cancels its wait; the aborted handler finds no entry.
        state_of(opaque).timers.erase(static_cast<State::Timer*>(timer)->id);
    }
}

// expire_time: milliseconds on the clock of clock_get_ns.
void timer_mod(void* timer, std::int64_t expire_time, void* opaque)
{
    State& s = state_of(opaque);
    if (timer == nullptr || !s.alive) {
        return;
    }
    auto& t = *static_cast<State::Timer*>(timer);
    const auto generation = ++t.generation;
    try {
        t.timer.expires_at(Clock::time_point(std::chrono::milliseconds(expire_time)));
        t.timer.async_wait([weak = s.weak_from_this(), id = t.id, generation](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (!self || !self->alive || ec) {
                return;
            }
            const auto it = self->timers.find(id);
            if (it == self->timers.end() || it->second->generation != generation) {
                return;
            }
            it->second->cb(it->second->cb_opaque);
            self->refill();
        });
    } catch (const std::exception& e) {
        spdlog::error("user network: arming a libslirp timer: {}", e.what());
    }
}

// Nothing to do: the poll set is built anew from slirp_pollfds_fill after every slirp call.
void register_poll_fd(int /*fd*/, void* /*opaque*/) { }
void unregister_poll_fd(int /*fd*/, void* /*opaque*/) { }

// A socket can take more data again (its buffer drained below half): fill again.
void notify(void* opaque)
{
    State& s = state_of(opaque);
    try {
        s.post_turn();
    } catch (const std::exception& e) {
        spdlog::error("user network: {}", e.what());
    }
}

int add_poll(int fd, int events, void* opaque)
{
    State& s = state_of(opaque);
    try {
        s.pollfds.push_back(pollfd { fd, poll_events(events), 0 });
    } catch (const std::exception&) {
        return -1; // not watched this turn
    }
    return static_cast<int>(s.pollfds.size() - 1);
}

int get_revents(int idx, void* opaque)
{
    const State& s = state_of(opaque);
    if (idx < 0 || static_cast<std::size_t>(idx) >= s.pollfds.size()) {
        return 0;
    }
    return slirp_revents(s.pollfds[static_cast<std::size_t>(idx)].revents);
}

const SlirpCb CALLBACKS = {
    .send_packet = send_packet,
    .guest_error = guest_error,
    .clock_get_ns = clock_get_ns,
    .timer_new = timer_new,
    .timer_free = timer_free,
    .timer_mod = timer_mod,
    .register_poll_fd = register_poll_fd,
    .unregister_poll_fd = unregister_poll_fd,
    .notify = notify,
    .init_completed = nullptr,
    .timer_new_opaque = nullptr, // timer_new is used instead
};

in_addr to_in_addr(Ipv4Addr a) noexcept
{
    return in_addr { htonl(a.value) };
}

in6_addr to_in6_addr(const Ipv6Addr& a) noexcept
{
    in6_addr r {};
    std::memcpy(r.s6_addr, a.bytes.data(), a.bytes.size());
    return r;
}

void run_callback(std::function<void()>& callback) noexcept
{
    try {
        std::exchange(callback, nullptr)();
    } catch (const std::exception& e) {
        spdlog::error("user network: a watch callback failed: {}", e.what());
    }
}

// libslirp writes to its sockets with plain send(): a host peer that hung up would raise
// SIGPIPE and end the VMM. Ignored (as QEMU does), the write fails with EPIPE and slirp closes
// the connection. Left alone if the program already chose a disposition.
void ignore_sigpipe() noexcept
{
    struct sigaction old { };
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL
        && (old.sa_flags & SA_SIGINFO) == 0) {
        struct sigaction sa { };
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        (void)::sigaction(SIGPIPE, &sa, nullptr);
    }
}

} // namespace

Result<> State::start()
{
    epoll_fd = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_fd) {
        return fail_errno(errno, "user network: epoll_create1");
    }
    boost::system::error_code ec;
    epoll_stream.assign(epoll_fd.get(), ec);
    if (ec) {
        return fail(Errc::io_error, "user network: watching its sockets on the loop: {}", ec.message());
    }
    tx_buffer.resize(MAX_FRAME);

    SlirpConfig cfg {};
    cfg.version = 4;
    cfg.restricted = options.restrict ? 1 : 0;
    cfg.in_enabled = true;
    cfg.vnetwork = to_in_addr(options.network);
    cfg.vnetmask = to_in_addr(Ipv4Addr { ~std::uint32_t { 0 } << (32U - options.prefix_len) });
    cfg.vhost = to_in_addr(options.host);
    cfg.in6_enabled = options.ipv6;
    cfg.vprefix_addr6 = to_in6_addr(options.ipv6_prefix);
    cfg.vprefix_len = options.ipv6_prefix_len;
    cfg.vhost6 = to_in6_addr(options.ipv6_host);
    cfg.vhostname = options.hostname.empty() ? nullptr : options.hostname.c_str();
    cfg.vdhcp_start = to_in_addr(options.dhcp_start);
    cfg.vnameserver = to_in_addr(options.dns);
    cfg.vnameserver6 = to_in6_addr(options.ipv6_dns);
    // The rest zero: the default MTU and MRU (1500), no TFTP, and no "emulation" of FTP and IRC
    // address rewriting, which libslirp itself calls unsafe.
    slirp = slirp_new(&cfg, &CALLBACKS, this);
    if (slirp == nullptr) {
        return fail(Errc::invalid_argument, "user network: libslirp refused the configuration");
    }
    for (const Forward& f : options.forwards) {
        const bool udp = f.protocol == Forward::Protocol::udp;
        errno = 0;
        if (slirp_add_hostfwd(slirp, udp ? 1 : 0, to_in_addr(f.host_addr), f.host_port,
                to_in_addr(guest_addr(f, options)), f.guest_port)
            < 0) {
            return fail_errno(errno != 0 ? errno : EINVAL, "port forward \"{}\": cannot listen on {} {}:{}", f.rule,
                udp ? "udp" : "tcp", f.host_addr.str(), f.host_port);
        }
    }
    refill();
    return {};
}

void State::close() noexcept
{
    if (!alive) {
        return;
    }
    alive = false;
    readable = nullptr;
    writable = nullptr;
    ++watch_generation;
    if (slirp != nullptr) {
        // Closes every socket of libslirp (which drops them from epoll_fd) and frees its timers.
        slirp_cleanup(slirp);
        slirp = nullptr;
    }
    timers.clear();
    turn_timer.cancel();
    boost::system::error_code ec;
    if (epoll_stream.is_open()) {
        epoll_stream.cancel(ec);
        (void)epoll_stream.release(); // epoll_fd closes it
    }
    epoll_fd.reset();
    fifo.clear();
    fifo_bytes = 0;
    spare.clear();
}

// One turn: hand slirp the readiness of its sockets (when asked to), then fill again.
void State::service(bool poll_sockets) noexcept
{
    if (!alive) {
        return;
    }
    if (poll_sockets) {
        for (pollfd& p : pollfds) {
            p.revents = 0;
        }
        const int n = ::poll(pollfds.data(), static_cast<nfds_t>(pollfds.size()), 0);
        // Even without a ready socket, slirp_pollfds_poll runs slirp's TCP and IP timers.
        slirp_pollfds_poll(slirp, n < 0 ? 1 : 0, get_revents, this);
    }
    refill();
}

void State::refill() noexcept
{
    if (!alive) {
        return;
    }
    pollfds.clear();
    std::uint32_t timeout_ms = UINT32_MAX;
    slirp_pollfds_fill(slirp, &timeout_ms, add_poll, this);
    sync_epoll();
    try {
        arm_epoll_wait();
        arm_turn_timer(timeout_ms);
        // Our epoll descriptor is watched edge-triggered by the loop and never waited on
        // otherwise, so a socket that was ready already (slirp left data unread) would not wake
        // the loop again. Asking it here also consumes its ready list.
        epoll_event ev {};
        if (::epoll_wait(epoll_fd.get(), &ev, 1, 0) > 0) {
            post_turn();
        }
    } catch (const std::exception& e) {
        spdlog::error("user network: waiting for its sockets: {}", e.what());
    }
}

// Registers the sockets of the last fill with epoll_fd. Those registered before are modified
// rather than trusted: slirp may have closed a socket and opened another under the same number
// since, which the kernel dropped from the epoll set (MOD then fails with ENOENT).
void State::sync_epoll() noexcept
{
    try {
        wanted.clear();
        for (const pollfd& p : pollfds) {
            wanted[p.fd] |= epoll_events(p.events);
        }
    } catch (const std::exception&) {
        wanted.clear();
    }
    for (const auto& [fd, events] : registered) {
        if (!wanted.contains(fd)) {
            (void)::epoll_ctl(epoll_fd.get(), EPOLL_CTL_DEL, fd, nullptr); // gone already: fine
        }
    }
    for (auto it = wanted.begin(); it != wanted.end();) {
        epoll_event ev {};
        ev.events = it->second;
        ev.data.fd = it->first;
        bool ok = registered.contains(it->first) && ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_MOD, it->first, &ev) == 0;
        if (!ok) {
            ok = ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, it->first, &ev) == 0
                || (errno == EEXIST && ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_MOD, it->first, &ev) == 0);
        }
        if (ok) {
            ++it;
        } else {
            const int err = errno;
            VMM_LOG_GUEST(
                spdlog::level::err, "user network: cannot watch socket {}: {}", it->first, std::strerror(err));
            it = wanted.erase(it);
        }
    }
    std::swap(registered, wanted);
}

void State::arm_epoll_wait()
{
    if (epoll_waiting) {
        return;
    }
    epoll_waiting = true;
    epoll_stream.async_wait(asio::posix::stream_descriptor::wait_read,
        [weak = weak_from_this()](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (!self || !self->alive) {
                return;
            }
            self->epoll_waiting = false;
            if (ec) {
                spdlog::error("user network: waiting for its sockets: {}", ec.message());
                return;
            }
            self->service(true);
        });
}

// The longest slirp may sleep; a turn that comes earlier does no harm, so a timer that is
// already due sooner is left alone (re-arming it on every frame would only queue aborted waits).
void State::arm_turn_timer(std::uint32_t timeout_ms)
{
    if (timeout_ms == UINT32_MAX) {
        return; // libslirp caps it at a second, so this does not happen
    }
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    if (turn_timer_armed && turn_timer.expiry() <= deadline) {
        return;
    }
    turn_timer_armed = true;
    const auto generation = ++turn_generation;
    turn_timer.expires_at(deadline);
    turn_timer.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
        const auto self = weak.lock();
        if (!self || !self->alive || ec || generation != self->turn_generation) {
            return;
        }
        self->turn_timer_armed = false;
        self->service(true);
    });
}

// The fill after frames from the guest, once for a whole transmit batch: each fill costs a
// system call per socket (sync_epoll), which per frame would cost more than the frame.
void State::post_refill()
{
    if (refill_posted || !alive) {
        return;
    }
    refill_posted = true;
    asio::post(io, [weak = weak_from_this()] {
        const auto self = weak.lock();
        if (!self || !self->alive) {
            return;
        }
        self->refill_posted = false;
        self->refill();
    });
}

void State::post_turn()
{
    if (turn_posted || !alive) {
        return;
    }
    turn_posted = true;
    asio::post(io, [weak = weak_from_this()] {
        const auto self = weak.lock();
        if (!self || !self->alive) {
            return;
        }
        self->turn_posted = false;
        self->service(true);
    });
}

// Bounded like QEMU's net queue: past the bound the newest frame is dropped, and counted.
void State::push_frame(const void* data, std::size_t len)
{
    if (fifo.size() >= FIFO_FRAMES || len > FIFO_BYTES - fifo_bytes) {
        ++stats.rx_dropped;
        return;
    }
    try {
        const auto* p = static_cast<const std::uint8_t*>(data);
        if (spare.empty()) {
            fifo.emplace_back(p, p + len);
        } else {
            // A buffer that held an earlier frame: no allocation in the steady state.
            fifo.push_back(std::move(spare.back()));
            spare.pop_back();
            fifo.back().assign(p, p + len);
        }
        fifo_bytes += len;
        post_readable();
    } catch (const std::exception&) {
        ++stats.rx_dropped;
    }
}

template <class F>
void State::post_watch(bool& posted, std::function<void()>& callback, F&& ready_now)
{
    if (!callback || posted || !alive) {
        return;
    }
    posted = true;
    asio::post(io,
        [weak = weak_from_this(), generation = watch_generation, &posted, &callback,
            ready = std::forward<F>(ready_now)] {
            // `posted` and `callback` are members of the state, alive as long as `self` is.
            const auto self = weak.lock();
            if (!self || !self->alive || generation != self->watch_generation) {
                return;
            }
            posted = false;
            if (callback && ready(*self)) {
                run_callback(callback);
            }
        });
}

void State::post_readable()
{
    // Fires only if a frame is still there when the handler runs (receive() may have taken it).
    post_watch(readable_posted, readable, [](const State& s) { return !s.fifo.empty(); });
}

void State::post_writable()
{
    post_watch(writable_posted, writable, [](const State&) { return true; });
}

Result<std::unique_ptr<SlirpBackend>> SlirpBackend::create(
    asio::io_context& io, UserNetOptions options, const MacAddress& guest_mac)
{
    VMM_TRY(check(options));
    ignore_sigpipe();
    auto state = std::make_shared<State>(io, std::move(options), guest_mac);
    VMM_TRY(state->start());
    return std::unique_ptr<SlirpBackend>(new SlirpBackend(std::move(state)));
}

SlirpBackend::~SlirpBackend()
{
    // A handler running now (the backend destroyed from a watch callback) keeps the state
    // until it returns, but finds it closed.
    state_->close();
}

IoResult SlirpBackend::send(std::size_t queue, std::span<const iovec> iov) noexcept
{
    State& s = *state_;
    if (queue != 0 || !s.alive) {
        return { IoResult::Status::error, 0, EINVAL };
    }
    std::size_t len = 0;
    for (const iovec& v : iov) {
        if (v.iov_len > MAX_FRAME - len) {
            ++s.stats.tx_errors;
            return { IoResult::Status::error, 0, EMSGSIZE };
        }
        len += v.iov_len;
    }
    (void)copy_from_iovecs(iov, 0, std::span(s.tx_buffer.data(), len));
    if (len < MIN_FRAME) {
        ++s.stats.tx_errors;
        return { IoResult::Status::error, 0, EINVAL };
    }
    ++s.stats.tx_frames;
    s.stats.tx_bytes += len;
    slirp_input(s.slirp, s.tx_buffer.data(), static_cast<int>(len));
    try {
        s.post_refill();
    } catch (const std::exception&) {
        s.refill(); // cannot defer it: fill now
    }
    return { IoResult::Status::done, len, 0 };
}

IoResult SlirpBackend::receive(std::size_t queue, std::span<const iovec> iov) noexcept
{
    State& s = *state_;
    if (queue != 0 || !s.alive) {
        return { IoResult::Status::error, 0, EINVAL };
    }
    if (s.fifo.empty()) {
        return { IoResult::Status::again, 0, 0 };
    }
    std::vector<std::uint8_t> frame = std::move(s.fifo.front());
    s.fifo.pop_front();
    const std::size_t len = frame.size();
    s.fifo_bytes -= len;
    // What does not fit is cut off; the full length tells the device so.
    (void)copy_to_iovecs(iov, 0, frame);
    ++s.stats.rx_frames;
    s.stats.rx_bytes += len;
    if (s.spare.size() < SPARE_BUFFERS) {
        try {
            s.spare.push_back(std::move(frame));
        } catch (const std::exception&) {
            // Freed instead.
        }
    }
    return { IoResult::Status::done, len, 0 };
}

void SlirpBackend::watch_readable(std::size_t queue, std::function<void()> ready)
{
    State& s = *state_;
    if (queue != 0 || !s.alive) {
        return;
    }
    s.readable = std::move(ready);
    if (!s.fifo.empty()) {
        s.post_readable();
    }
}

void SlirpBackend::watch_writable(std::size_t queue, std::function<void()> ready)
{
    State& s = *state_;
    if (queue != 0 || !s.alive) {
        return;
    }
    s.writable = std::move(ready);
    s.post_writable();
}

void SlirpBackend::stop_watching() noexcept
{
    State& s = *state_;
    s.readable = nullptr;
    s.writable = nullptr;
    s.readable_posted = false;
    s.writable_posted = false;
    ++s.watch_generation;
}

SlirpBackend::Stats SlirpBackend::stats() const noexcept
{
    Stats st = state_->stats;
    st.rx_queued = state_->fifo.size();
    return st;
}

const UserNetOptions& SlirpBackend::options() const noexcept
{
    return state_->options;
}

std::string SlirpBackend::describe() const
{
    const UserNetOptions& o = state_->options;
    const std::size_t n = o.forwards.size();
    return fmt::format("user ({}/{}{}, {} forward{})", o.network.str(), o.prefix_len, o.restrict ? ", restricted" : "",
        n, n == 1 ? "" : "s");
}

nlohmann::json SlirpBackend::status() const
{
    const UserNetOptions& o = state_->options;
    const Stats st = stats();
    const MacAddress& m = state_->guest_mac;
    auto forwards = nlohmann::json::array();
    for (const Forward& f : o.forwards) {
        forwards.push_back(net::describe(f, o));
    }
    nlohmann::json ipv6 = false;
    if (o.ipv6) {
        ipv6 = {
            { "prefix", fmt::format("{}/{}", o.ipv6_prefix.str(), o.ipv6_prefix_len) },
            { "host", o.ipv6_host.str() },
            { "dns", o.ipv6_dns.str() },
        };
    }
    return {
        { "backend", "user" },
        { "network", fmt::format("{}/{}", o.network.str(), o.prefix_len) },
        { "host", o.host.str() },
        { "dns", o.dns.str() },
        { "dhcp_start", o.dhcp_start.str() },
        { "ipv6", ipv6 },
        { "hostname", o.hostname },
        { "restrict", o.restrict },
        { "guest_mac", fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]) },
        { "forwards", forwards },
        { "from_guest", { { "frames", st.tx_frames }, { "bytes", st.tx_bytes }, { "errors", st.tx_errors } } },
        { "to_guest",
            { { "frames", st.rx_frames }, { "bytes", st.rx_bytes }, { "dropped", st.rx_dropped },
                { "queued", st.rx_queued } } },
    };
}

} // namespace vmm::virtio::net
