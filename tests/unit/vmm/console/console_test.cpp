// SPDX-License-Identifier: Apache-2.0
// Tests for the console backends through open_console: file, socket, pty, stdio and off.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/vmm/console/console_test_support.hpp"
#include "vmm/console/console.hpp"

using namespace vmm;
using namespace vmm::test;
using namespace std::chrono_literals;

namespace {

std::string file_contents(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

ConsoleSpec spec(ConsoleSpec::Mode mode, const std::filesystem::path& p = {}, bool read_stdin = false)
{
    ConsoleSpec s;
    s.mode = mode;
    s.path = p;
    s.read_stdin_when_not_tty = read_stdin;
    return s;
}

ConsoleSpec socket_spec(const std::filesystem::path& p)
{
    return spec(ConsoleSpec::Mode::socket, p);
}

// Collects what the console hands to the guest.
struct Input {
    std::string text;
    ConsoleCallbacks callbacks()
    {
        ConsoleCallbacks cb;
        cb.on_input = [this](std::span<const std::byte> data) {
            for (const auto b : data) {
                text.push_back(static_cast<char>(b));
            }
        };
        return cb;
    }
};

// Points stdin and stdout at pipes for the lifetime of the object. Catch2 prints to stdout,
// so tests assert only after this is gone.
struct StdioRedirect {
    Pipe in;
    Pipe out;
    int saved_in = ::dup(STDIN_FILENO);
    int saved_out = ::dup(STDOUT_FILENO);

    StdioRedirect()
    {
        std::cout.flush();
        std::fflush(stdout);
        ::dup2(in.read_end.get(), STDIN_FILENO);
        ::dup2(out.write_end.get(), STDOUT_FILENO);
        // The standard streams are blocking, as a shell hands them over.
        (void)::fcntl(STDIN_FILENO, F_SETFL, O_RDONLY);
        (void)::fcntl(STDOUT_FILENO, F_SETFL, O_WRONLY);
        in.read_end.reset();
        out.write_end.reset();
    }
    ~StdioRedirect()
    {
        ::dup2(saved_in, STDIN_FILENO);
        ::dup2(saved_out, STDOUT_FILENO);
        ::close(saved_in);
        ::close(saved_out);
    }
    StdioRedirect(const StdioRedirect&) = delete;
    StdioRedirect& operator=(const StdioRedirect&) = delete;
};

} // namespace

TEST_CASE("the file console truncates the file and writes the guest's bytes to it", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.log";
    std::ofstream(path) << "old contents, longer than the new";
    boost::asio::io_context io;
    {
        auto console = open_console(io, spec(ConsoleSpec::Mode::file, path), {});
        REQUIRE(console);
        (*console)->sink()->write(bytes("booted\r\n"));
    }
    CHECK(file_contents(path) == "booted\r\n");
}

TEST_CASE("a file console that cannot be created is an error naming the path", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "missing-dir" / "console.log";
    boost::asio::io_context io;
    auto console = open_console(io, spec(ConsoleSpec::Mode::file, path), {});
    REQUIRE_FALSE(console);
    CHECK_THAT(console.error().describe(), Catch::Contains(path.native()));
}

TEST_CASE("the off console discards output", "[console]")
{
    boost::asio::io_context io;
    auto console = open_console(io, spec(ConsoleSpec::Mode::off), {});
    REQUIRE(console);
    (*console)->sink()->write(bytes("ignored"));
    CHECK((*console)->dropped_output() == 0);
}

TEST_CASE("a socket client gets the backlog, then live output, and its input reaches the guest", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    boost::asio::io_context io;
    Input input;
    auto console = open_console(io, socket_spec(path), input.callbacks());
    REQUIRE(console);
    auto sink = (*console)->sink();
    sink->write(bytes("early "));

    auto client = connect_unix(path);
    REQUIRE(client);
    std::string got;
    CHECK(run_until(io, [&] {
        got += read_available(client.get());
        return got == "early ";
    }));
    sink->write(bytes("late"));
    CHECK(run_until(io, [&] {
        got += read_available(client.get());
        return got == "early late";
    }));
    REQUIRE(::send(client.get(), "typed", 5, MSG_NOSIGNAL) == 5);
    CHECK(run_until(io, [&] { return input.text == "typed"; }));
}

TEST_CASE("a second socket client is refused while one is connected, and served after it leaves", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    boost::asio::io_context io;
    auto console = open_console(io, socket_spec(path), {});
    REQUIRE(console);
    auto sink = (*console)->sink();
    sink->write(bytes("a"));
    auto first = connect_unix(path);
    REQUIRE(first);
    std::string first_got;
    REQUIRE(run_until(io, [&] {
        first_got += read_available(first.get());
        return first_got == "a";
    }));

    auto second = connect_unix(path);
    REQUIRE(second);
    const bool second_hung_up = run_until(io, [&] {
        char c = 0;
        return ::recv(second.get(), &c, 1, MSG_DONTWAIT) == 0;
    });
    CHECK(second_hung_up);

    first.reset();
    run_for(io, 50ms); // the console sees the hang-up
    sink->write(bytes("b"));
    auto third = connect_unix(path);
    REQUIRE(third);
    std::string third_got;
    CHECK(run_until(io, [&] {
        third_got += read_available(third.get());
        return third_got == "b";
    }));
}

TEST_CASE(
    "output written while no client is connected is bounded to the newest SOCKET_BACKLOG bytes", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    boost::asio::io_context io;
    auto console = open_console(io, socket_spec(path), {});
    REQUIRE(console);
    std::string sent;
    for (std::size_t i = 0; i < Console::SOCKET_BACKLOG + 100; ++i) {
        sent.push_back(static_cast<char>('a' + i % 26));
    }
    (*console)->sink()->write(bytes(sent));
    CHECK((*console)->dropped_output() == 100);

    auto client = connect_unix(path);
    REQUIRE(client);
    std::string got;
    CHECK(run_until(io, [&] {
        got += read_available(client.get());
        return got.size() >= Console::SOCKET_BACKLOG;
    }));
    CHECK(got == sent.substr(100));
}

TEST_CASE("a socket path longer than sun_path allows is an error naming the path", "[console]")
{
    boost::asio::io_context io;
    const std::filesystem::path path = "/tmp/" + std::string(sizeof(sockaddr_un::sun_path), 'x');
    auto console = open_console(io, socket_spec(path), {});
    REQUIRE_FALSE(console);
    CHECK_THAT(console.error().describe(), Catch::Contains(path.native()));
}

TEST_CASE("a socket path with a live console on it is reported as in use", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    boost::asio::io_context io;
    auto first = open_console(io, socket_spec(path), {});
    REQUIRE(first);
    auto second = open_console(io, socket_spec(path), {});
    REQUIRE_FALSE(second);
    CHECK(second.error().code == make_error_code(Errc::busy));
    CHECK_THAT(second.error().describe(), Catch::Contains(path.native()));
}

TEST_CASE("a stale socket file from an earlier run is replaced", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    {
        UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr {};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        // Safety: sockaddr_un is a sockaddr for AF_UNIX.
        REQUIRE(::bind(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0);
    } // closed without unlinking: the file stays, nothing listens
    boost::asio::io_context io;
    auto console = open_console(io, socket_spec(path), {});
    REQUIRE(console);
    (*console)->sink()->write(bytes("up"));
    auto client = connect_unix(path);
    REQUIRE(client);
    std::string got;
    CHECK(run_until(io, [&] {
        got += read_available(client.get());
        return got == "up";
    }));
}

TEST_CASE("a file that is not a socket at the socket path is left alone and reported", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    std::ofstream(path) << "precious";
    boost::asio::io_context io;
    auto console = open_console(io, socket_spec(path), {});
    REQUIRE_FALSE(console);
    CHECK_THAT(console.error().describe(), Catch::Contains(path.native()));
    CHECK(file_contents(path) == "precious");
}

TEST_CASE("closing the socket console removes its socket file", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    boost::asio::io_context io;
    {
        auto console = open_console(io, socket_spec(path), {});
        REQUIRE(console);
        CHECK(std::filesystem::is_socket(path));
    }
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("the stdio console writes to stdout and leaves a stdin that is not a terminal unread", "[console]")
{
    bool opened = false;
    bool stdout_nonblocking = true;
    std::string out;
    std::string unread;
    Input input;
    {
        StdioRedirect r;
        boost::asio::io_context io;
        {
            auto console = open_console(io, spec(ConsoleSpec::Mode::stdio), input.callbacks());
            opened = console.has_value();
            if (opened) {
                (void)::write(r.in.write_end.get(), "typed", 5);
                run_for(io, 30ms);
                (*console)->sink()->write(bytes("hello"));
                stdout_nonblocking = (::fcntl(STDOUT_FILENO, F_GETFL) & O_NONBLOCK) != 0;
            }
        }
        out = read_available(r.out.read_end.get());
        (void)::fcntl(STDIN_FILENO, F_SETFL, O_RDONLY | O_NONBLOCK);
        unread = read_available(STDIN_FILENO);
    }
    REQUIRE(opened);
    CHECK(out == "hello");
    CHECK(input.text.empty());
    CHECK(unread == "typed");
    CHECK_FALSE(stdout_nonblocking); // the shared description was not changed
}

TEST_CASE("asked to, the stdio console reads piped stdin, and its end leaves output working", "[console]")
{
    bool opened = false;
    bool got_input = false;
    std::string out;
    Input input;
    {
        StdioRedirect r;
        boost::asio::io_context io;
        {
            auto console = open_console(io, spec(ConsoleSpec::Mode::stdio, {}, true), input.callbacks());
            opened = console.has_value();
            if (opened) {
                (void)::write(r.in.write_end.get(), "typed", 5);
                r.in.write_end.reset(); // end of input
                got_input = run_until(io, [&] { return input.text == "typed"; });
                run_for(io, 20ms);
                (*console)->sink()->write(bytes("still here"));
            }
        }
        out = read_available(r.out.read_end.get());
    }
    REQUIRE(opened);
    CHECK(got_input);
    CHECK(out == "still here");
}

TEST_CASE("a socket console reports its client coming and going, and connected() follows", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    boost::asio::io_context io;
    std::vector<bool> events;
    ConsoleCallbacks cb;
    cb.on_connection = [&](bool c) { events.push_back(c); };
    auto console = open_console(io, socket_spec(path), cb);
    REQUIRE(console);
    const bool before = (*console)->connected();

    auto client = connect_unix(path);
    REQUIRE(client);
    const bool came = run_until(io, [&] { return events.size() == 1; });
    const bool during = (*console)->connected();
    client.reset();
    const bool went = run_until(io, [&] { return events.size() == 2; });

    CHECK_FALSE(before);
    CHECK(came);
    CHECK(during);
    CHECK(went);
    CHECK(events == std::vector<bool> { true, false });
    CHECK_FALSE((*console)->connected());
}

TEST_CASE("a paused socket console leaves its client's input in the socket until resumed", "[console]")
{
    TempDir dir;
    const auto path = dir.path / "console.sock";
    boost::asio::io_context io;
    Input input;
    auto console = open_console(io, socket_spec(path), input.callbacks());
    REQUIRE(console);
    (*console)->set_input_paused(true); // applies to clients that connect later, too

    auto client = connect_unix(path);
    REQUIRE(client);
    REQUIRE(::send(client.get(), "held", 4, MSG_NOSIGNAL) == 4);
    run_for(io, 50ms);
    const std::string while_paused = input.text;
    (*console)->set_input_paused(false);

    CHECK(while_paused.empty());
    CHECK(run_until(io, [&] { return input.text == "held"; }));
}

TEST_CASE("a pty console names its slave side, which passes bytes both ways unchanged", "[console]")
{
    boost::asio::io_context io;
    Input input;
    auto console = open_console(io, spec(ConsoleSpec::Mode::pty), input.callbacks());
    REQUIRE(console);
    const auto path = (*console)->pty_path();
    REQUIRE_FALSE(path.empty());
    const UniqueFd slave(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(slave);

    (*console)->sink()->write(bytes("out\r\n"));
    REQUIRE(::write(slave.get(), "in\n", 3) == 3);
    std::string out;
    const bool output_arrived = run_until(io, [&] {
        out += read_available(slave.get());
        return out == "out\r\n";
    });
    const bool input_arrived = run_until(io, [&] { return input.text == "in\n"; });

    CHECK((*console)->connected());
    CHECK(output_arrived);
    CHECK(input_arrived);
}

TEST_CASE("a pty console keeps working after a terminal program closes the slave side", "[console]")
{
    boost::asio::io_context io;
    Input input;
    auto console = open_console(io, spec(ConsoleSpec::Mode::pty), input.callbacks());
    REQUIRE(console);
    const auto path = (*console)->pty_path();
    {
        const UniqueFd first(::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(first);
    }
    run_for(io, 20ms);
    const UniqueFd second(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(second);

    REQUIRE(::write(second.get(), "again", 5) == 5);

    CHECK(run_until(io, [&] { return input.text == "again"; }));
}
