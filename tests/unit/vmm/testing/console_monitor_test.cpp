// SPDX-License-Identifier: Apache-2.0
// ConsoleMonitor: bytes pass through unchanged, a copy lands in the log, lines are read.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "vmm/testing/console_monitor.hpp"

using namespace vmm::testing;
namespace fs = std::filesystem;

namespace {

class CollectSink final : public vmm::CharSink {
public:
    void write(std::span<const std::byte> data) noexcept override
    {
        std::lock_guard lock(mutex);
        text.append(reinterpret_cast<const char*>(data.data()), data.size());
    }
    std::mutex mutex;
    std::string text;
};

void put(ConsoleMonitor& m, std::string_view s)
{
    m.write(std::as_bytes(std::span(s.data(), s.size())));
}

fs::path temp_path(const char* name)
{
    return fs::temp_directory_path() / (std::string("vireo-monitor-") + std::to_string(::getpid()) + "-" + name);
}

std::string read_all(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

TEST_CASE("the monitor forwards every byte, logs them, and reads KTAP and kernel reports", "[testing][monitor]")
{
    const fs::path log = temp_path("log");
    auto m = ConsoleMonitor::create(log);
    REQUIRE(m);
    auto next = std::make_shared<CollectSink>();
    (*m)->set_next(next);
    const std::string out = "[    1.0] KTAP version 1\r\n[    1.1] 1..1\r\n[    1.2] not ok 1 broken\r\n"
                            "[    2.0] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x1\r\n[    2.1] ---[ end trace 0 ]---\r\nno newline";
    // Byte by byte, as the UART delivers it.
    for (char c : out) {
        put(**m, std::string_view(&c, 1));
    }
    const ConsoleFindings f = (*m)->finish();
    CHECK(next->text == out);
    CHECK(read_all(log) == out);
    CHECK(f.bytes == out.size());
    CHECK(f.lines == 6);
    REQUIRE(f.ktap.size() == 1);
    CHECK(f.ktap[0].result == KtapResult::fail);
    REQUIRE(f.failures.size() == 1);
    CHECK(f.failures[0].kind == KernelFailureKind::warning);
    CHECK(f.tail.back() == "no newline");
    CHECK(f.tail.front() == "[    1.0] KTAP version 1"); // \r removed
    fs::remove(log);
}

TEST_CASE("the monitor keeps a bounded tail and splits endless lines", "[testing][monitor]")
{
    auto m = ConsoleMonitor::create(std::nullopt);
    REQUIRE(m);
    for (int i = 0; i < 500; ++i) {
        put(**m, "line " + std::to_string(i) + "\n");
    }
    put(**m, std::string(ConsoleMonitor::MAX_LINE * 3, 'z'));
    const auto f = (*m)->finish();
    CHECK(f.tail.size() == ConsoleMonitor::TAIL_LINES);
    CHECK(f.lines == 503);
    CHECK(f.tail.back().size() == ConsoleMonitor::MAX_LINE);
}

TEST_CASE("the monitor takes writes from several threads at once", "[testing][monitor]")
{
    auto m = ConsoleMonitor::create(std::nullopt);
    REQUIRE(m);
    auto next = std::make_shared<CollectSink>();
    (*m)->set_next(next);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&m] {
            for (int i = 0; i < 1000; ++i) {
                put(**m, "x\n");
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const auto f = (*m)->finish();
    CHECK(f.lines == 4000);
    CHECK(next->text.size() == 8000);
}

TEST_CASE("a console log that cannot be created is an error naming it", "[testing][monitor]")
{
    auto m = ConsoleMonitor::create(fs::path("/nonexistent-dir/console.log"));
    REQUIRE_FALSE(m);
    CHECK(m.error().describe().find("/nonexistent-dir/console.log") != std::string::npos);
}

TEST_CASE("printable_text keeps UTF-8 and tabs, replaces controls and broken sequences", "[testing][monitor]")
{
    CHECK(printable_text("ok\tgrüße €") == "ok\tgrüße €");
    CHECK(printable_text(std::string("a\x1b[1mb", 6)) == "a\xef\xbf\xbd[1mb");
    CHECK(printable_text("\xc3") == "\xef\xbf\xbd");               // cut sequence
    CHECK(printable_text("\xc0\xaf") == "\xef\xbf\xbd\xef\xbf\xbd"); // overlong
    CHECK(printable_text("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); // surrogate
    CHECK(printable_text(std::string("\0", 1)) == "\xef\xbf\xbd");
}

TEST_CASE("clip_text cuts before a character, never inside one", "[testing][monitor]")
{
    CHECK(clip_text("abc", 5) == "abc");
    CHECK(clip_text("abcdef", 3) == "abc");
    CHECK(clip_text("ab\xef\xbf\xbd", 4) == "ab");        // U+FFFD would be split
    CHECK(clip_text("ab\xef\xbf\xbdz", 5) == "ab\xef\xbf\xbd");
    CHECK(clip_text("\xc3\xa9\xc3\xa9", 3) == "\xc3\xa9");
}
