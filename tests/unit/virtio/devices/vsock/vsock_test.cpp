// SPDX-License-Identifier: Apache-2.0
// virtio-vsock through its Device interface: connections both ways, data and credit, shutdown
// and reset, over split and packed rings.
#include <sys/socket.h>

#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/vsock/vsock_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

#define VSOCK_RINGS DriverSplitQueue, DriverPackedQueue

TEMPLATE_TEST_CASE("vsock: offers stream and seqpacket and reports the guest CID", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    CHECK(has_feature(r.device.features(), VIRTIO_VSOCK_F_STREAM));
    CHECK(has_feature(r.device.features(), VIRTIO_VSOCK_F_SEQPACKET));
    CHECK(r.device.queue_max_sizes().size() == 3);
    std::array<std::byte, 8> cid {};
    r.device.read_config(0, cid);
    std::uint64_t v = 0;
    std::memcpy(&v, cid.data(), 8);
    CHECK(v == GUEST_CID);

    VsockOptions o = VsockRig<TestType>::options();
    o.seqpacket = false;
    VsockRig<TestType> plain(o);
    CHECK_FALSE(has_feature(plain.device.features(), VIRTIO_VSOCK_F_SEQPACKET));
}

TEMPLATE_TEST_CASE("vsock: a guest connects to a listening host port and gets RESPONSE", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(4);
    r.host->listening.insert(5000);
    r.send(guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 5000));
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    const VirtioVsockHdr& h = got[0].hdr;
    CHECK(h.op.get() == VIRTIO_VSOCK_OP_RESPONSE);
    CHECK(h.src_cid.get() == VSOCK_CID_HOST);
    CHECK(h.dst_cid.get() == GUEST_CID);
    CHECK(h.src_port.get() == 5000);
    CHECK(h.dst_port.get() == 1000);
    CHECK(h.type.get() == VIRTIO_VSOCK_TYPE_STREAM);
    CHECK(h.len.get() == 0);
    CHECK(h.buf_alloc.get() == r.device.options().buffer_size);
    CHECK(got[0].used_len == sizeof(VirtioVsockHdr));
    CHECK(r.device.connection_count() == 1);
    const auto status = r.device.status();
    REQUIRE(status["open"].size() == 1);
    CHECK(status["open"][0]["guest_port"] == 1000);
    CHECK(status["open"][0]["state"] == "established");
}

TEMPLATE_TEST_CASE("vsock: a connection to a port nobody listens on is answered with RST", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(4);
    r.send(guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 5001));
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(got[0].hdr.dst_port.get() == 1000);
    CHECK(got[0].hdr.src_port.get() == 5001);
    CHECK(r.device.connection_count() == 0);
    CHECK(r.device.counters().refused == 1);
}

TEMPLATE_TEST_CASE("vsock: guest data reaches the host program and frees credit", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    const int prog = r.connect();
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 5), "hello");
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 6), " world");
    CHECK(recv_all(prog) == "hello world");
    const auto* c = r.device.find(ConnKey { 1000, 5000 });
    REQUIRE(c != nullptr);
    CHECK(c->local.rx_cnt == 11);
    CHECK(c->local.fwd_cnt == 11);
    CHECK(c->bytes_to_host == 11);
    // Asked for it, the device tells the guest what it has consumed.
    r.send(guest_hdr(VIRTIO_VSOCK_OP_CREDIT_REQUEST, 1000, 5000));
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    CHECK(got[0].hdr.fwd_cnt.get() == 11);
}

TEMPLATE_TEST_CASE("vsock: host data goes to the guest within its credit", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    r.host->listening.insert(5000);
    auto req = guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 5000);
    req.buf_alloc = le32(10); // the guest's buffer for this socket
    r.send(req);
    REQUIRE(r.received().size() == 1);
    const int prog = r.host->programs.at(5000).back().get();
    const std::string text(100, 'x');
    REQUIRE(::send(prog, text.data(), text.size(), 0) == 100);
    r.settle();
    auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RW);
    CHECK(got[0].payload == std::string(10, 'x'));
    CHECK(got[0].hdr.len.get() == 10);
    CHECK(r.received().empty()); // no credit left

    // The guest consumed those 10 bytes: 10 more.
    auto update = guest_hdr(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1000, 5000);
    update.buf_alloc = le32(10);
    update.fwd_cnt = le32(10);
    r.send(update);
    got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload.size() == 10);

    // A bigger buffer: the rest in one packet.
    update.buf_alloc = le32(1000);
    update.fwd_cnt = le32(20);
    r.send(update);
    got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload.size() == 80);
    const auto* c = r.device.find(ConnKey { 1000, 5000 });
    REQUIRE(c != nullptr);
    CHECK(c->peer.tx_cnt == 100);
}

TEMPLATE_TEST_CASE("vsock: large host writes are split at the rx buffer size", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(16, 1024);
    const int prog = r.connect();
    std::string text;
    for (int i = 0; i < 5000; ++i) {
        text.push_back(static_cast<char>('a' + i % 26));
    }
    REQUIRE(::send(prog, text.data(), text.size(), 0) == 5000);
    r.settle();
    std::string joined;
    for (const auto& p : r.received()) {
        CHECK(p.op() == VIRTIO_VSOCK_OP_RW);
        CHECK(p.payload.size() <= 1024 - sizeof(VirtioVsockHdr));
        CHECK(p.hdr.len.get() == p.payload.size());
        joined += p.payload;
    }
    CHECK(joined == text);
}

TEMPLATE_TEST_CASE("vsock: the host program's end reaches the guest as SHUTDOWN after its data", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    const int prog = r.connect();
    REQUIRE(::send(prog, "bye", 3, 0) == 3);
    r.host->programs.at(5000).clear(); // the program closes its socket
    r.settle();
    const auto got = r.received();
    REQUIRE(got.size() == 2);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RW);
    CHECK(got[0].payload == "bye");
    CHECK(got[1].op() == VIRTIO_VSOCK_OP_SHUTDOWN);
    CHECK(got[1].hdr.flags.get() == VIRTIO_VSOCK_SHUTDOWN_SEND);

    // The guest closes too (both directions): the device answers RST and forgets it.
    auto shut = guest_hdr(VIRTIO_VSOCK_OP_SHUTDOWN, 1000, 5000);
    shut.flags = le32(VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);
    r.send(shut);
    const auto last = r.received();
    REQUIRE(last.size() == 1);
    CHECK(last[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(r.device.connection_count() == 0);
}

TEMPLATE_TEST_CASE("vsock: a guest half-close ends the host program's input only", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    const int prog = r.connect();
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 4), "last");
    auto shut = guest_hdr(VIRTIO_VSOCK_OP_SHUTDOWN, 1000, 5000);
    shut.flags = le32(VIRTIO_VSOCK_SHUTDOWN_SEND);
    r.send(shut);
    char buf[16];
    CHECK(::recv(prog, buf, sizeof(buf), MSG_DONTWAIT) == 4);
    CHECK(::recv(prog, buf, sizeof(buf), MSG_DONTWAIT) == 0); // end of input
    // The other direction still works.
    REQUIRE(::send(prog, "reply", 5, 0) == 5);
    r.settle();
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "reply");
    CHECK(r.device.connection_count() == 1);
}

TEMPLATE_TEST_CASE("vsock: a guest RST closes the host program's socket", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    const int prog = r.connect();
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RST, 1000, 5000));
    CHECK(r.device.connection_count() == 0);
    char b = 0;
    CHECK(::recv(prog, &b, 1, MSG_DONTWAIT) == 0);
    CHECK(r.received().empty()); // an RST is never answered
}

TEMPLATE_TEST_CASE("vsock: a host program connects to a guest port", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    UniqueFd prog = r.ask(1234);
    r.settle();
    auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_REQUEST);
    CHECK(got[0].hdr.dst_port.get() == 1234);
    const std::uint32_t host_port = got[0].hdr.src_port.get();
    CHECK(host_port >= VsockDevice::FIRST_HOST_PORT);
    CHECK(r.device.status()["open"][0]["state"] == "requested");

    // Before the guest accepts, data from the program waits in its socket.
    REQUIRE(::send(prog.get(), "early", 5, 0) == 5);
    r.settle();
    CHECK(r.received().empty());

    r.send(guest_hdr(VIRTIO_VSOCK_OP_RESPONSE, 1234, host_port));
    CHECK(recv_all(prog.get()) == "OK " + std::to_string(host_port) + "\n");
    got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "early");
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1234, host_port, 4), "pong");
    CHECK(recv_all(prog.get()) == "pong");
}

TEMPLATE_TEST_CASE("vsock: a guest that refuses a host program closes its socket", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    UniqueFd prog = r.ask(1234);
    r.settle();
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RST, 1234, got[0].hdr.src_port.get()));
    char b = 0;
    CHECK(::recv(prog.get(), &b, 1, MSG_DONTWAIT) == 0);
    CHECK(r.device.connection_count() == 0);
}

TEMPLATE_TEST_CASE("vsock: host requests before activation are refused", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
    UniqueFd mine(fds[1]);
    r.device.host_request(HostRequest { 1234, SocketType::stream, UniqueFd(fds[0]) });
    char b = 0;
    CHECK(::recv(mine.get(), &b, 1, MSG_DONTWAIT) == 0);
    CHECK(r.device.counters().refused == 1);
}

TEMPLATE_TEST_CASE("vsock: seqpacket keeps message boundaries both ways", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(16, 1024);
    r.host->listening.insert(6000);
    r.send(guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 6000, 0, VIRTIO_VSOCK_TYPE_SEQPACKET));
    REQUIRE(r.received().at(0).op() == VIRTIO_VSOCK_OP_RESPONSE);
    const int prog = r.host->programs.at(6000).back().get();

    // Guest to host: one message in two pieces, then a second message.
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 6000, 3, VIRTIO_VSOCK_TYPE_SEQPACKET), "abc");
    auto last = guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 6000, 3, VIRTIO_VSOCK_TYPE_SEQPACKET);
    last.flags = le32(VIRTIO_VSOCK_SEQ_EOM);
    r.send(last, "def");
    r.send(last, "xyz");
    char buf[64];
    CHECK(::recv(prog, buf, sizeof(buf), MSG_DONTWAIT) == 6);
    CHECK(std::string(buf, 6) == "abcdef");
    CHECK(::recv(prog, buf, sizeof(buf), MSG_DONTWAIT) == 3);

    // Host to guest: a small message, and one larger than an rx buffer.
    REQUIRE(::send(prog, "one", 3, 0) == 3);
    const std::string big(2500, 'b');
    REQUIRE(::send(prog, big.data(), big.size(), 0) == 2500);
    r.settle();
    const auto got = r.received();
    REQUIRE(got.size() == 4);
    CHECK(got[0].payload == "one");
    CHECK(got[0].hdr.flags.get() == VIRTIO_VSOCK_SEQ_EOM);
    CHECK(got[1].hdr.flags.get() == 0);
    CHECK(got[2].hdr.flags.get() == 0);
    CHECK(got[3].hdr.flags.get() == VIRTIO_VSOCK_SEQ_EOM);
    CHECK(got[1].payload + got[2].payload + got[3].payload == big);
    for (const auto& p : got) {
        CHECK(p.hdr.type.get() == VIRTIO_VSOCK_TYPE_SEQPACKET);
    }
}

TEMPLATE_TEST_CASE("vsock: seqpacket is refused when not negotiated", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start(false);
    r.give_rx(4);
    r.host->listening.insert(6000);
    r.send(guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 6000, 0, VIRTIO_VSOCK_TYPE_SEQPACKET));
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(r.device.counters().bad_type == 1);
    CHECK(r.host->connects == 0);
}

TEMPLATE_TEST_CASE("vsock: device reset closes every connection", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    const int a = r.connect(5000, 1000);
    const int b = r.connect(5000, 1001);
    CHECK(r.device.connection_count() == 2);
    r.device.reset();
    char c = 0;
    CHECK(::recv(a, &c, 1, MSG_DONTWAIT) == 0);
    CHECK(::recv(b, &c, 1, MSG_DONTWAIT) == 0);
    CHECK(r.device.connection_count() == 0);
    r.settle(); // handlers of the old connections find nothing
    // And it works again after the driver starts over.
    r.start();
    r.give_rx(4);
    r.connect(5000, 1002);
}

TEMPLATE_TEST_CASE("vsock: a transport reset drops connections and tells the driver", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    const int prog = r.connect();
    r.device.transport_reset(); // no event buffer yet: it waits
    char c = 0;
    CHECK(::recv(prog, &c, 1, MSG_DONTWAIT) == 0);
    CHECK(r.device.connection_count() == 0);
    auto& evq = r.rig.queue(VSOCK_EVENT_QUEUE);
    CHECK_FALSE(evq.pop_used());
    const std::uint64_t at = r.rig.buffer(4);
    r.rig.guest.write_obj(at, le32(0xffffffff));
    evq.add({ writable(at, 4) });
    r.rig.kick(VSOCK_EVENT_QUEUE);
    const auto used = evq.pop_used();
    REQUIRE(used);
    CHECK(used->len == 4);
    CHECK(r.rig.guest.template read_obj<le32>(at).get() == VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
    CHECK(r.device.counters().transport_resets == 1);
}

TEMPLATE_TEST_CASE("vsock: connections beyond max_connections are refused", "[vsock]", VSOCK_RINGS)
{
    VsockOptions o = VsockRig<TestType>::options();
    o.max_connections = 2;
    VsockRig<TestType> r(o);
    r.start();
    r.give_rx(8);
    r.connect(5000, 1);
    r.connect(5000, 2);
    r.send(guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 3, 5000));
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(r.device.connection_count() == 2);
    // A host request is refused too: its socket closes.
    UniqueFd prog = r.ask(1234);
    char c = 0;
    CHECK(::recv(prog.get(), &c, 1, MSG_DONTWAIT) == 0);
}

TEMPLATE_TEST_CASE("vsock: a host program that does not read stalls only its own connection", "[vsock]", VSOCK_RINGS)
{
    VsockOptions o = VsockRig<TestType>::options();
    o.buffer_size = 8192;
    VsockRig<TestType> r(o);
    r.host->small_buffers = true;
    r.start();
    r.give_rx(32);
    r.connect(5000, 1000); // never read
    const int other = r.connect(5001, 1001);
    // Fill the slow one within its credit: the socket takes some, the device holds the rest.
    const std::string chunk(2048, 's');
    std::uint32_t sent = 0;
    while (sent + chunk.size() <= 8192 * 4) {
        const auto* c = r.device.find(ConnKey { 1000, 5000 });
        REQUIRE(c != nullptr);
        if (!c->local.admits(static_cast<std::uint32_t>(chunk.size()))) {
            break;
        }
        r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, static_cast<std::uint32_t>(chunk.size())), chunk);
        sent += static_cast<std::uint32_t>(chunk.size());
    }
    const auto* slow = r.device.find(ConnKey { 1000, 5000 });
    REQUIRE(slow != nullptr);
    CHECK(slow->local.buffered() > 0);
    CHECK(slow->local.buffered() <= 8192);
    // Beyond the credit: reset.
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 8192), std::string(8192, 'x'));
    CHECK(r.device.counters().credit_overrun == 1);
    CHECK(r.device.find(ConnKey { 1000, 5000 }) == nullptr);
    // The other connection never noticed.
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1001, 5001, 2), "ok");
    CHECK(recv_all(other) == "ok");
}

TEMPLATE_TEST_CASE("vsock: buffered guest data reaches a slow host program in order", "[vsock]", VSOCK_RINGS)
{
    VsockOptions o = VsockRig<TestType>::options();
    o.buffer_size = 64 * 1024;
    VsockRig<TestType> r(o);
    r.host->small_buffers = true;
    r.start();
    r.give_rx(32);
    const int prog = r.connect();
    std::string expected;
    for (int i = 0; i < 16; ++i) {
        const std::string piece(1000, static_cast<char>('A' + i));
        r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 1000), piece);
        expected += piece;
    }
    std::string got;
    for (int i = 0; i < 100 && got.size() < expected.size(); ++i) {
        got += recv_all(prog);
        r.settle();
    }
    CHECK(got == expected);
    const auto* c = r.device.find(ConnKey { 1000, 5000 });
    REQUIRE(c != nullptr);
    CHECK(c->local.buffered() == 0);
    CHECK(c->local.fwd_cnt == 16000);
}

TEMPLATE_TEST_CASE("vsock: connections take turns for rx buffers", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(2);
    const int a = r.connect(5000, 1000);
    const int b = r.connect(5001, 1001);
    const std::string lots(20000, 'z');
    REQUIRE(::send(a, lots.data(), lots.size(), 0) == 20000);
    REQUIRE(::send(b, lots.data(), lots.size(), 0) == 20000);
    r.settle(); // no rx buffers: both wait
    r.give_rx(6);
    const auto got = r.received();
    REQUIRE(got.size() == 6);
    // Five 4 KiB packets would carry all of either one: turns, not one after the other.
    for (std::size_t i = 1; i < got.size(); ++i) {
        CHECK(got[i].hdr.dst_port.get() != got[i - 1].hdr.dst_port.get());
    }
}

TEMPLATE_TEST_CASE("vsock: a long pause ends in a transport reset, a short one does not", "[vsock]", VSOCK_RINGS)
{
    using namespace std::chrono_literals;
    VsockOptions o = VsockRig<TestType>::options();
    o.reset_after_pause = 1000ms;
    VsockRig<TestType> r(o);
    r.start();
    r.give_rx(8);
    r.connect();
    r.device.on_resume(999ms);
    CHECK(r.device.connection_count() == 1);
    CHECK(r.device.counters().transport_resets == 0);
    r.device.on_resume(1500ms);
    CHECK(r.device.connection_count() == 0);
    CHECK(r.device.counters().transport_resets == 1);

    VsockRig<TestType> never; // the default: no limit
    never.start();
    never.give_rx(4);
    never.connect();
    never.device.on_resume(std::chrono::hours(1));
    CHECK(never.device.connection_count() == 1);
}
