// SPDX-License-Identifier: Apache-2.0
// API socket server.
#include "vmm/api/api_server.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

namespace vmm {

using boost::asio::local::stream_protocol;

struct ApiServer::State : std::enable_shared_from_this<ApiServer::State> {
    State(boost::asio::io_context& io, Handler h) : acceptor(io), handler(std::move(h)) {}
    stream_protocol::acceptor acceptor;
    Handler handler;
    std::size_t clients = 0;
    bool closed = false;

    void accept();
};

namespace {

struct Session : std::enable_shared_from_this<Session> {
    Session(stream_protocol::socket s, std::shared_ptr<ApiServer::State> st)
        : socket(std::move(s))
        , buffer(ApiServer::MAX_REQUEST_BYTES)
        , state(std::move(st))
    {
    }
    ~Session() { --state->clients; }

    void read()
    {
        boost::asio::async_read_until(socket, buffer, '\n',
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                self->on_line(ec, n);
            });
    }

    void on_line(const boost::system::error_code& ec, std::size_t n)
    {
        if (state->closed) {
            return;
        }
        if (ec == boost::asio::error::not_found) {
            // A line longer than the limit: answer once and hang up.
            reply = R"({"ok": false, "error": "request line longer than 64 KiB"})"
                    "\n";
            boost::asio::async_write(socket, boost::asio::buffer(reply),
                [self = shared_from_this()](const boost::system::error_code&, std::size_t) { });
            return;
        }
        if (ec) {
            return; // client went away
        }
        std::string line(boost::asio::buffers_begin(buffer.data()),
            boost::asio::buffers_begin(buffer.data()) + static_cast<std::ptrdiff_t>(n));
        buffer.consume(n);
        reply = ApiServer::handle_line(line, state->handler) + "\n";
        boost::asio::async_write(socket, boost::asio::buffer(reply),
            [self = shared_from_this()](const boost::system::error_code& wec, std::size_t) {
                if (!wec) {
                    self->read();
                }
            });
    }

    stream_protocol::socket socket;
    boost::asio::streambuf buffer;
    std::shared_ptr<ApiServer::State> state;
    std::string reply;
};

} // namespace

void ApiServer::State::accept()
{
    acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& ec, stream_protocol::socket s) {
        if (self->closed || ec == boost::asio::error::operation_aborted) {
            return;
        }
        if (!ec) {
            if (self->clients >= MAX_CLIENTS) {
                s.close(); // bounded: a runaway client script cannot exhaust fds
            } else {
                ++self->clients;
                std::make_shared<Session>(std::move(s), self)->read();
            }
        }
        self->accept();
    });
}

std::string ApiServer::handle_line(const std::string& line, const Handler& handler)
{
    nlohmann::json reply;
    try {
        auto request = nlohmann::json::parse(line);
        if (!request.is_object() || !request.contains("command") || !request["command"].is_string()) {
            reply = { { "ok", false }, { "error", R"(a request is a JSON object with a string "command")" } };
        } else {
            auto result = handler(request["command"].get<std::string>(), request);
            if (result) {
                reply = { { "ok", true }, { "result", std::move(result).value() } };
            } else {
                reply = { { "ok", false }, { "error", result.error().describe() } };
            }
        }
    } catch (const nlohmann::json::exception& e) {
        reply = { { "ok", false }, { "error", std::string("bad JSON: ") + e.what() } };
    }
    return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::unique_ptr<ApiServer>> ApiServer::open(
    boost::asio::io_context& io, const std::filesystem::path& path, Handler handler)
{
    if (path.native().size() >= sizeof(sockaddr_un::sun_path)) {
        return fail(Errc::invalid_argument, "API socket path {} is longer than {} bytes", path.native(),
            sizeof(sockaddr_un::sun_path) - 1);
    }
    auto state = std::make_shared<State>(io, std::move(handler));
    boost::system::error_code ec;
    // A socket file left by an earlier run is replaced only when nothing answers on it.
    if (std::filesystem::is_socket(path, ec)) {
        stream_protocol::socket probe(io);
        probe.connect(stream_protocol::endpoint(path.native()), ec);
        if (!ec) {
            return fail(Errc::busy, "API socket {} is in use by another process", path.native());
        }
        ::unlink(path.c_str());
    }
    state->acceptor.open(stream_protocol(), ec);
    if (!ec) {
        state->acceptor.bind(stream_protocol::endpoint(path.native()), ec);
    }
    if (!ec) {
        state->acceptor.listen(static_cast<int>(MAX_CLIENTS), ec);
    }
    if (ec) {
        return fail(Errc::io_error, "cannot listen on API socket {}: {}", path.native(), ec.message());
    }
    state->accept();
    return std::unique_ptr<ApiServer>(new ApiServer(std::move(state), path));
}

ApiServer::ApiServer(std::shared_ptr<State> state, std::filesystem::path path)
    : state_(std::move(state))
    , path_(std::move(path))
{
}

ApiServer::~ApiServer()
{
    state_->closed = true;
    boost::system::error_code ec;
    state_->acceptor.close(ec);
    ::unlink(path_.c_str());
}

} // namespace vmm
