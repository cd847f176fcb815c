// SPDX-License-Identifier: Apache-2.0
// The `user` network back end against hand-built frames: DHCP, ARP, TCP both ways, bad input.
#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "virtio/devices/net/backend/slirp_backend.hpp"
#include "vmm/base/unique_fd.hpp"

using namespace vmm;
using namespace vmm::virtio::net;
using Frame = std::vector<std::uint8_t>;

namespace {

constexpr MacAddress GUEST_MAC { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
constexpr MacAddress BROADCAST { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
// libslirp answers as 52:55 followed by the IPv4 address it answers for.
constexpr MacAddress GATEWAY_MAC { 0x52, 0x55, 10, 0, 2, 2 };
constexpr Ipv4Addr GUEST_IP = Ipv4Addr::of(10, 0, 2, 15);
constexpr Ipv4Addr GATEWAY_IP = Ipv4Addr::of(10, 0, 2, 2);

constexpr std::uint16_t ETH_IPV4 = 0x0800;
constexpr std::uint16_t ETH_ARP = 0x0806;
constexpr std::uint8_t PROTO_TCP = 6;
constexpr std::uint8_t PROTO_UDP = 17;
constexpr std::uint8_t TCP_SYN = 0x02;
constexpr std::uint8_t TCP_RST = 0x04;
constexpr std::uint8_t TCP_ACK = 0x10;

// Offsets in a frame: Ethernet header, then an IPv4 header without options.
constexpr std::size_t ETH = 14;
constexpr std::size_t L4_OFF = ETH + 20;

struct Builder {
    Frame bytes;

    Builder& u8(unsigned v)
    {
        bytes.push_back(static_cast<std::uint8_t>(v));
        return *this;
    }
    Builder& u16(unsigned v) { return u8(v >> 8U).u8(v & 0xffU); }
    Builder& u32(std::uint32_t v) { return u16(v >> 16U).u16(v & 0xffffU); }
    Builder& ip(Ipv4Addr a) { return u32(a.value); }
    Builder& mac(const MacAddress& m)
    {
        bytes.insert(bytes.end(), m.begin(), m.end());
        return *this;
    }
    Builder& zeros(std::size_t n)
    {
        bytes.insert(bytes.end(), n, 0);
        return *this;
    }
    Builder& append(const Frame& f)
    {
        bytes.insert(bytes.end(), f.begin(), f.end());
        return *this;
    }
};

std::uint16_t get16(const Frame& f, std::size_t at)
{
    return static_cast<std::uint16_t>((f.at(at) << 8U) | f.at(at + 1));
}

std::uint32_t get32(const Frame& f, std::size_t at)
{
    return (std::uint32_t { get16(f, at) } << 16U) | get16(f, at + 2);
}

MacAddress get_mac(const Frame& f, std::size_t at)
{
    MacAddress m {};
    for (std::size_t i = 0; i < m.size(); ++i) {
        m[i] = f.at(at + i);
    }
    return m;
}

// The Internet checksum (RFC 1071) over `data`, on top of a partial sum (a pseudo header).
std::uint16_t checksum(std::span<const std::uint8_t> data, std::uint32_t sum = 0)
{
    for (std::size_t i = 0; i < data.size(); i += 2) {
        const unsigned hi = data[i];
        const unsigned lo = i + 1 < data.size() ? data[i + 1] : 0U;
        sum += (hi << 8U) | lo;
    }
    while ((sum >> 16U) != 0) {
        sum = (sum & 0xffffU) + (sum >> 16U);
    }
    return static_cast<std::uint16_t>(~sum & 0xffffU);
}

Frame ethernet(const MacAddress& dst, const MacAddress& src, std::uint16_t type, const Frame& payload)
{
    return Builder().mac(dst).mac(src).u16(type).append(payload).bytes;
}

Frame ipv4(Ipv4Addr src, Ipv4Addr dst, std::uint8_t proto, const Frame& payload)
{
    Builder h;
    h.u8(0x45).u8(0).u16(static_cast<unsigned>(20 + payload.size())).u16(0x1234).u16(0x4000); // DF
    h.u8(64).u8(proto).u16(0).ip(src).ip(dst);
    const std::uint16_t sum = checksum(h.bytes);
    h.bytes[10] = static_cast<std::uint8_t>(sum >> 8U);
    h.bytes[11] = static_cast<std::uint8_t>(sum & 0xffU);
    return h.append(payload).bytes;
}

Frame arp_request(Ipv4Addr sender, Ipv4Addr target)
{
    const Frame arp = Builder().u16(1).u16(ETH_IPV4).u8(6).u8(4).u16(1) // who-has
                          .mac(GUEST_MAC)
                          .ip(sender)
                          .zeros(6)
                          .ip(target)
                          .bytes;
    return ethernet(BROADCAST, GUEST_MAC, ETH_ARP, arp);
}

// DHCPDISCOVER: BOOTP's fixed part, its 64-byte vendor area opened by the magic cookie, and the
// message type option; padded to the 548 bytes that make a 576-byte IP datagram, as clients do.
Frame dhcp_discover(std::uint32_t xid)
{
    Builder b;
    b.u8(1).u8(1).u8(6).u8(0).u32(xid).u16(0).u16(0x8000); // BOOTREQUEST, broadcast reply
    b.zeros(16).mac(GUEST_MAC).zeros(10 + 64 + 128);        // ci/yi/si/giaddr, chaddr, sname, file
    b.u32(0x63825363).u8(53).u8(1).u8(1).u8(255);           // cookie, DHCPDISCOVER, end
    b.zeros(548 - b.bytes.size());
    const auto udp_len = static_cast<unsigned>(8 + b.bytes.size());
    const Frame udp = Builder().u16(68).u16(67).u16(udp_len).u16(0).append(b.bytes).bytes; // no UDP checksum
    const Frame ip = ipv4(Ipv4Addr::of(0, 0, 0, 0), Ipv4Addr::of(255, 255, 255, 255), PROTO_UDP, udp);
    return ethernet(BROADCAST, GUEST_MAC, ETH_IPV4, ip);
}

Frame tcp_syn(Ipv4Addr src, std::uint16_t sport, Ipv4Addr dst, std::uint16_t dport, std::uint32_t seq)
{
    Builder t;
    t.u16(sport).u16(dport).u32(seq).u32(0).u8(5U << 4U).u8(TCP_SYN).u16(64240).u16(0).u16(0);
    Builder pseudo;
    pseudo.ip(src).ip(dst).u8(0).u8(PROTO_TCP).u16(static_cast<unsigned>(t.bytes.size()));
    std::uint32_t partial = 0;
    for (std::size_t i = 0; i < pseudo.bytes.size(); i += 2) {
        partial += get16(pseudo.bytes, i);
    }
    const std::uint16_t sum = checksum(t.bytes, partial);
    t.bytes[16] = static_cast<std::uint8_t>(sum >> 8U);
    t.bytes[17] = static_cast<std::uint8_t>(sum & 0xffU);
    return ethernet(GATEWAY_MAC, GUEST_MAC, ETH_IPV4, ipv4(src, dst, PROTO_TCP, t.bytes));
}

bool is_tcp(const Frame& f)
{
    return f.size() >= L4_OFF + 20 && get16(f, 12) == ETH_IPV4 && f[ETH + 9] == PROTO_TCP;
}

// A port nothing listens on now (bound, then closed).
std::uint16_t free_port()
{
    const UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(s);
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    REQUIRE(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    return ntohs(a.sin_port);
}

struct Rig {
    boost::asio::io_context io;
    std::unique_ptr<SlirpBackend> backend;

    explicit Rig(UserNetOptions options = {})
    {
        auto created = SlirpBackend::create(io, std::move(options), GUEST_MAC);
        INFO((created ? std::string() : created.error().describe()));
        REQUIRE(created);
        backend = std::move(created).value();
    }

    IoResult send(const Frame& frame)
    {
        // Gathered from two pieces, as a descriptor chain may split it.
        const std::size_t half = frame.size() / 2;
        const std::array<iovec, 2> iov { iovec { const_cast<std::uint8_t*>(frame.data()), half },
            iovec { const_cast<std::uint8_t*>(frame.data() + half), frame.size() - half } };
        return backend->send(0, iov);
    }

    void send_ok(const Frame& frame)
    {
        const IoResult r = send(frame);
        REQUIRE(r.status == IoResult::Status::done);
        REQUIRE(r.bytes == frame.size());
    }

    std::optional<Frame> receive()
    {
        Frame buf(65536);
        const iovec iov { buf.data(), buf.size() };
        const IoResult r = backend->receive(0, std::span(&iov, 1));
        if (r.status == IoResult::Status::again) {
            return std::nullopt;
        }
        REQUIRE(r.status == IoResult::Status::done);
        REQUIRE(r.bytes <= buf.size());
        buf.resize(r.bytes);
        return buf;
    }

    // Runs the loop, woken by the readable watch, until a frame that `wanted` accepts has come
    // and `done` holds. Other frames are skipped: libslirp may send ARP requests or router
    // advertisements of its own.
    std::optional<Frame> wait_for(const std::function<bool(const Frame&)>& wanted,
        const std::function<bool()>& done = [] { return true; })
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        std::optional<Frame> found;
        while (std::chrono::steady_clock::now() < deadline) {
            while (!found) {
                auto f = receive();
                if (!f) {
                    break;
                }
                if (wanted(*f)) {
                    found = std::move(f);
                }
            }
            if (found && done()) {
                return found;
            }
            bool woken = false;
            backend->watch_readable(0, [&woken] { woken = true; });
            const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
            io.restart();
            while (!woken && io.run_one_until(until) != 0) {
            }
            backend->stop_watching();
        }
        return found && done() ? found : std::nullopt;
    }

    // ARP from the guest teaches libslirp the guest's MAC address, which it needs before it
    // sends the guest any IPv4 frame.
    void introduce_guest()
    {
        send_ok(arp_request(GUEST_IP, GATEWAY_IP));
        REQUIRE(wait_for([](const Frame& f) { return get16(f, 12) == ETH_ARP; }));
    }
};

} // namespace

TEST_CASE("user network: a DHCPDISCOVER gets an offer of 10.0.2.15 from 10.0.2.2", "[net][slirp]")
{
    UserNetOptions options;
    options.hostname = "vireo-guest";
    Rig rig(std::move(options));
    CHECK(rig.backend->queues() == 1);
    CHECK_FALSE(rig.backend->vnet_hdr());
    CHECK(rig.backend->offloads() == Offloads {});
    CHECK(rig.backend->set_receive_offloads(Offloads { .csum = true, .tso4 = true }));
    CHECK(rig.backend->link_up());

    const std::uint32_t xid = 0x5ea1f00d;
    rig.send_ok(dhcp_discover(xid));
    const auto offer = rig.wait_for([](const Frame& f) {
        return f.size() > L4_OFF + 8 && get16(f, 12) == ETH_IPV4 && f[ETH + 9] == PROTO_UDP && get16(f, L4_OFF + 2) == 68;
    });
    REQUIRE(offer);
    const Frame& f = *offer;
    const std::size_t bootp = L4_OFF + 8;
    REQUIRE(f.size() >= bootp + 244);
    CHECK((get_mac(f, 0) == BROADCAST || get_mac(f, 0) == GUEST_MAC));
    CHECK(get_mac(f, 6) == GATEWAY_MAC);
    CHECK(get32(f, ETH + 12) == GATEWAY_IP.value);
    CHECK(get16(f, L4_OFF) == 67);
    CHECK(f[bootp] == 2); // BOOTREPLY
    CHECK(get32(f, bootp + 4) == xid);
    CHECK(get32(f, bootp + 16) == GUEST_IP.value);   // yiaddr
    CHECK(get32(f, bootp + 20) == GATEWAY_IP.value); // siaddr
    CHECK(get_mac(f, bootp + 28) == GUEST_MAC);      // chaddr
    CHECK(get32(f, bootp + 236) == 0x63825363);
    std::map<std::uint8_t, Frame> options_seen;
    for (std::size_t at = bootp + 240; at + 1 < f.size() && f[at] != 255;) {
        if (f[at] == 0) {
            ++at;
            continue;
        }
        const std::size_t len = f[at + 1];
        REQUIRE(at + 2 + len <= f.size());
        options_seen[f[at]] = Frame(f.begin() + static_cast<std::ptrdiff_t>(at + 2),
            f.begin() + static_cast<std::ptrdiff_t>(at + 2 + len));
        at += 2 + len;
    }
    CHECK(options_seen[53] == Frame { 2 });                 // DHCPOFFER
    CHECK(options_seen[54] == Frame { 10, 0, 2, 2 });       // server
    CHECK(options_seen[1] == Frame { 255, 255, 255, 0 });   // netmask
    CHECK(options_seen[3] == Frame { 10, 0, 2, 2 });        // router
    CHECK(options_seen[6] == Frame { 10, 0, 2, 3 });        // DNS
    CHECK(options_seen[12] == Frame { 'v', 'i', 'r', 'e', 'o', '-', 'g', 'u', 'e', 's', 't' });
    CHECK(rig.backend->stats().tx_frames == 1);
    CHECK(rig.backend->stats().rx_frames >= 1);
}

TEST_CASE("user network: ARP who-has 10.0.2.2 gets is-at, announced by a posted watch", "[net][slirp]")
{
    Rig rig;
    bool readable = false;
    rig.backend->watch_readable(0, [&readable] { readable = true; });
    rig.send_ok(arp_request(GUEST_IP, GATEWAY_IP));
    CHECK_FALSE(readable); // never from inside send()
    rig.io.run_for(std::chrono::milliseconds(20));
    CHECK(readable);

    const auto reply = rig.receive();
    REQUIRE(reply);
    const Frame& f = *reply;
    REQUIRE(f.size() >= ETH + 28);
    CHECK(get_mac(f, 0) == GUEST_MAC);
    CHECK(get_mac(f, 6) == GATEWAY_MAC);
    CHECK(get16(f, 12) == ETH_ARP);
    CHECK(get16(f, ETH + 6) == 2); // is-at
    CHECK(get_mac(f, ETH + 8) == GATEWAY_MAC);
    CHECK(get32(f, ETH + 14) == GATEWAY_IP.value);
    CHECK(get_mac(f, ETH + 18) == GUEST_MAC);
    CHECK(get32(f, ETH + 24) == GUEST_IP.value);
    CHECK_FALSE(rig.receive());

    // A receive buffer too short gets what fits and the frame's full length.
    rig.send_ok(arp_request(GUEST_IP, GATEWAY_IP));
    std::array<std::uint8_t, 10> small {};
    const iovec iov { small.data(), small.size() };
    const IoResult r = rig.backend->receive(0, std::span(&iov, 1));
    CHECK(r.status == IoResult::Status::done);
    CHECK(r.bytes == f.size());
    CHECK(get_mac(Frame(small.begin(), small.end()), 0) == GUEST_MAC);
}

TEST_CASE("user network: a connection to a forwarded host port reaches the guest as a SYN", "[net][slirp]")
{
    const std::uint16_t port = free_port();
    UserNetOptions options;
    auto rule = parse_forward(fmt::format("tcp:127.0.0.1:{}-:8080", port));
    REQUIRE(rule);
    options.forwards.push_back(*rule);
    options.forwards.push_back(*parse_forward("udp::" + std::to_string(free_port()) + "-:53"));
    Rig rig(std::move(options));
    CHECK(rig.backend->describe() == "user (10.0.2.0/24, 2 forwards)");
    const auto status = rig.backend->status();
    CHECK(status["forwards"][0] == fmt::format("tcp:127.0.0.1:{}-10.0.2.15:8080", port));
    CHECK(status["network"] == "10.0.2.0/24");
    rig.introduce_guest();

    boost::asio::ip::tcp::socket client(rig.io);
    std::optional<boost::system::error_code> connected;
    client.async_connect({ boost::asio::ip::make_address_v4("127.0.0.1"), port },
        [&connected](const boost::system::error_code& ec) { connected = ec; });
    const auto syn = rig.wait_for(
        [](const Frame& f) { return is_tcp(f) && (f[L4_OFF + 13] & (TCP_SYN | TCP_ACK)) == TCP_SYN; },
        [&connected] { return connected.has_value(); });
    REQUIRE(syn);
    CHECK(*connected == boost::system::error_code());
    const Frame& f = *syn;
    CHECK(get_mac(f, 0) == GUEST_MAC);
    CHECK(get32(f, ETH + 12) == GATEWAY_IP.value); // the host's loopback, as the guest sees it
    CHECK(get32(f, ETH + 16) == GUEST_IP.value);
    CHECK(get16(f, L4_OFF + 2) == 8080);
    client.close();
}

TEST_CASE("user network: a guest SYN to 10.0.2.2 connects to the host's loopback", "[net][slirp]")
{
    Rig rig;
    boost::asio::ip::tcp::acceptor acceptor(rig.io, { boost::asio::ip::make_address_v4("127.0.0.1"), 0 });
    const auto port = acceptor.local_endpoint().port();
    boost::asio::ip::tcp::socket accepted(rig.io);
    std::optional<boost::system::error_code> accept_result;
    acceptor.async_accept(accepted, [&accept_result](const boost::system::error_code& ec) { accept_result = ec; });
    rig.introduce_guest();

    constexpr std::uint16_t guest_port = 40000;
    constexpr std::uint32_t seq = 1000;
    rig.send_ok(tcp_syn(GUEST_IP, guest_port, GATEWAY_IP, port, seq));
    const auto syn_ack = rig.wait_for(
        [](const Frame& f) { return is_tcp(f) && (f[L4_OFF + 13] & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK); },
        [&accept_result] { return accept_result.has_value(); });
    REQUIRE(syn_ack);
    CHECK(*accept_result == boost::system::error_code());
    const Frame& f = *syn_ack;
    CHECK(get_mac(f, 0) == GUEST_MAC);
    CHECK(get32(f, ETH + 12) == GATEWAY_IP.value);
    CHECK(get32(f, ETH + 16) == GUEST_IP.value);
    CHECK(get16(f, L4_OFF) == port);
    CHECK(get16(f, L4_OFF + 2) == guest_port);
    CHECK(get32(f, L4_OFF + 8) == seq + 1);
}

TEST_CASE("user network: restricted, a guest SYN to 10.0.2.2 is reset and reaches nothing", "[net][slirp]")
{
    UserNetOptions options;
    options.restrict = true;
    Rig rig(std::move(options));
    CHECK(rig.backend->describe() == "user (10.0.2.0/24, restricted, 0 forwards)");
    boost::asio::ip::tcp::acceptor acceptor(rig.io, { boost::asio::ip::make_address_v4("127.0.0.1"), 0 });
    const auto port = acceptor.local_endpoint().port();
    boost::asio::ip::tcp::socket accepted(rig.io);
    bool accept_done = false;
    acceptor.async_accept(accepted, [&accept_done](const boost::system::error_code&) { accept_done = true; });
    rig.introduce_guest();

    rig.send_ok(tcp_syn(GUEST_IP, 40001, GATEWAY_IP, port, 1));
    const auto rst = rig.wait_for([](const Frame& f) { return is_tcp(f) && (f[L4_OFF + 13] & TCP_RST) != 0; });
    REQUIRE(rst);
    CHECK(get16(*rst, L4_OFF + 2) == 40001);
    rig.io.restart();
    rig.io.run_for(std::chrono::milliseconds(50));
    CHECK_FALSE(accept_done);
    acceptor.close();
    rig.io.restart();
    rig.io.run_for(std::chrono::milliseconds(10));
}

TEST_CASE("user network: a forward whose host port is taken fails creation, naming the rule", "[net][slirp]")
{
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor taken(io, { boost::asio::ip::make_address_v4("127.0.0.1"), 0 });
    const std::string rule = fmt::format("tcp::{}-:22", taken.local_endpoint().port());
    UserNetOptions options;
    options.forwards.push_back(*parse_forward(rule));
    auto created = SlirpBackend::create(io, std::move(options), GUEST_MAC);
    REQUIRE_FALSE(created);
    using Catch::Matchers::Contains;
    CHECK_THAT(created.error().describe(), Contains("\"" + rule + "\"") && Contains("Address already in use"));

    UserNetOptions bad;
    bad.host = Ipv4Addr::of(192, 168, 0, 1);
    CHECK_FALSE(SlirpBackend::create(io, bad, GUEST_MAC));

    // libslirp writes to host sockets without MSG_NOSIGNAL: a peer that hung up must not end
    // the process.
    struct sigaction sa { };
    REQUIRE(::sigaction(SIGPIPE, nullptr, &sa) == 0);
    CHECK(sa.sa_handler == SIG_IGN);
}

TEST_CASE("user network: bad frames are refused and a full FIFO drops and counts", "[net][slirp]")
{
    Rig rig;
    const Frame tiny { 1, 2, 3 };
    IoResult r = rig.send(tiny);
    CHECK(r.status == IoResult::Status::error);
    CHECK(r.error == EINVAL);
    const Frame huge = ethernet(GATEWAY_MAC, GUEST_MAC, ETH_IPV4, Frame(70 * 1024, 0x45));
    r = rig.send(huge);
    CHECK(r.status == IoResult::Status::error);
    CHECK(r.error == EMSGSIZE);
    // Garbage of a plausible size is libslirp's to ignore.
    rig.send_ok(ethernet(GATEWAY_MAC, GUEST_MAC, ETH_IPV4, Frame(100, 0xff)));
    CHECK(rig.backend->stats().tx_errors == 2);

    // Each who-has makes libslirp answer at once; nobody receives.
    constexpr std::size_t extra = 44;
    for (std::size_t i = 0; i < SlirpBackend::FIFO_FRAMES + extra; ++i) {
        rig.send_ok(arp_request(GUEST_IP, GATEWAY_IP));
    }
    auto st = rig.backend->stats();
    CHECK(st.rx_queued == SlirpBackend::FIFO_FRAMES);
    CHECK(st.rx_dropped == extra);
    CHECK(rig.backend->status()["to_guest"]["dropped"] == extra);
    std::size_t received = 0;
    while (auto f = rig.receive()) {
        CHECK(get16(*f, 12) == ETH_ARP);
        ++received;
    }
    CHECK(received == SlirpBackend::FIFO_FRAMES);
    CHECK(rig.backend->stats().rx_queued == 0);
}

TEST_CASE("user network: watches are one-shot, stoppable, and never outlive the backend", "[net][slirp]")
{
    const std::uint16_t port = free_port();
    UserNetOptions options;
    options.forwards.push_back(*parse_forward(fmt::format("tcp::{}-:22", port)));
    auto rig = std::make_unique<Rig>(std::move(options));
    int readable = 0;
    int writable = 0;

    rig->backend->watch_writable(0, [&writable] { ++writable; });
    CHECK(writable == 0);
    rig->io.run_for(std::chrono::milliseconds(10));
    CHECK(writable == 1);
    rig->io.restart();
    rig->io.run_for(std::chrono::milliseconds(10));
    CHECK(writable == 1); // one-shot

    rig->backend->watch_readable(0, [&readable] { ++readable; });
    rig->send_ok(arp_request(GUEST_IP, GATEWAY_IP));
    rig->backend->stop_watching();
    rig->io.restart();
    rig->io.run_for(std::chrono::milliseconds(10));
    CHECK(readable == 0);

    // Armed again with a frame waiting, a second time after a connection has given libslirp a
    // socket to watch: handlers are queued, then the backend goes.
    boost::asio::ip::tcp::socket client(rig->io);
    client.async_connect(
        { boost::asio::ip::make_address_v4("127.0.0.1"), port }, [](const boost::system::error_code&) { });
    rig->io.restart();
    rig->io.run_for(std::chrono::milliseconds(20));
    rig->backend->watch_readable(0, [&readable] { ++readable; });
    rig->backend->watch_writable(0, [&writable] { ++writable; });
    rig->send_ok(arp_request(GUEST_IP, GATEWAY_IP));
    rig->backend.reset();
    rig->io.restart();
    rig->io.run_for(std::chrono::milliseconds(50));
    CHECK(readable == 0);
    CHECK(writable == 1);
    client.close();
}
