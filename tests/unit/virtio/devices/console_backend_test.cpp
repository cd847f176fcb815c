// SPDX-License-Identifier: Apache-2.0
// virtio-console with its real backends (pty, socket, file), built by the registry.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/console_rig.hpp"
#include "tests/unit/vmm/console/console_test_support.hpp"
#include "virtio/devices/console/console.hpp"
#include "virtio/registry.hpp"
#include "vmm/base/unique_fd.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using vmm::test::connect_unix;
using vmm::test::read_available;
using vmm::test::run_until;
using vmm::test::TempDir;

namespace {

ConsoleDevice& build(EventLoop& loop, std::unique_ptr<Device>& holder, std::string_view params,
    const std::filesystem::path& base_dir = "/")
{
    config::DeviceConfig e;
    e.type = "console";
    e.params = nlohmann::json::parse(params);
    e.origin = "devices[0]";
    e.base_dir = base_dir;
    DeviceResources resources { .loop = &loop, .on_console_quit = {} };
    auto dev = make_device(e, resources);
    INFO((dev ? std::string() : dev.error().describe()));
    REQUIRE(dev);
    holder = std::move(dev).value();
    auto* console = dynamic_cast<ConsoleDevice*>(holder.get());
    REQUIRE(console != nullptr);
    return *console;
}

} // namespace

TEST_CASE("a pty port sends guest output to the slave side and what is typed there to the guest",
    "[virtio][console][pty]")
{
    EventLoop loop;
    std::unique_ptr<Device> holder;
    ConsoleDevice& device = build(loop, holder, R"({"backend": "pty"})");
    const auto path = device.pty_path(0);
    REQUIRE_FALSE(path.empty());
    const UniqueFd slave(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(slave);
    DeviceRig<DriverSplitQueue> rig(device);
    rig.start();
    const auto rx = rig.buffer(16);
    rig.queue(0).add({ writable(rx, 16) });
    rig.kick(0);

    rig.queue(1).add({ readable(rig.buffer_with("guest\r\n"), 7) });
    rig.kick(1);
    std::string seen;
    const bool output_arrived = run_until(loop.io(), [&] {
        seen += read_available(slave.get());
        return seen == "guest\r\n";
    });
    REQUIRE(::write(slave.get(), "typed", 5) == 5);
    std::optional<UsedEntry> used;
    const bool input_arrived = run_until(loop.io(), [&] { return (used = rig.queue(0).pop_used()).has_value(); });

    CHECK(output_arrived);
    REQUIRE(input_arrived);
    CHECK(used->len == 5);
    CHECK(rig.read_text(rx, 5) == "typed");
}

TEST_CASE("a socket port tells the guest about its client and holds input back while the guest has no room",
    "[virtio][console][socket]")
{
    TempDir dir;
    EventLoop loop;
    std::unique_ptr<Device> holder;
    ConsoleDevice& device = build(loop, holder,
        R"({"ports": [{"backend": "none"},
                      {"backend": "socket", "path": "agent.sock", "name": "org.vireo.agent"}]})",
        dir.path);
    DeviceRig<DriverSplitQueue> rig(device);
    rig.start(MULTIPORT);
    std::map<std::uint16_t, std::uint64_t> control_buffers;
    auto post_control = [&] {
        const auto at = rig.buffer(64);
        control_buffers[rig.queue(2).add({ writable(at, 64) })] = at;
        rig.kick(2);
    };
    auto send = [&](std::uint32_t id, std::uint16_t event, std::uint16_t value) {
        VirtioConsoleControl m;
        m.id.set(id);
        m.event.set(event);
        m.value.set(value);
        const auto at = rig.buffer(sizeof(m));
        rig.guest.write_obj(at, m);
        rig.queue(3).add({ readable(at, sizeof(m)) });
        rig.kick(3);
    };
    auto last_open = [&]() -> std::optional<std::uint16_t> {
        std::optional<std::uint16_t> value;
        while (auto used = rig.queue(2).pop_used()) {
            const auto m = rig.guest.read_obj<VirtioConsoleControl>(
                control_buffers.at(static_cast<std::uint16_t>(used->id)));
            if (m.id.get() == 1 && m.event.get() == VIRTIO_CONSOLE_PORT_OPEN) {
                value = m.value.get();
            }
        }
        return value;
    };
    for (int i = 0; i < 12; ++i) {
        post_control();
    }
    send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    send(1, VIRTIO_CONSOLE_PORT_READY, 1);
    send(1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    const auto before_client = last_open();

    auto client = connect_unix(dir.path / "agent.sock");
    REQUIRE(client);
    std::optional<std::uint16_t> on_connect;
    const bool connected = run_until(loop.io(), [&] { return (on_connect = last_open()).has_value(); });
    REQUIRE(::send(client.get(), "ping", 4, MSG_NOSIGNAL) == 4);
    const bool held = run_until(loop.io(), [&] { return device.pending_input(1) == 4; });
    const auto rx = rig.buffer(16);
    rig.queue(4).add({ writable(rx, 16) });
    rig.kick(4);
    const auto used = rig.queue(4).pop_used();
    client.reset();
    std::optional<std::uint16_t> on_hangup;
    const bool hung_up = run_until(loop.io(), [&] { return (on_hangup = last_open()).has_value(); });

    CHECK_FALSE(before_client);
    REQUIRE(connected);
    CHECK(*on_connect == 1);
    CHECK(held);
    REQUIRE(used);
    CHECK(used->len == 4);
    CHECK(rig.read_text(rx, 4) == "ping");
    REQUIRE(hung_up);
    CHECK(*on_hangup == 0);
}

TEST_CASE("a file port writes the guest's output to the file", "[virtio][console][file]")
{
    TempDir dir;
    EventLoop loop;
    {
        std::unique_ptr<Device> holder;
        ConsoleDevice& device = build(loop, holder, R"({"backend": "file", "path": "out.log"})", dir.path);
        DeviceRig<DriverPackedQueue> rig(device);
        rig.start();
        rig.queue(1).add({ readable(rig.buffer_with("logged\n"), 7) });
        rig.kick(1);
    }
    std::ifstream in(dir.path / "out.log");
    std::stringstream ss;
    ss << in.rdbuf();

    CHECK(ss.str() == "logged\n");
}
