// SPDX-License-Identifier: Apache-2.0
// UnixHost.
#include "virtio/devices/vsock/unix_host.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <list>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "vmm/base/log.hpp"

namespace vmm::virtio::vsock {

namespace asio = boost::asio;

namespace {

int socket_kind(SocketType t) noexcept
{
    return t == SocketType::stream ? SOCK_STREAM : SOCK_SEQPACKET;
}

Result<sockaddr_un> unix_address(const std::filesystem::path& path)
{
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    const std::string& s = path.native();
    if (s.empty() || s.size() >= sizeof(addr.sun_path)) {
        return fail(Errc::invalid_argument, "socket path '{}' must have 1 to {} bytes (a Unix socket's limit)", s,
            sizeof(addr.sun_path) - 1);
    }
    std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
    return addr;
}

// A socket file nobody listens on any more (a VMM that was killed) is replaced; anything else
// at the path is the user's and stays.
Result<> clear_stale(const std::filesystem::path& path, const sockaddr_un& addr, int kind)
{
    struct stat st { };
    if (::lstat(path.c_str(), &st) != 0) {
        return {}; // nothing there (or unreadable: bind says which)
    }
    if (!S_ISSOCK(st.st_mode)) {
        return fail(Errc::busy, "'{}' exists and is not a socket; remove it or choose another uds_path",
            path.native());
    }
    UniqueFd probe(::socket(AF_UNIX, kind | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
        return fail(Errc::busy, "'{}' is in use: another program listens on it (another VM?)", path.native());
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return fail_errno(errno, "removing the stale socket '{}'", path.native());
    }
    return {};
}

Result<UniqueFd> listen_on(const std::filesystem::path& path, SocketType type)
{
    const sockaddr_un addr = VMM_TRY(unix_address(path));
    const int kind = socket_kind(type);
    VMM_TRY(clear_stale(path, addr, kind));
    UniqueFd fd(::socket(AF_UNIX, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        return fail_errno(errno, "socket(AF_UNIX) for '{}'", path.native());
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        return fail_errno(errno, "cannot create the socket '{}' (does its directory exist and is it writable?)",
            path.native());
    }
    if (::listen(fd.get(), SOMAXCONN) != 0) {
        const int e = errno;
        (void)::unlink(path.c_str());
        return fail_errno(e, "listen on '{}'", path.native());
    }
    return fd;
}

} // namespace

Result<std::uint32_t> parse_connect_line(std::string_view line)
{
    if (!line.empty() && line.back() == '\n') {
        line.remove_suffix(1);
    }
    constexpr std::string_view verb = "CONNECT ";
    if (!line.starts_with(verb)) {
        return fail(Errc::invalid_argument, "expected \"CONNECT <port>\"");
    }
    line.remove_prefix(verb.size());
    std::uint32_t port = 0;
    const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), port);
    if (line.empty() || ec != std::errc {} || end != line.data() + line.size()) {
        return fail(Errc::invalid_argument, "the port must be a decimal number below 2^32");
    }
    return port;
}

struct UnixHost::State : std::enable_shared_from_this<UnixHost::State> {
    struct Pending {
        Pending(asio::io_context& io, int fd, SocketType t) : stream(io, fd), timer(io), type(t) { }
        asio::posix::stream_descriptor stream; // owns the client's fd until it is handed over
        asio::steady_timer timer;
        SocketType type;
        std::string line; // of the request, so far
    };
    using PendingList = std::list<Pending>;

    struct Listener {
        Listener(asio::io_context& io, int fd, SocketType t, std::filesystem::path p)
            : stream(io, fd), type(t), path(std::move(p)) { }
        asio::posix::stream_descriptor stream; // owns the listening fd
        SocketType type;
        std::filesystem::path path;
    };

    State(asio::io_context& context, UnixHostOptions opts) : io(context), options(std::move(opts)) { }
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() { close(); }

    void close() noexcept;
    void drop_pending() noexcept;
    void arm_accept(Listener& l);
    void accept_all(Listener& l) noexcept;
    void arm_read(PendingList::iterator it);
    // true: the client is finished with (handed over or closed).
    bool read_request(PendingList::iterator it) noexcept;

    asio::io_context& io;
    UnixHostOptions options;
    std::list<Listener> listeners;
    PendingList pending;
    std::function<void(HostRequest)> request;
    bool running = false;

    struct Stats {
        std::uint64_t accepted = 0;  // clients accepted
        std::uint64_t requests = 0;  // handed to the device
        std::uint64_t malformed = 0; // closed for a bad request line
        std::uint64_t timed_out = 0; // closed for sending none in time
        std::uint64_t refused = 0;   // closed at once: too many pending, or not started
    } stats;
};

void UnixHost::State::close() noexcept
{
    running = false;
    request = nullptr;
    drop_pending();
    for (Listener& l : listeners) {
        boost::system::error_code ec;
        l.stream.close(ec);
        (void)::unlink(l.path.c_str());
    }
    listeners.clear();
}

void UnixHost::State::drop_pending() noexcept
{
    for (Pending& p : pending) {
        boost::system::error_code ec;
        p.timer.cancel();
        p.stream.close(ec);
    }
    pending.clear();
}

void UnixHost::State::arm_accept(Listener& l)
{
    l.stream.async_wait(asio::posix::stream_descriptor::wait_read,
        [weak = weak_from_this(), listener = &l](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (!self || ec) {
                return; // closed
            }
            self->accept_all(*listener);
        });
}

void UnixHost::State::accept_all(Listener& l) noexcept
{
    for (;;) {
        UniqueFd client(::accept4(l.stream.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!client) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                spdlog::warn("vsock: accept on '{}': {}", l.path.native(), std::strerror(errno));
            }
            break;
        }
        ++stats.accepted;
        if (!running || pending.size() >= options.max_pending) {
            ++stats.refused; // closing it tells the client to come back later
            continue;
        }
        try {
            auto it = pending.emplace(pending.end(), io, client.release(), l.type);
            it->timer.expires_after(HANDSHAKE_TIMEOUT);
            it->timer.async_wait([weak = weak_from_this(), p = &*it](const boost::system::error_code& ec) {
                const auto self = weak.lock();
                if (!self || ec) {
                    return;
                }
                for (auto i = self->pending.begin(); i != self->pending.end(); ++i) {
                    if (&*i == p) {
                        ++self->stats.timed_out;
                        boost::system::error_code ignored;
                        i->stream.close(ignored);
                        self->pending.erase(i);
                        return;
                    }
                }
            });
            if (!read_request(it)) {
                arm_read(it);
            }
        } catch (const std::exception& e) {
            spdlog::warn("vsock: a client of '{}' dropped: {}", l.path.native(), e.what());
        }
    }
    try {
        arm_accept(l);
    } catch (const std::exception& e) {
        spdlog::error("vsock: no longer accepting on '{}': {}", l.path.native(), e.what());
    }
}

void UnixHost::State::arm_read(PendingList::iterator it)
{
    it->stream.async_wait(asio::posix::stream_descriptor::wait_read,
        [weak = weak_from_this(), p = &*it](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (!self || ec) {
                return;
            }
            for (auto i = self->pending.begin(); i != self->pending.end(); ++i) {
                if (&*i == p) {
                    if (!self->read_request(i)) {
                        try {
                            self->arm_read(i);
                        } catch (const std::exception&) {
                            boost::system::error_code ignored;
                            i->stream.close(ignored);
                            self->pending.erase(i);
                        }
                    }
                    return;
                }
            }
        });
}

bool UnixHost::State::read_request(PendingList::iterator it) noexcept
{
    Pending& p = *it;
    const int fd = p.stream.native_handle();
    std::array<char, MAX_REQUEST_LINE + 1> buf {};
    bool complete = false;
    bool bad = false;
    if (p.type == SocketType::stream) {
        // Only the request line is taken from the socket: what follows is the connection's.
        // What came of the line so far is taken too, so that the socket does not stay readable
        // (the loop would spin on a client that sends half a line).
        const std::size_t want = MAX_REQUEST_LINE - p.line.size();
        const ssize_t n = ::recv(fd, buf.data(), want, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return false;
        }
        if (n <= 0) {
            bad = true; // closed before a whole line, or failed
        } else {
            const auto* nl = static_cast<const char*>(std::memchr(buf.data(), '\n', static_cast<std::size_t>(n)));
            const std::size_t take = nl != nullptr ? static_cast<std::size_t>(nl - buf.data()) + 1 : static_cast<std::size_t>(n);
            if (::recv(fd, buf.data(), take, 0) != static_cast<ssize_t>(take)) {
                bad = true;
            } else {
                p.line.append(buf.data(), take);
                complete = nl != nullptr;
                bad = !complete && p.line.size() >= MAX_REQUEST_LINE;
            }
        }
    } else {
        const ssize_t n = ::recv(fd, buf.data(), MAX_REQUEST_LINE + 1, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return false;
        }
        if (n > 0 && static_cast<std::size_t>(n) <= MAX_REQUEST_LINE) {
            p.line.assign(buf.data(), static_cast<std::size_t>(n));
            complete = true;
        } else {
            bad = true;
        }
    }
    if (!complete && !bad) {
        return false; // the rest of the line is still coming
    }
    auto port = complete ? parse_connect_line(p.line)
                         : Result<std::uint32_t>(fail(Errc::invalid_argument, "no request line"));
    p.timer.cancel();
    if (!port) {
        ++stats.malformed;
        boost::system::error_code ec;
        p.stream.close(ec);
        pending.erase(it);
        return true;
    }
    HostRequest r;
    r.guest_port = *port;
    r.type = p.type;
    r.fd = UniqueFd(p.stream.release());
    pending.erase(it);
    ++stats.requests;
    if (request) {
        request(std::move(r));
    }
    return true;
}

UnixHost::UnixHost(std::shared_ptr<State> state) : state_(std::move(state)) { }

UnixHost::~UnixHost()
{
    state_->close();
}

Result<std::unique_ptr<UnixHost>> UnixHost::create(asio::io_context& io, UnixHostOptions options)
{
    if (options.max_pending == 0) {
        return fail(Errc::invalid_argument, "vsock: at least one pending client must be allowed");
    }
    auto state = std::make_shared<State>(io, std::move(options));
    auto host = std::unique_ptr<UnixHost>(new UnixHost(state));
    auto stream = VMM_TRY(listen_on(state->options.path, SocketType::stream));
    try {
        state->listeners.emplace_back(io, stream.release(), SocketType::stream, state->options.path);
    } catch (const std::exception& e) {
        return fail(Errc::io_error, "vsock: watching '{}': {}", state->options.path.native(), e.what());
    }
    if (state->options.seqpacket) {
        auto seq = VMM_TRY(listen_on(host->seqpacket_path(), SocketType::seqpacket));
        try {
            state->listeners.emplace_back(io, seq.release(), SocketType::seqpacket, host->seqpacket_path());
        } catch (const std::exception& e) {
            return fail(Errc::io_error, "vsock: watching '{}': {}", host->seqpacket_path().native(), e.what());
        }
    }
    try {
        for (auto& l : state->listeners) {
            state->arm_accept(l);
        }
    } catch (const std::exception& e) {
        return fail(Errc::io_error, "vsock: accepting on '{}': {}", state->options.path.native(), e.what());
    }
    return host;
}

std::filesystem::path UnixHost::port_path(std::uint32_t port) const
{
    return state_->options.path.native() + "_" + std::to_string(port);
}

std::filesystem::path UnixHost::seqpacket_path() const
{
    return state_->options.path.native() + "_seqpacket";
}

Result<UniqueFd> UnixHost::connect(std::uint32_t port, SocketType type)
{
    const std::filesystem::path path = port_path(port);
    const sockaddr_un addr = VMM_TRY(unix_address(path));
    UniqueFd fd(::socket(AF_UNIX, socket_kind(type) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        return fail_errno(errno, "socket(AF_UNIX)");
    }
    // A Unix connect completes at once or fails at once (EAGAIN: the listener's backlog is
    // full), so there is no connection in progress to wait for.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        return fail_errno(errno, "connecting to '{}'", path.native());
    }
    return fd;
}

Result<> UnixHost::start(std::function<void(HostRequest)> request)
{
    state_->request = std::move(request);
    state_->running = true;
    return {};
}

void UnixHost::stop() noexcept
{
    state_->running = false;
    state_->request = nullptr;
    state_->drop_pending();
}

std::string UnixHost::ok_line(std::uint32_t host_port) const
{
    return "OK " + std::to_string(host_port) + "\n";
}

std::string UnixHost::describe() const
{
    return "unix socket " + state_->options.path.native();
}

nlohmann::json UnixHost::status() const
{
    const auto& s = state_->stats;
    nlohmann::json j = {
        { "uds_path", state_->options.path.native() },
        { "pending_clients", state_->pending.size() },
        { "clients", { { "accepted", s.accepted }, { "requests", s.requests }, { "malformed", s.malformed },
                         { "timed_out", s.timed_out }, { "refused", s.refused } } },
    };
    if (state_->options.seqpacket) {
        j["seqpacket_path"] = seqpacket_path().native();
    }
    return j;
}

} // namespace vmm::virtio::vsock
