// SPDX-License-Identifier: Apache-2.0
// virtio-console's control queues: the multiport handshake, host open/close, hostile messages.
#include <array>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/console_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

TEMPLATE_TEST_CASE("the multiport handshake adds each port, then names it, marks the console and opens it",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c({ {}, { "org.vireo.test" }, { "org.vireo.closed", false } });
    c.rig.start(MULTIPORT);
    c.post_control_buffers(16);

    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    const auto added = c.control();
    (void)c.send(0, VIRTIO_CONSOLE_PORT_READY, 1);
    const auto port0 = c.control();
    (void)c.send(1, VIRTIO_CONSOLE_PORT_READY, 1);
    const auto port1 = c.control();
    (void)c.send(2, VIRTIO_CONSOLE_PORT_READY, 1);
    const auto port2 = c.control();

    CHECK(added
        == std::vector { msg(0, VIRTIO_CONSOLE_DEVICE_ADD, 1), msg(1, VIRTIO_CONSOLE_DEVICE_ADD, 1),
            msg(2, VIRTIO_CONSOLE_DEVICE_ADD, 1) });
    CHECK(port0
        == std::vector { msg(0, VIRTIO_CONSOLE_CONSOLE_PORT, 1),
            msg(0, VIRTIO_CONSOLE_RESIZE, 0, resize_payload(80, 25)), msg(0, VIRTIO_CONSOLE_PORT_OPEN, 1) });
    CHECK(port1
        == std::vector {
            msg(1, VIRTIO_CONSOLE_PORT_NAME, 1, "org.vireo.test"), msg(1, VIRTIO_CONSOLE_PORT_OPEN, 1) });
    CHECK(port2 == std::vector { msg(2, VIRTIO_CONSOLE_PORT_NAME, 1, "org.vireo.closed") });
}

TEMPLATE_TEST_CASE("without console_port, port 0 is a generic port and gets no CONSOLE_PORT or RESIZE",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c({ { "org.vireo.zero" } }, [](ConsoleOptions& o) { o.console_port = false; });
    c.rig.start(MULTIPORT);
    c.post_control_buffers(8);
    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    (void)c.control();

    (void)c.send(0, VIRTIO_CONSOLE_PORT_READY, 1);
    c.device.resize(100, 50);

    CHECK(c.control()
        == std::vector {
            msg(0, VIRTIO_CONSOLE_PORT_NAME, 1, "org.vireo.zero"), msg(0, VIRTIO_CONSOLE_PORT_OPEN, 1) });
}

TEMPLATE_TEST_CASE("control messages wait for control receive buffers and go out in order when they come",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c({ {}, {}, {} });
    c.rig.start(MULTIPORT);

    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    const std::size_t waiting = c.device.pending_control();
    c.post_control_buffers(2);
    const auto first = c.control();
    c.post_control_buffers(2);
    const auto rest = c.control();

    CHECK(waiting == 3);
    CHECK(
        first == std::vector { msg(0, VIRTIO_CONSOLE_DEVICE_ADD, 1), msg(1, VIRTIO_CONSOLE_DEVICE_ADD, 1) });
    CHECK(rest == std::vector { msg(2, VIRTIO_CONSOLE_DEVICE_ADD, 1) });
    CHECK(c.device.pending_control() == 0);
}

TEMPLATE_TEST_CASE("a control receive buffer too small for a message comes back empty and the message waits",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c({ {}, { "org.vireo.test" } });
    c.rig.start(MULTIPORT);
    c.post_control_buffers(2);
    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    (void)c.control();

    c.post_control_buffers(1, 10); // PORT_NAME needs 8 + 14 bytes
    (void)c.send(1, VIRTIO_CONSOLE_PORT_READY, 1);
    const auto too_small = c.control();
    c.post_control_buffers(2);

    CHECK(too_small == std::vector { msg(BAD_ID, 0xffff, 0xffff, "<empty>") });
    CHECK(c.control()
        == std::vector {
            msg(1, VIRTIO_CONSOLE_PORT_NAME, 1, "org.vireo.test"), msg(1, VIRTIO_CONSOLE_PORT_OPEN, 1) });
}

TEMPLATE_TEST_CASE("a host client coming and going becomes PORT_OPEN 0 and 1 for the guest",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();

    c.host(1).set_connected(false);
    const auto closed = c.control();
    c.host(1).set_connected(true);

    CHECK(closed == std::vector { msg(1, VIRTIO_CONSOLE_PORT_OPEN, 0) });
    CHECK(c.control() == std::vector { msg(1, VIRTIO_CONSOLE_PORT_OPEN, 1) });
}

TEMPLATE_TEST_CASE(
    "a storm of host opens and closes with no control buffers leaves one PORT_OPEN, the latest",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start(MULTIPORT);
    c.post_control_buffers(5); // 2 DEVICE_ADD, CONSOLE_PORT, RESIZE, PORT_OPEN for port 0
    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    (void)c.send(0, VIRTIO_CONSOLE_PORT_READY, 1);
    (void)c.send(1, VIRTIO_CONSOLE_PORT_READY, 1); // PORT_NAME and PORT_OPEN now wait
    (void)c.control();

    for (int i = 0; i < 1000; ++i) {
        c.host(1).set_connected(i % 2 == 0);
    }
    const std::size_t waiting = c.device.pending_control();
    c.post_control_buffers(4);

    CHECK(waiting == 2);
    CHECK(c.control()
        == std::vector {
            msg(1, VIRTIO_CONSOLE_PORT_NAME, 1, "org.vireo.test"), msg(1, VIRTIO_CONSOLE_PORT_OPEN, 0) });
}

TEMPLATE_TEST_CASE("a host-side change before the port is ready is reported by PORT_READY's own PORT_OPEN",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c({ {}, { "", false } });
    c.rig.start(MULTIPORT);
    c.post_control_buffers(8);
    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    (void)c.control();

    c.host(1).set_connected(true);
    const auto before_ready = c.control();
    (void)c.send(1, VIRTIO_CONSOLE_PORT_READY, 1);

    CHECK(before_ready.empty());
    CHECK(c.control() == std::vector { msg(1, VIRTIO_CONSOLE_PORT_OPEN, 1) });
}

// ---- Hostile driver -----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("control messages for a port at or beyond max_nr_ports are ignored",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();
    c.post_rx(1, 8);

    const auto ready = c.send(2, VIRTIO_CONSOLE_PORT_READY, 1);
    const auto open = c.send(99, VIRTIO_CONSOLE_PORT_OPEN, 1);
    const auto huge = c.send(BAD_ID, VIRTIO_CONSOLE_PORT_READY, 1);
    const auto replies = c.control();
    c.host(1).type("alive");

    REQUIRE(ready);
    CHECK(*ready == 0);
    REQUIRE(open);
    REQUIRE(huge);
    CHECK(replies.empty());
    CHECK(c.rig.irq.needs_reset_count() == 0);
    CHECK(c.received(1) == "alive");
}

TEMPLATE_TEST_CASE("a control message shorter than its header is completed and ignored",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start(MULTIPORT);
    c.post_control_buffers(8);
    const std::array<std::byte, 4> partial { std::byte { 0 }, std::byte { 0 }, std::byte { 0 },
        std::byte { 0 } };

    const auto used = c.send_raw(partial);

    REQUIRE(used);
    CHECK(*used == 0);
    CHECK(c.control().empty());
    CHECK(c.device.pending_control() == 0);
}

TEMPLATE_TEST_CASE("a control message in a writable-only buffer is completed and ignored",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start(MULTIPORT);
    c.post_control_buffers(8);
    const auto buf = c.rig.buffer(8);
    c.rig.queue(VIRTIO_CONSOLE_CONTROL_TX_QUEUE).add({ writable(buf, 8) });

    c.rig.kick(VIRTIO_CONSOLE_CONTROL_TX_QUEUE);

    const auto used = c.rig.queue(VIRTIO_CONSOLE_CONTROL_TX_QUEUE).pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    CHECK(c.rig.guest.read(buf, 8) == std::vector<std::byte>(8));
    CHECK(c.control().empty());
}

TEMPLATE_TEST_CASE("unknown events and events only the device sends are ignored when the driver sends them",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();

    for (const std::uint16_t event : { std::uint16_t { 42 }, VIRTIO_CONSOLE_DEVICE_ADD,
             VIRTIO_CONSOLE_DEVICE_REMOVE, VIRTIO_CONSOLE_CONSOLE_PORT, VIRTIO_CONSOLE_RESIZE,
             VIRTIO_CONSOLE_PORT_NAME, std::uint16_t { 0xffff } }) {
        INFO("event " << event);
        CHECK(c.send(1, event, 1));
    }

    CHECK(c.control().empty());
    CHECK(c.device.pending_control() == 0);
}

TEMPLATE_TEST_CASE("PORT_READY before DEVICE_READY, and PORT_OPEN before PORT_READY, are ignored",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start(MULTIPORT);
    c.post_control_buffers(8);
    c.post_rx(1, 8);

    (void)c.send(1, VIRTIO_CONSOLE_PORT_READY, 1);
    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    (void)c.control();
    (void)c.send(1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    c.host(1).type("x");

    CHECK(c.received(1).empty());
    CHECK(c.device.pending_input(1) == 1);
}

TEMPLATE_TEST_CASE("a repeated DEVICE_READY or PORT_READY does not announce anything twice",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();

    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    (void)c.send(1, VIRTIO_CONSOLE_PORT_READY, 1);

    CHECK(c.control().empty());
}

TEMPLATE_TEST_CASE("a failed DEVICE_READY announces no ports and a failed PORT_READY sets nothing up",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start(MULTIPORT);
    c.post_control_buffers(8);

    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 0);
    const auto after_failure = c.control();
    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    (void)c.control();
    (void)c.send(1, VIRTIO_CONSOLE_PORT_READY, 0);

    CHECK(after_failure.empty());
    CHECK(c.control().empty());
}

TEMPLATE_TEST_CASE("a PORT_OPEN value other than 0 or 1 is ignored", "[virtio][console][control]",
    DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();
    (void)c.send(1, VIRTIO_CONSOLE_PORT_OPEN, 0);
    c.post_rx(1, 8);

    (void)c.send(1, VIRTIO_CONSOLE_PORT_OPEN, 7);
    c.host(1).type("x");

    CHECK(c.received(1).empty());
}

TEMPLATE_TEST_CASE("MULTIPORT activation needs the control queues, and a port without queues is not added",
    "[virtio][console][control]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c({ {}, {}, {} });

    const auto without_control = c.rig.try_start(MULTIPORT, { 0, 1 });
    c.device.reset();
    const auto without_port_zero = c.rig.try_start(MULTIPORT, { 1, 2, 3 });
    c.device.reset();
    c.rig.start(MULTIPORT, { 0, 1, 2, 3, 6, 7 }); // port 1's queues 4 and 5 left disabled
    c.post_control_buffers(8);
    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);

    CHECK_FALSE(without_control);
    CHECK_FALSE(without_port_zero);
    CHECK(c.control()
        == std::vector { msg(0, VIRTIO_CONSOLE_DEVICE_ADD, 1), msg(2, VIRTIO_CONSOLE_DEVICE_ADD, 1) });
}
