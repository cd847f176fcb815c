// SPDX-License-Identifier: Apache-2.0
// The socket console: a Unix stream socket server, one client at a time.
#include "vmm/console/socket_console.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>

#include <boost/asio/local/stream_protocol.hpp>
#include <spdlog/spdlog.h>

#include "vmm/console/fd_reader.hpp"
#include "vmm/console/stream_sink.hpp"

namespace vmm {

namespace {

using boost::asio::local::stream_protocol;

constexpr int LISTEN_BACKLOG = 4;

// Shared with the accept and read handlers, which hold it alive; loop thread only.
struct SocketState : std::enable_shared_from_this<SocketState> {
    SocketState(boost::asio::io_context& context, ConsoleCallbacks cb, std::shared_ptr<StreamSink> s)
        : io(context)
        , acceptor(context)
        , callbacks(std::move(cb))
        , sink(std::move(s))
    {
    }

    void accept()
    {
        acceptor.async_accept(
            [self = shared_from_this()](const boost::system::error_code& ec, stream_protocol::socket s) {
                if (self->closed || ec == boost::asio::error::operation_aborted) {
                    return;
                }
                if (ec) {
                    spdlog::debug("console socket: accept failed: {}", ec.message());
                } else if (self->client) {
                    boost::system::error_code ignored;
                    s.close(ignored); // one client at a time
                } else {
                    self->connect(std::move(s));
                }
                self->accept();
            });
    }

    void connect(stream_protocol::socket s)
    {
        // The reader and the sink each own a descriptor for the connection: the sink's writes
        // (vCPU threads) and the reader's reads (loop) then never share an Asio object.
        boost::system::error_code ec;
        UniqueFd read_fd(s.release(ec));
        UniqueFd write_fd(read_fd ? ::fcntl(read_fd.get(), F_DUPFD_CLOEXEC, 0) : -1);
        if (ec || !write_fd) {
            spdlog::warn("console socket: cannot take over the client's descriptor; hanging up");
            return;
        }
        spdlog::debug("console socket: client connected");
        sink->attach(std::move(write_fd)); // sends the backlog first
        std::weak_ptr<SocketState> weak = weak_from_this();
        client = FdReader::start(
            io, std::move(read_fd),
            [weak](std::span<const std::byte> data) {
                auto self = weak.lock();
                if (self && self->callbacks.on_input) {
                    self->callbacks.on_input(data);
                }
            },
            [weak] {
                if (auto self = weak.lock()) {
                    self->disconnect();
                }
            });
        if (input_paused) {
            client->pause(); // before any of the client's input can be handed over
        }
        if (callbacks.on_connection) {
            callbacks.on_connection(true);
        }
    }

    void disconnect()
    {
        spdlog::debug("console socket: client disconnected");
        sink->detach(); // unsent output stays as backlog for the next client
        if (client) {
            client->stop();
            client.reset();
        }
        if (callbacks.on_connection) {
            callbacks.on_connection(false);
        }
    }

    void set_input_paused(bool paused)
    {
        input_paused = paused;
        if (!client) {
            return;
        }
        if (paused) {
            client->pause();
        } else {
            client->resume();
        }
    }

    boost::asio::io_context& io;
    stream_protocol::acceptor acceptor;
    ConsoleCallbacks callbacks;
    std::shared_ptr<StreamSink> sink;
    std::shared_ptr<FdReader> client;
    bool closed = false;
    bool input_paused = false; // applies to the current client and to later ones
};

class SocketConsole final : public Console {
public:
    SocketConsole(std::shared_ptr<SocketState> state, std::filesystem::path path)
        : state_(std::move(state))
        , path_(std::move(path))
    {
    }

    ~SocketConsole() override
    {
        state_->closed = true;
        boost::system::error_code ec;
        state_->acceptor.close(ec);
        if (state_->client) {
            state_->client->stop();
            state_->client.reset();
        }
        state_->sink->close(CLOSE_TIMEOUT);
        ::unlink(path_.c_str());
    }

    SocketConsole(const SocketConsole&) = delete;
    SocketConsole& operator=(const SocketConsole&) = delete;

    [[nodiscard]] std::shared_ptr<CharSink> sink() const override { return state_->sink; }
    [[nodiscard]] std::uint64_t dropped_output() const override { return state_->sink->dropped(); }
    [[nodiscard]] bool connected() const override { return state_->client != nullptr; }
    void set_input_paused(bool paused) override { state_->set_input_paused(paused); }

private:
    std::shared_ptr<SocketState> state_;
    std::filesystem::path path_;
};

} // namespace

Result<std::unique_ptr<Console>> open_socket_console(
    boost::asio::io_context& io, const std::filesystem::path& path, ConsoleCallbacks callbacks)
{
    if (path.empty()) {
        return fail(Errc::invalid_argument, "the socket console needs a path");
    }
    if (path.native().size() >= sizeof(sockaddr_un::sun_path)) {
        return fail(Errc::invalid_argument, "console socket path {} is longer than {} bytes", path.native(),
            sizeof(sockaddr_un::sun_path) - 1);
    }
    auto sink = StreamSink::create(io,
        StreamSink::Options { .limit = StreamSink::DEFAULT_LIMIT,
            .backlog = Console::SOCKET_BACKLOG,
            .name = "console socket" });
    auto state = std::make_shared<SocketState>(io, std::move(callbacks), std::move(sink));

    boost::system::error_code ec;
    // A socket file left by an earlier run is replaced only when nothing answers on it.
    if (std::filesystem::is_socket(path, ec)) {
        stream_protocol::socket probe(io);
        probe.connect(stream_protocol::endpoint(path.native()), ec);
        if (!ec) {
            return fail(Errc::busy, "console socket {} is in use by another process", path.native());
        }
        ::unlink(path.c_str());
    }
    state->acceptor.open(stream_protocol(), ec);
    if (!ec) {
        state->acceptor.bind(stream_protocol::endpoint(path.native()), ec);
        if (!ec) {
            state->acceptor.listen(LISTEN_BACKLOG, ec);
            if (ec) {
                ::unlink(path.c_str()); // bound, so the file is ours
            }
        }
    }
    if (ec) {
        return fail(Errc::io_error, "cannot listen on console socket {}: {}", path.native(), ec.message());
    }
    state->accept();
    return std::unique_ptr<Console>(std::make_unique<SocketConsole>(std::move(state), path));
}

} // namespace vmm
