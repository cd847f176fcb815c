// SPDX-License-Identifier: Apache-2.0
// Tests for StreamSink: direct writes, bounded queueing, backlog, failures and close.
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/vmm/console/console_test_support.hpp"
#include "vmm/console/stream_sink.hpp"

using namespace vmm;
using namespace vmm::test;
using namespace std::chrono_literals;

namespace {

std::string pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + i % 26);
    }
    return s;
}

} // namespace

TEST_CASE("a sink whose reader keeps up writes straight to the descriptor", "[console]")
{
    boost::asio::io_context io;
    Pipe pipe;
    auto sink = StreamSink::create(io, {});
    sink->attach(std::move(pipe.write_end));

    sink->write(bytes("hello"));

    CHECK(read_available(pipe.read_end.get()) == "hello");
    CHECK(sink->queued() == 0);
    CHECK(sink->dropped() == 0);
    sink->close(0ms);
}

TEST_CASE("a reader that never reads does not block write; bytes past the limit are dropped and counted",
    "[console]")
{
    boost::asio::io_context io;
    Pipe pipe(4096);
    constexpr std::size_t LIMIT = 8192;
    constexpr std::size_t CHUNK = 1024;
    constexpr std::size_t TOTAL = 1024 * 1024;
    auto sink = StreamSink::create(io, StreamSink::Options { .limit = LIMIT, .backlog = 0, .name = "test" });
    sink->attach(std::move(pipe.write_end));
    const std::string chunk(CHUNK, 'x');

    // On a thread, so that a write that blocks fails the test instead of hanging it.
    std::promise<void> done;
    auto finished = done.get_future();
    std::thread writer([&sink, &chunk, &done] {
        for (std::size_t i = 0; i < TOTAL / CHUNK; ++i) {
            sink->write(bytes(chunk));
        }
        done.set_value();
    });
    const bool returned = finished.wait_for(5s) == std::future_status::ready;
    if (!returned) {
        writer.detach();
        FAIL("write() blocked on a reader that does not read");
    }
    writer.join();

    const std::size_t in_pipe = read_available(pipe.read_end.get()).size();
    CHECK(sink->queued() == LIMIT);
    CHECK(sink->dropped() > 0);
    CHECK(sink->dropped() + sink->queued() + in_pipe == TOTAL);
    sink->close(0ms);
}

TEST_CASE("queued output reaches a slow reader complete and in order once it reads", "[console]")
{
    boost::asio::io_context io;
    Pipe pipe(4096);
    auto sink
        = StreamSink::create(io, StreamSink::Options { .limit = 64 * 1024, .backlog = 0, .name = "test" });
    sink->attach(std::move(pipe.write_end));
    const std::string sent = pattern(20000);
    for (std::size_t off = 0; off < sent.size(); off += 1000) {
        sink->write(bytes(std::string_view(sent).substr(off, 1000)));
    }
    REQUIRE(sink->queued() > 0);

    std::string received;
    const bool all = run_until(io, [&] {
        received += read_available(pipe.read_end.get());
        return received.size() >= sent.size();
    });

    CHECK(all);
    CHECK(received == sent);
    CHECK(sink->dropped() == 0);
    sink->close(0ms);
}

TEST_CASE("writes from several threads while the loop sends the queue arrive whole and in order", "[console]")
{
    boost::asio::io_context io;
    Pipe pipe(4096);
    auto sink
        = StreamSink::create(io, StreamSink::Options { .limit = 1024 * 1024, .backlog = 0, .name = "test" });
    sink->attach(std::move(pipe.write_end));
    constexpr int WRITERS = 4;
    constexpr int RECORDS = 2000;
    constexpr std::size_t RECORD = 8; // "w" + writer + 5-digit sequence + "\n"
    std::atomic<int> running { WRITERS };
    std::vector<std::thread> writers;
    for (int w = 0; w < WRITERS; ++w) {
        writers.emplace_back([&sink, &running, w] {
            for (int i = 0; i < RECORDS; ++i) {
                std::array<char, RECORD + 1> rec {};
                std::snprintf(rec.data(), rec.size(), "w%d%05d\n", w, i);
                sink->write(bytes(std::string_view(rec.data(), RECORD)));
            }
            --running;
        });
    }
    std::string received;
    const bool all = run_until(io, [&] {
        received += read_available(pipe.read_end.get());
        return running == 0 && received.size() >= WRITERS * RECORDS * RECORD;
    });
    for (auto& t : writers) {
        t.join();
    }

    CHECK(all);
    REQUIRE(received.size() == WRITERS * RECORDS * RECORD);
    std::array<int, WRITERS> next {};
    bool in_order = true;
    for (std::size_t off = 0; off < received.size(); off += RECORD) {
        const int w = received[off + 1] - '0';
        const int seq = std::stoi(received.substr(off + 2, 5));
        if (w < 0 || w >= WRITERS || seq != next[static_cast<std::size_t>(w)]) {
            in_order = false;
            break;
        }
        ++next[static_cast<std::size_t>(w)];
    }
    CHECK(in_order);
    CHECK(sink->dropped() == 0);
    sink->close(0ms);
}

TEST_CASE("with nothing attached the sink keeps the newest backlog bytes and sends them first", "[console]")
{
    boost::asio::io_context io;
    auto sink = StreamSink::create(io, StreamSink::Options { .limit = 1024, .backlog = 8, .name = "test" });
    sink->write(bytes("0123456789ab"));
    CHECK(sink->queued() == 8);
    CHECK(sink->dropped() == 4);

    Pipe pipe;
    sink->attach(std::move(pipe.write_end));
    sink->write(bytes("cd"));

    CHECK(read_available(pipe.read_end.get()) == "456789abcd");
    sink->close(0ms);
}

TEST_CASE(
    "a consumer that hangs up stops the output without a signal and later bytes are dropped", "[console]")
{
    boost::asio::io_context io;
    std::array<int, 2> sv {};
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv.data()) == 0);
    UniqueFd ours(sv[0]);
    ::close(sv[1]);
    auto sink = StreamSink::create(io, StreamSink::Options { .limit = 1024, .backlog = 0, .name = "test" });
    sink->attach(std::move(ours));

    sink->write(bytes("x"));
    run_for(io, 20ms);
    sink->write(bytes("y"));

    CHECK_FALSE(sink->attached());
    CHECK(sink->dropped() == 2);
    sink->close(0ms);
}

TEST_CASE("close gives queued bytes to a reader that catches up, then closes the descriptor", "[console]")
{
    boost::asio::io_context io;
    Pipe pipe(4096);
    auto sink
        = StreamSink::create(io, StreamSink::Options { .limit = 64 * 1024, .backlog = 0, .name = "test" });
    sink->attach(std::move(pipe.write_end));
    const std::string sent = pattern(12000);
    sink->write(bytes(sent));
    REQUIRE(sink->queued() > 0);

    std::string received;
    std::thread reader([&received, fd = pipe.read_end.get()] {
        std::this_thread::sleep_for(20ms);
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        for (;;) {
            std::array<char, 4096> buf {};
            const ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n == 0 || std::chrono::steady_clock::now() > deadline) {
                return; // end of file: the sink closed its end
            }
            if (n > 0) {
                received.append(buf.data(), static_cast<std::size_t>(n));
            } else {
                std::this_thread::sleep_for(1ms);
            }
        }
    });
    sink->close(2000ms);
    reader.join();

    CHECK(received == sent);
    CHECK(sink->dropped() == 0);
}

TEST_CASE("after close, writes are dropped and counted", "[console]")
{
    boost::asio::io_context io;
    Pipe pipe;
    auto sink = StreamSink::create(io, {});
    sink->attach(std::move(pipe.write_end));
    sink->close(0ms);

    sink->write(bytes("abc"));

    CHECK(sink->dropped() == 3);
    CHECK(read_available(pipe.read_end.get()).empty());
}
