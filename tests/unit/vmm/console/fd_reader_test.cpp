// SPDX-License-Identifier: Apache-2.0
// FdReader: pause and resume hold input in the descriptor and lose none of it.
#include <unistd.h>

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/vmm/console/console_test_support.hpp"
#include "vmm/console/fd_reader.hpp"

using namespace vmm;
using namespace vmm::test;
using namespace std::chrono_literals;

namespace {

struct Collected {
    std::string text;
    int calls = 0;
    FdReader::DataHandler handler()
    {
        return [this](std::span<const std::byte> data) {
            ++calls;
            for (const auto b : data) {
                text.push_back(static_cast<char>(b));
            }
        };
    }
};

} // namespace

TEST_CASE("a paused reader hands nothing over and reads nothing until resumed", "[console][fd_reader]")
{
    boost::asio::io_context io;
    Pipe pipe;
    Collected got;
    auto reader = FdReader::start(io, std::move(pipe.read_end), got.handler(), {});
    reader->pause();

    REQUIRE(::write(pipe.write_end.get(), "abc", 3) == 3);
    run_for(io, 30ms);
    const std::string while_paused = got.text;
    reader->resume();
    const bool arrived = run_until(io, [&] { return got.text == "abc"; });
    reader->stop();

    CHECK(while_paused.empty());
    CHECK(arrived);
}

TEST_CASE(
    "a chunk already read when the consumer pauses is handed over once, after resume", "[console][fd_reader]")
{
    boost::asio::io_context io;
    Pipe pipe;
    Collected got;
    std::shared_ptr<FdReader> reader;
    // The consumer pauses from inside its handler after the first chunk, as a device does
    // when the guest has no room left.
    reader = FdReader::start(io, std::move(pipe.read_end),
        [&](std::span<const std::byte> data) {
            got.handler()(data);
            reader->pause();
        },
        {});
    REQUIRE(::write(pipe.write_end.get(), "one", 3) == 3);
    REQUIRE(run_until(io, [&] { return got.text == "one"; }));
    REQUIRE(::write(pipe.write_end.get(), "two", 3) == 3);
    run_for(io, 30ms);
    const std::string while_paused = got.text;

    reader->resume();
    const bool second = run_until(io, [&] { return got.text == "onetwo"; });
    run_for(io, 20ms);
    reader->stop();

    CHECK(while_paused == "one");
    CHECK(second);
    CHECK(got.text == "onetwo");
    CHECK(got.calls == 2);
}

TEST_CASE("resume called twice in a row does not start a second read", "[console][fd_reader]")
{
    boost::asio::io_context io;
    Pipe pipe;
    Collected got;
    auto reader = FdReader::start(io, std::move(pipe.read_end), got.handler(), {});
    reader->pause();
    reader->resume();
    reader->resume();
    reader->pause();
    reader->resume();

    REQUIRE(::write(pipe.write_end.get(), "xyz", 3) == 3);
    const bool arrived = run_until(io, [&] { return got.text == "xyz"; });
    run_for(io, 20ms);
    reader->stop();

    CHECK(arrived);
    CHECK(got.text == "xyz");
}

TEST_CASE("end of file while paused still ends the reader", "[console][fd_reader]")
{
    boost::asio::io_context io;
    Pipe pipe;
    Collected got;
    bool ended = false;
    auto reader = FdReader::start(io, std::move(pipe.read_end), got.handler(), [&] { ended = true; });
    reader->pause();

    pipe.write_end.reset();
    const bool saw_end = run_until(io, [&] { return ended; });

    CHECK(saw_end);
    CHECK(got.text.empty());
}
