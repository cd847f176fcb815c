// SPDX-License-Identifier: Apache-2.0
// virtio-vsock's pieces without the device: credit arithmetic, the Unix-socket host end and
// the config keys.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/params_test_support.hpp"
#include "virtio/devices/vsock/credit.hpp"
#include "virtio/devices/vsock/unix_host.hpp"
#include "virtio/devices/vsock/vsock_config.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::vsock;

namespace {

// A private directory for sockets, removed afterwards.
struct TempDir {
    TempDir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "vireo-vsock-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::filesystem::path path;
};

UniqueFd connect_to(const std::filesystem::path& p, int kind = SOCK_STREAM)
{
    UniqueFd fd(::socket(AF_UNIX, kind | SOCK_CLOEXEC, 0));
    sockaddr_un a {};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, p.c_str(), sizeof(a.sun_path) - 1);
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    return fd;
}

UniqueFd listen_at(const std::filesystem::path& p, int kind = SOCK_STREAM)
{
    UniqueFd fd(::socket(AF_UNIX, kind | SOCK_CLOEXEC, 0));
    sockaddr_un a {};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, p.c_str(), sizeof(a.sun_path) - 1);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(fd.get(), 4) == 0);
    return fd;
}

void run(EventLoop& loop)
{
    for (int i = 0; i < 50; ++i) {
        loop.io().restart();
        if (loop.io().poll() == 0) {
            ::usleep(1000);
            loop.io().restart();
            if (loop.io().poll() == 0) {
                return;
            }
        }
    }
}

} // namespace

TEST_CASE("vsock credit: peer_free follows buf_alloc, fwd_cnt and what was sent, across wrap", "[vsock]")
{
    PeerCredit p;
    CHECK(p.free() == 0); // nothing announced yet
    p.update(1000, 0);
    CHECK(p.free() == 1000);
    p.sent(600);
    CHECK(p.free() == 400);
    p.update(1000, 500);
    CHECK(p.free() == 900);
    p.update(100, 500); // the guest shrank its buffer below what is in flight
    CHECK(p.free() == 0);
    // Counters wrap at 2^32 as on the wire.
    PeerCredit w;
    w.tx_cnt = 0xfffffff0U;
    w.update(64, 0xfffffff0U);
    w.sent(32);
    CHECK(w.tx_cnt == 0x10U);
    CHECK(w.free() == 32);
    w.update(64, 0x10U);
    CHECK(w.free() == 64);
}

TEST_CASE("vsock credit: the device's buffer admits what fits and asks for updates when low", "[vsock]")
{
    LocalCredit l;
    l.buf_alloc = 1000;
    CHECK(l.admits(1000));
    CHECK_FALSE(l.admits(1001));
    l.received(800);
    CHECK(l.buffered() == 800);
    CHECK(l.admits(200));
    CHECK_FALSE(l.admits(201));
    CHECK_FALSE(l.update_due()); // nothing forwarded yet
    l.forwarded(700);
    CHECK(l.update_due()); // the guest believes 200 free, 900 are
    l.announced = l.fwd_cnt;
    CHECK_FALSE(l.update_due());
    // Wrap.
    LocalCredit w;
    w.buf_alloc = 100;
    w.rx_cnt = w.fwd_cnt = w.announced = 0xffffffceU;
    w.received(100);
    CHECK(w.buffered() == 100);
    CHECK_FALSE(w.admits(1));
    w.forwarded(100);
    CHECK(w.admits(100));
    CHECK(w.update_due());
}

TEST_CASE("vsock host: the CONNECT line", "[vsock]")
{
    CHECK(parse_connect_line("CONNECT 1234\n").value() == 1234);
    CHECK(parse_connect_line("CONNECT 4294967295").value() == 4294967295U);
    CHECK_FALSE(parse_connect_line("CONNECT 4294967296\n"));
    CHECK_FALSE(parse_connect_line("CONNECT \n"));
    CHECK_FALSE(parse_connect_line("CONNECT -1\n"));
    CHECK_FALSE(parse_connect_line("CONNECT 12 \n"));
    CHECK_FALSE(parse_connect_line("connect 12\n"));
    CHECK_FALSE(parse_connect_line("CONNECT 0x10\n"));
    CHECK_FALSE(parse_connect_line(""));
}

TEST_CASE("vsock host: requests on the Unix socket reach the device with the bytes after them", "[vsock]")
{
    TempDir dir;
    EventLoop loop;
    auto host = UnixHost::create(loop.io(), UnixHostOptions { dir.path / "v.sock", true, 4 });
    REQUIRE(host);
    std::vector<HostRequest> got;
    REQUIRE((*host)->start([&](HostRequest r) { got.push_back(std::move(r)); }));

    UniqueFd a = connect_to(dir.path / "v.sock");
    // The request and the first payload in one write: the payload stays for the connection.
    const std::string first = "CONNECT 52\npayload";
    REQUIRE(::write(a.get(), first.data(), first.size()) == static_cast<ssize_t>(first.size()));
    run(loop);
    REQUIRE(got.size() == 1);
    CHECK(got[0].guest_port == 52);
    CHECK(got[0].type == SocketType::stream);
    char buf[32];
    CHECK(::recv(got[0].fd.get(), buf, sizeof(buf), MSG_DONTWAIT) == 7);

    // A request in pieces.
    UniqueFd b = connect_to(dir.path / "v.sock");
    REQUIRE(::write(b.get(), "CONN", 4) == 4);
    run(loop);
    CHECK(got.size() == 1);
    REQUIRE(::write(b.get(), "ECT 9\n", 6) == 6);
    run(loop);
    REQUIRE(got.size() == 2);
    CHECK(got[1].guest_port == 9);

    // SEQPACKET clients have their own socket; the request is one message.
    UniqueFd s = connect_to(dir.path / "v.sock_seqpacket", SOCK_SEQPACKET);
    REQUIRE(::send(s.get(), "CONNECT 77", 10, 0) == 10);
    run(loop);
    REQUIRE(got.size() == 3);
    CHECK(got[2].type == SocketType::seqpacket);
    CHECK(got[2].guest_port == 77);
    CHECK((*host)->status()["clients"]["requests"] == 3);
}

TEST_CASE("vsock host: a malformed request closes the client", "[vsock]")
{
    TempDir dir;
    EventLoop loop;
    auto host = UnixHost::create(loop.io(), UnixHostOptions { dir.path / "v.sock", false, 4 });
    REQUIRE(host);
    int requests = 0;
    REQUIRE((*host)->start([&](HostRequest) { ++requests; }));
    for (const std::string& bad : { std::string("HELLO\n"), std::string(100, 'A') }) {
        UniqueFd c = connect_to(dir.path / "v.sock");
        REQUIRE(::write(c.get(), bad.data(), bad.size()) == static_cast<ssize_t>(bad.size()));
        run(loop);
        char b = 0;
        CHECK(::recv(c.get(), &b, 1, 0) <= 0); // closed (reset: the device left bytes unread)
    }
    CHECK(requests == 0);
    CHECK((*host)->status()["clients"]["malformed"] == 2);
}

TEST_CASE("vsock host: clients beyond the pending bound are closed", "[vsock]")
{
    TempDir dir;
    EventLoop loop;
    auto host = UnixHost::create(loop.io(), UnixHostOptions { dir.path / "v.sock", false, 2 });
    REQUIRE(host);
    REQUIRE((*host)->start([](HostRequest) {}));
    std::vector<UniqueFd> silent;
    for (int i = 0; i < 3; ++i) {
        silent.push_back(connect_to(dir.path / "v.sock"));
    }
    run(loop);
    CHECK((*host)->status()["pending_clients"] == 2);
    CHECK((*host)->status()["clients"]["refused"] == 1);
}

TEST_CASE("vsock host: guest connections go to <uds_path>_<port>", "[vsock]")
{
    TempDir dir;
    EventLoop loop;
    auto host = UnixHost::create(loop.io(), UnixHostOptions { dir.path / "v.sock", true, 4 });
    REQUIRE(host);
    CHECK((*host)->port_path(1234) == dir.path / "v.sock_1234");
    CHECK_FALSE((*host)->connect(1234, SocketType::stream)); // nobody listens
    UniqueFd l = listen_at(dir.path / "v.sock_1234");
    auto fd = (*host)->connect(1234, SocketType::stream);
    REQUIRE(fd);
    CHECK_FALSE((*host)->connect(1234, SocketType::seqpacket)); // a stream listener
    CHECK((*host)->ok_line(1073741824) == "OK 1073741824\n");
}

TEST_CASE("vsock host: the socket path: stale replaced, in use or not a socket refused", "[vsock]")
{
    TempDir dir;
    EventLoop loop;
    const auto path = dir.path / "v.sock";
    {
        // A socket file left by a process that is gone.
        UniqueFd old = listen_at(path);
    }
    auto first = UnixHost::create(loop.io(), UnixHostOptions { path, false, 4 });
    REQUIRE(first);
    auto second = UnixHost::create(loop.io(), UnixHostOptions { path, false, 4 });
    REQUIRE_FALSE(second);
    CHECK_THAT(second.error().describe(), Catch::Contains("in use"));
    first->reset(); // removes its socket
    CHECK_FALSE(std::filesystem::exists(path));

    std::ofstream(dir.path / "file") << "x";
    auto on_file = UnixHost::create(loop.io(), UnixHostOptions { dir.path / "file", false, 4 });
    REQUIRE_FALSE(on_file);
    CHECK_THAT(on_file.error().describe(), Catch::Contains("not a socket"));
    auto no_dir = UnixHost::create(loop.io(), UnixHostOptions { dir.path / "missing" / "v.sock", false, 4 });
    REQUIRE_FALSE(no_dir);
    CHECK_THAT(no_dir.error().describe(), Catch::Contains("directory"));
}

TEST_CASE("vsock config: keys, bounds and messages", "[vsock]")
{
    using vmm::virtio::test::entry;
    using vmm::virtio::test::error_text;
    auto ok = parse_vsock_config(entry("vsock", R"({"cid": 3, "uds_path": "v.sock"})"));
    REQUIRE(ok);
    CHECK(ok->options.guest_cid == 3);
    CHECK(ok->uds_path == "/vm/v.sock");
    CHECK(ok->options.seqpacket);
    CHECK(ok->options.max_connections == 256);
    CHECK(ok->options.buffer_size == 256 * 1024);

    auto all = parse_vsock_config(entry("vsock",
        R"({"cid": 4294967294, "uds_path": "/run/v", "seqpacket": false, "max_connections": 8, "buffer_size": "1M"})"));
    REQUIRE(all);
    CHECK(all->options.guest_cid == 4294967294U);
    CHECK_FALSE(all->options.seqpacket);
    CHECK(all->options.max_connections == 8);
    CHECK(all->options.buffer_size == 1024 * 1024);
    CHECK(all->options.reset_after_pause.count() == 0);
    auto pause = parse_vsock_config(entry("vsock", R"({"cid": 3, "uds_path": "v", "reset_after_pause": 5000})"));
    REQUIRE(pause);
    CHECK(pause->options.reset_after_pause.count() == 5000);
    CHECK_THAT(error_text(parse_vsock_config(entry("vsock", R"({"cid": 3, "uds_path": "v", "reset_after_pause": -1})"))),
        Catch::Contains("reset_after_pause"));

    CHECK_THAT(error_text(parse_vsock_config(entry("vsock", R"({"uds_path": "v"})"))), Catch::Contains("cid: required"));
    CHECK_THAT(error_text(parse_vsock_config(entry("vsock", R"({"cid": 3})"))), Catch::Contains("uds_path: required"));
    for (const char* cid : { "0", "1", "2", "4294967295", "4294967296" }) {
        INFO(cid);
        CHECK_THAT(error_text(parse_vsock_config(entry("vsock", std::string(R"({"uds_path": "v", "cid": )") + cid + "}"))),
            Catch::Contains("cid"));
    }
    CHECK_THAT(error_text(parse_vsock_config(entry("vsock", R"({"cid": 3, "uds_path": "v", "buffer_size": 100})"))),
        Catch::Contains("buffer_size"));
    CHECK_THAT(error_text(parse_vsock_config(entry("vsock", R"({"cid": 3, "uds_path": "v", "max_connections": 0})"))),
        Catch::Contains("max_connections"));
    CHECK_THAT(error_text(parse_vsock_config(entry("vsock", R"({"cid": 3, "uds_path": "v", "port": 1})"))),
        Catch::Contains("unknown key"));
    const std::string long_path(100, 'p');
    CHECK_THAT(error_text(parse_vsock_config(entry("vsock", R"({"cid": 3, "uds_path": "/)" + long_path + "\"}"))),
        Catch::Contains("too long"));
}
