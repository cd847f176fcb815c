// SPDX-License-Identifier: Apache-2.0
// virtio-vsock against a hostile guest: malformed packets, wrong CIDs, types and operations,
// operations in the wrong state, credit overruns and floods.
#include <sys/socket.h>

#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/vsock/vsock_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

#define VSOCK_RINGS DriverSplitQueue, DriverPackedQueue

TEMPLATE_TEST_CASE("vsock hostile: a packet shorter than its header is dropped", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(4);
    const std::uint64_t at = r.rig.buffer(20);
    r.rig.queue(VSOCK_TX_QUEUE).add({ readable(at, 20) });
    // Only a writable buffer: no header at all.
    const std::uint64_t w = r.rig.buffer(64);
    r.rig.queue(VSOCK_TX_QUEUE).add({ writable(w, 64) });
    r.rig.kick(VSOCK_TX_QUEUE);
    r.settle();
    CHECK(r.device.counters().malformed == 2);
    int used = 0;
    while (auto u = r.rig.queue(VSOCK_TX_QUEUE).pop_used()) {
        CHECK(u->len == 0);
        ++used;
    }
    CHECK(used == 2);
    CHECK(r.received().empty());
}

TEMPLATE_TEST_CASE("vsock hostile: a header split over descriptors is read whole", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(4);
    r.host->listening.insert(5000);
    const auto h = guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 5000);
    const std::uint64_t at = r.rig.buffer(sizeof(h));
    r.rig.guest.write_obj(at, h);
    r.rig.queue(VSOCK_TX_QUEUE).add({ readable(at, 7), readable(at + 7, 30), readable(at + 37, 7) });
    r.rig.kick(VSOCK_TX_QUEUE);
    r.settle();
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RESPONSE);
}

TEMPLATE_TEST_CASE("vsock hostile: a length the buffer does not hold resets the connection", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    const int prog = r.connect();
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 100), "only ten b");
    CHECK(r.device.counters().malformed == 1);
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(r.device.connection_count() == 0);
    CHECK(recv_all(prog).empty()); // nothing of the bad packet reached the host

    // Above the largest payload, even with the bytes there.
    r.connect(5000, 1001);
    const std::string huge(VsockDevice::MAX_PAYLOAD + 1, 'h');
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1001, 5000, static_cast<std::uint32_t>(huge.size())), huge);
    CHECK(r.device.counters().malformed == 2);
    CHECK(r.device.connection_count() == 0);
}

TEMPLATE_TEST_CASE("vsock hostile: packets not from the guest's CID or not to the host are dropped", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(4);
    r.host->listening.insert(5000);
    auto spoofed = guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 5000);
    spoofed.src_cid = le64_split(4);
    r.send(spoofed);
    auto elsewhere = guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 5000);
    elsewhere.dst_cid = le64_split(7);
    r.send(elsewhere);
    auto high = guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 5000);
    high.src_cid = le64_split((std::uint64_t { 1 } << 32) | GUEST_CID);
    r.send(high);
    CHECK(r.device.counters().bad_cid == 3);
    CHECK(r.received().empty());
    CHECK(r.host->connects == 0);
}

TEMPLATE_TEST_CASE("vsock hostile: an unknown socket type is answered with RST", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(4);
    r.host->listening.insert(5000);
    r.send(guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 1000, 5000, 0, 7));
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(r.device.counters().bad_type == 1);
    CHECK(r.host->connects == 0);
}

TEMPLATE_TEST_CASE("vsock hostile: wrong operations reset the connection", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(16);
    for (const std::uint16_t op : { std::uint16_t { 0 }, std::uint16_t { 99 }, VIRTIO_VSOCK_OP_RESPONSE,
             VIRTIO_VSOCK_OP_REQUEST }) {
        INFO("op " << op);
        const int prog = r.connect();
        r.send(guest_hdr(op, 1000, 5000));
        const auto got = r.received();
        REQUIRE(got.size() == 1);
        CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
        CHECK(r.device.connection_count() == 0);
        char c = 0;
        CHECK(::recv(prog, &c, 1, MSG_DONTWAIT) == 0);
    }
    CHECK(r.device.counters().bad_op == 4);
}

TEMPLATE_TEST_CASE("vsock hostile: the socket type must stay the connection's", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    r.connect();
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 2, VIRTIO_VSOCK_TYPE_SEQPACKET), "hi");
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(r.device.connection_count() == 0);
}

TEMPLATE_TEST_CASE("vsock hostile: packets for no connection get RST, an RST gets nothing", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    for (const std::uint16_t op : { VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_OP_CREDIT_UPDATE,
             VIRTIO_VSOCK_OP_CREDIT_REQUEST, VIRTIO_VSOCK_OP_RESPONSE }) {
        r.send(guest_hdr(op, 1000, 5000));
    }
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RST, 1000, 5000));
    const auto got = r.received();
    CHECK(got.size() == 5);
    for (const auto& p : got) {
        CHECK(p.op() == VIRTIO_VSOCK_OP_RST);
    }
    CHECK(r.device.counters().no_connection == 5);
}

TEMPLATE_TEST_CASE("vsock hostile: a host-initiated connection takes nothing before RESPONSE", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    UniqueFd prog = r.ask(1234);
    r.settle();
    const auto req = r.received();
    REQUIRE(req.size() == 1);
    const std::uint32_t host_port = req[0].hdr.src_port.get();
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1234, host_port, 4), "data");
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(r.device.counters().bad_op == 1);
    char c = 0;
    CHECK(::recv(prog.get(), &c, 1, MSG_DONTWAIT) == 0); // closed, and no "OK" line
}

TEMPLATE_TEST_CASE("vsock hostile: data after the guest's own SHUTDOWN(SEND) resets", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(8);
    r.connect();
    auto shut = guest_hdr(VIRTIO_VSOCK_OP_SHUTDOWN, 1000, 5000);
    shut.flags = le32(VIRTIO_VSOCK_SHUTDOWN_SEND);
    r.send(shut);
    r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 4), "more");
    const auto got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].op() == VIRTIO_VSOCK_OP_RST);
    CHECK(r.device.connection_count() == 0);
}

TEMPLATE_TEST_CASE("vsock hostile: a REQUEST flood is bounded", "[vsock]", VSOCK_RINGS)
{
    VsockOptions o = VsockRig<TestType>::options();
    o.max_connections = 8;
    VsockRig<TestType> r(o);
    r.rig.ring_size = 256;
    r.start();
    r.host->listening.insert(5000);
    // No rx buffers: every answer waits, but only so many.
    for (std::uint32_t port = 0; port < 600; ++port) {
        r.send(guest_hdr(VIRTIO_VSOCK_OP_REQUEST, 10000 + port, port < 300 ? 5000 : 5001));
    }
    CHECK(r.device.connection_count() == 8);
    const auto status = r.device.status();
    CHECK(status["pending_replies"] == VsockDevice::MAX_PENDING_REPLIES);
    CHECK(r.device.counters().replies_dropped == 600 - 8 - VsockDevice::MAX_PENDING_REPLIES);
    r.give_rx(250, 64);
    const auto got = r.received();
    CHECK(got.size() == 250);
}

TEMPLATE_TEST_CASE("vsock hostile: useless rx buffers are returned, not spun on", "[vsock]", VSOCK_RINGS)
{
    VsockRig<TestType> r;
    r.start();
    r.give_rx(1);
    const int prog = r.connect();
    // Two too small for a header, and one that holds a header but no payload.
    r.give_rx(2, 16);
    r.give_rx(1, sizeof(VirtioVsockHdr));
    REQUIRE(::send(prog, "abc", 3, 0) == 3);
    r.settle();
    CHECK(r.device.counters().malformed == 3);
    auto got = r.received();
    REQUIRE(got.size() == 3);
    for (const auto& p : got) {
        CHECK(p.used_len == 0);
    }
    r.give_rx(1);
    got = r.received();
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "abc");
}

TEMPLATE_TEST_CASE("vsock hostile: reset with a pending host request and buffered data", "[vsock]", VSOCK_RINGS)
{
    VsockOptions o = VsockRig<TestType>::options();
    o.buffer_size = 65536;
    VsockRig<TestType> r(o);
    r.host->small_buffers = true;
    r.start();
    r.give_rx(8);
    r.connect();
    UniqueFd asked = r.ask(77);
    for (int i = 0; i < 8; ++i) {
        r.send(guest_hdr(VIRTIO_VSOCK_OP_RW, 1000, 5000, 4000), std::string(4000, 'q'));
    }
    const auto* c = r.device.find(ConnKey { 1000, 5000 });
    REQUIRE(c != nullptr);
    CHECK(c->has_output());
    r.device.reset();
    r.settle();
    char b = 0;
    CHECK(::recv(asked.get(), &b, 1, MSG_DONTWAIT) == 0);
    CHECK(r.device.connection_count() == 0);
}
