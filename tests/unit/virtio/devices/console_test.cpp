// SPDX-License-Identifier: Apache-2.0
// virtio-console through its Device interface: ports, data, size, emergency write, reset.
#include <array>
#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/console_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

template <class T>
T config_field(const Device& d, std::uint32_t offset)
{
    T v {};
    d.read_config(offset, std::as_writable_bytes(std::span(&v, 1)));
    return v;
}

} // namespace

TEST_CASE("virtio-console offers SIZE, MULTIPORT and EMERG_WRITE and has a queue pair per port plus control",
    "[virtio][console]")
{
    std::vector<std::shared_ptr<FakeHost>> hosts;
    ConsoleDevice device(console_options({ {}, {}, {} }, hosts));

    CHECK(device.type() == DeviceType::console);
    CHECK(has_feature(device.features(), VIRTIO_CONSOLE_F_SIZE));
    CHECK(has_feature(device.features(), VIRTIO_CONSOLE_F_MULTIPORT));
    CHECK(has_feature(device.features(), VIRTIO_CONSOLE_F_EMERG_WRITE));
    CHECK(device.queue_max_sizes().size() == 8);
}

TEST_CASE("the console configuration space holds the size and the port count, and reads past it are zero",
    "[virtio][console]")
{
    std::vector<std::shared_ptr<FakeHost>> hosts;
    auto options = console_options({ {}, {}, {} }, hosts);
    options.cols = 100;
    options.rows = 30;
    ConsoleDevice device(std::move(options));

    CHECK(device.config_size() == sizeof(VirtioConsoleConfig));
    CHECK(config_field<le16>(device, 0).get() == 100);
    CHECK(config_field<le16>(device, 2).get() == 30);
    CHECK(config_field<le32>(device, 4).get() == 3);
    CHECK(config_field<le32>(device, 8).get() == 0);
    CHECK(config_field<le32>(device, 12).get() == 0);
}

TEMPLATE_TEST_CASE("without MULTIPORT port 0 is the console: output reaches its backend, input its buffers",
    "[virtio][console]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start();
    c.post_rx(0, 16);

    const auto tx_len = c.transmit(0, "hello\r\n");
    c.host(0).type("ls\n");

    REQUIRE(tx_len);
    CHECK(*tx_len == 0);
    CHECK(c.host(0).output == "hello\r\n");
    CHECK(c.received(0) == "ls\n");
    CHECK(c.device.pending_control() == 0);
}

TEMPLATE_TEST_CASE("a notification before activation, or for a queue that does not exist, does nothing",
    "[virtio][console]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.device.on_queue_notify(1);
    c.device.on_queue_notify(3);
    c.rig.start();
    c.rig.queue(1).add({ readable(c.rig.buffer_with("x"), 1) });

    c.rig.kick(40);
    c.rig.kick(0xffff);
    c.rig.kick(3); // no control queues without MULTIPORT

    CHECK(c.host(0).output.empty());
    CHECK_FALSE(c.rig.queue(1).pop_used());
}

TEMPLATE_TEST_CASE("a chain of several descriptors reaches the backend in order and completes with length 0",
    "[virtio][console]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();
    c.rig.queue(c.tx_queue(1))
        .add({ readable(c.rig.buffer_with("abc"), 3), readable(c.rig.buffer_with(""), 0),
            readable(c.rig.buffer_with("defg"), 4) });

    c.rig.kick(c.tx_queue(1));

    const auto used = c.rig.queue(c.tx_queue(1)).pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    CHECK(c.host(1).output == "abcdefg");
    CHECK(c.host(0).output.empty());
}

TEMPLATE_TEST_CASE("a writable buffer in a transmit queue is neither sent nor written", "[virtio][console]",
    DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start();
    const auto buf = c.rig.buffer_with("secret");
    c.rig.queue(1).add({ writable(buf, 6) });

    c.rig.kick(1);

    const auto used = c.rig.queue(1).pop_used();
    REQUIRE(used);
    CHECK(used->len == 0);
    CHECK(c.host(0).output.empty());
    CHECK(c.rig.read_text(buf, 6) == "secret");
}

TEMPLATE_TEST_CASE("a 1 MiB transmit buffer goes to the backend whole", "[virtio][console]", DriverSplitQueue,
    DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start();
    c.rig.guest.fill(FakeGuest::RAM1_BASE, std::byte { 'z' }, FakeGuest::RAM1_SIZE);
    c.rig.queue(1).add({ readable(FakeGuest::RAM1_BASE, static_cast<std::uint32_t>(FakeGuest::RAM1_SIZE)) });

    c.rig.kick(1);

    CHECK(c.rig.queue(1).pop_used());
    CHECK(c.host(0).output == std::string(FakeGuest::RAM1_SIZE, 'z'));
}

TEMPLATE_TEST_CASE("a receive buffer crossing the end of RAM faults the queue and the input stays pending",
    "[virtio][console]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start();
    c.rig.queue(0).add({ writable(FakeGuest::RAM_END - 4, 16) });
    c.rig.kick(0);

    c.host(0).type("key");

    CHECK_FALSE(c.rig.queue(0).pop_used());
    CHECK(c.rig.irq.needs_reset_count() == 1);
    CHECK(c.device.pending_input(0) == 3);
    CHECK(c.rig.guest.read(FakeGuest::RAM_END - 4, 4) == std::vector<std::byte>(4));
}

TEMPLATE_TEST_CASE("zero-length receive descriptors are skipped and input lands in the next one",
    "[virtio][console]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start();
    const auto empty = c.rig.buffer(4);
    const auto data = c.rig.buffer(4);
    c.rig.queue(0).add({ writable(empty, 0), writable(data, 4) });
    c.rig.kick(0);

    c.host(0).type("abcd");

    const auto used = c.rig.queue(0).pop_used();
    REQUIRE(used);
    CHECK(used->len == 4);
    CHECK(c.rig.read_text(data, 4) == "abcd");
    CHECK(c.rig.guest.read(empty, 4) == std::vector<std::byte>(4));
}

TEMPLATE_TEST_CASE("a read-only receive buffer is returned empty and the input goes to the next buffer",
    "[virtio][console]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start();
    const auto ro = c.rig.buffer_with("ro");
    c.rig.queue(0).add({ readable(ro, 2) });
    c.rig.kick(0);
    c.post_rx(0, 8);

    c.host(0).type("in");

    const auto first = c.rig.queue(0).pop_used();
    REQUIRE(first);
    CHECK(first->len == 0);
    CHECK(c.rig.read_text(ro, 2) == "ro");
    const auto second = c.rig.queue(0).pop_used();
    REQUIRE(second);
    CHECK(second->len == 2);
}

// ---- Back-pressure ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("input waits in the backend while the guest has no receive buffers, and none is lost",
    "[virtio][console][rx]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();

    c.host(1).type("hello world", 8); // one read of 8 bytes reaches the device, then it pauses
    const bool paused = c.host(1).paused;
    const std::size_t held = c.device.pending_input(1);
    const std::size_t left_in_host = c.host(1).typed.size();
    c.post_rx(1, 4);
    const std::string first = c.received(1);
    const bool still_paused = c.host(1).paused;
    c.post_rx(1, 64);
    c.post_rx(1, 64);
    const std::string second = c.received(1);
    const bool resumed = !c.host(1).paused;
    c.host(1).pump(8);
    const std::string third = c.received(1);

    CHECK(paused);
    CHECK(held == 8);
    CHECK(left_in_host == 3);
    CHECK(first == "hell");
    CHECK(still_paused);
    CHECK(second == "o wo");
    CHECK(resumed);
    CHECK(third == "rld");
    CHECK(c.device.dropped_input(1) == 0);
}

TEMPLATE_TEST_CASE("input larger than one receive buffer is split across the buffers in order",
    "[virtio][console][rx]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();
    c.post_rx(1, 3);
    c.post_rx(1, 3);
    c.post_rx(1, 3);

    c.host(1).type("abcdefgh");

    CHECK(c.received(1) == "abcdefgh");
    CHECK(c.device.pending_input(1) == 0);
    CHECK_FALSE(c.host(1).paused);
}

TEMPLATE_TEST_CASE("input for a port waits until the guest opens it", "[virtio][console][rx]",
    DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start(MULTIPORT);
    c.post_control_buffers(8);
    (void)c.send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    (void)c.send(1, VIRTIO_CONSOLE_PORT_READY, 1);
    c.post_rx(1, 16);

    c.host(1).type("early");
    const std::string before_open = c.received(1);
    (void)c.send(1, VIRTIO_CONSOLE_PORT_OPEN, 1);

    CHECK(before_open.empty());
    CHECK(c.received(1) == "early");
}

TEMPLATE_TEST_CASE("input after the guest closes a port waits for it to open the port again",
    "[virtio][console][rx]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();
    c.post_rx(1, 16);
    (void)c.send(1, VIRTIO_CONSOLE_PORT_OPEN, 0);

    c.host(1).type("later");
    const std::string while_closed = c.received(1);
    (void)c.send(1, VIRTIO_CONSOLE_PORT_OPEN, 1);

    CHECK(while_closed.empty());
    CHECK(c.received(1) == "later");
}

TEST_CASE("a backend that ignores the pause loses only what exceeds MAX_PENDING_INPUT, and it is counted",
    "[virtio][console][rx]")
{
    ConsoleRig<DriverSplitQueue> c;
    c.handshake();
    const std::string flood(ConsoleDevice::MAX_PENDING_INPUT + 100, 'f');

    c.host(1).events.on_input(std::as_bytes(std::span(flood)));

    CHECK(c.device.pending_input(1) == ConsoleDevice::MAX_PENDING_INPUT);
    CHECK(c.device.dropped_input(1) == 100);
}

TEMPLATE_TEST_CASE("a reset while input is pending writes nothing into the old rings and keeps the input",
    "[virtio][console][reset]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();
    (void)c.send(1, VIRTIO_CONSOLE_PORT_OPEN, 0);
    c.host(1).type("kept");
    auto& old_rx = c.rig.queue(c.rx_queue(1));
    const auto stale = c.post_rx(1, 16, false);

    c.device.reset();
    c.rig.kick(c.rx_queue(1));
    c.host(1).pump();
    const bool stale_used = old_rx.pop_used().has_value();
    const auto stale_bytes = c.rig.guest.read(stale, 16);
    c.handshake();
    c.post_rx(1, 16);

    CHECK_FALSE(stale_used);
    CHECK(stale_bytes == std::vector<std::byte>(16));
    CHECK(c.received(1) == "kept");
}

TEMPLATE_TEST_CASE("after a reset the console works again without MULTIPORT", "[virtio][console][reset]",
    DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();
    c.device.reset();

    c.rig.start();
    c.post_rx(0, 8);
    c.host(0).type("ok");
    (void)c.transmit(0, "up");

    CHECK(c.received(0) == "ok");
    CHECK(c.host(0).output == "up");
}

// ---- Size and emergency write -----------------------------------------------------------------

TEMPLATE_TEST_CASE("resize updates cols and rows in the configuration space with a configuration interrupt",
    "[virtio][console][size]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.rig.start();
    const auto generation = c.device.config_generation();

    c.device.resize(132, 43);

    CHECK(config_field<le16>(c.device, 0).get() == 132);
    CHECK(config_field<le16>(c.device, 2).get() == 43);
    CHECK(c.rig.irq.config_count() == 1);
    CHECK(c.device.config_generation() == generation + 1);
}

TEMPLATE_TEST_CASE(
    "with MULTIPORT a resize also sends RESIZE for the console port, rows first as Linux reads it",
    "[virtio][console][size]", DriverSplitQueue, DriverPackedQueue)
{
    ConsoleRig<TestType> c;
    c.handshake();

    c.device.resize(132, 43);

    CHECK(c.control() == std::vector { msg(0, VIRTIO_CONSOLE_RESIZE, 0, resize_payload(132, 43)) });
}

TEST_CASE("a write to emerg_wr sends its low byte to port 0, even before the driver set anything up",
    "[virtio][console][emerg]")
{
    ConsoleRig<DriverSplitQueue> c;
    const le32 wide(0x4241);
    const std::array<std::byte, 1> narrow { std::byte { 'C' } };

    c.device.write_config(8, std::as_bytes(std::span(&wide, 1)));
    c.device.write_config(8, narrow);
    c.device.write_config(9, narrow); // not the low byte
    c.device.write_config(0, narrow); // cols is read-only

    CHECK(c.host(0).output == "AC");
    CHECK(config_field<le16>(c.device, 0).get() == 80);
    CHECK(c.host(1).output.empty());
}

TEST_CASE("without emergency write the feature is not offered and emerg_wr writes are ignored",
    "[virtio][console][emerg]")
{
    ConsoleRig<DriverSplitQueue> c({ {} }, [](ConsoleOptions& o) { o.emergency_write = false; });
    const std::array<std::byte, 1> byte { std::byte { 'X' } };

    c.device.write_config(8, byte);

    CHECK_FALSE(has_feature(c.device.features(), VIRTIO_CONSOLE_F_EMERG_WRITE));
    CHECK(c.host(0).output.empty());
}

TEST_CASE("the console reports a port's pty path from its backend", "[virtio][console]")
{
    ConsoleRig<DriverSplitQueue> c;
    c.host(1).pty = "/dev/pts/7";

    CHECK(c.device.pty_path(1) == std::filesystem::path("/dev/pts/7"));
    CHECK(c.device.pty_path(0).empty());
    CHECK(c.device.pty_path(9).empty());
}
