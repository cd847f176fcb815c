// SPDX-License-Identifier: Apache-2.0
// Device interface and DeviceBase through the echo device; the registry.
#include <array>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/echo_rig.hpp"
#include "tests/unit/virtio/queue_fixture.hpp"
#include "virtio/registry.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

// Exposes DeviceBase's run-time config update.
class ConfigDevice final : public DeviceBase {
public:
    ConfigDevice() : DeviceBase(DeviceType::input, { 64 }, 0, 4) {}
    [[nodiscard]] Result<> activate(ActivationContext ctx) override
    {
        set_interrupt(&ctx.interrupt);
        return {};
    }
    void reset() noexcept override { reset_base(); }
    void on_queue_notify(std::uint16_t) noexcept override {}
    void change(std::uint32_t v) { update_config_obj(0, le32(v)); }
};

std::uint32_t read_u32(const Device& d, std::uint32_t offset)
{
    std::array<std::byte, 4> out {};
    d.read_config(offset, out);
    std::uint32_t v = 0;
    std::memcpy(&v, out.data(), 4);
    return v;
}

} // namespace

TEST_CASE("the echo device echoes a split chain end to end and notifies the driver", "[virtio][device]")
{
    EchoRig rig;
    const auto out = rig.guest.alloc(5);
    const auto in = rig.guest.alloc(16);
    rig.guest.write(out, bytes_of("hello"));
    rig.start();
    const auto head = rig.drivers[0].add({ readable(out, 5), writable(in, 16) });

    rig.device.on_queue_notify(0);

    const auto used = rig.drivers[0].pop_used();
    REQUIRE(used);
    CHECK(used->id == head);
    CHECK(used->len == 5);
    CHECK(rig.guest.read(in, 5) == bytes_of("hello"));
    CHECK(rig.irq.queue_count(0) == 1);
}

TEST_CASE("the echo device works over a packed ring", "[virtio][device][packed]")
{
    FakeGuest guest;
    FakeInterrupt irq;
    EchoDevice device(1);
    const auto features = feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_RING_PACKED);
    DriverPackedQueue driver(guest, 8);
    QueueConfig config(EchoDevice::MAX_QUEUE_SIZE);
    driver.configure(config);
    device.ack_features(features);
    auto q = config.activate(0, guest.dma(), features, irq);
    REQUIRE(q);
    std::vector<Queue> queues;
    queues.push_back(std::move(q).value());
    REQUIRE(device.activate(ActivationContext { std::move(queues), irq, guest.dma() }));
    const auto out = guest.alloc(4);
    const auto in = guest.alloc(4);
    guest.write(out, bytes_of("pack"));
    driver.add({ readable(out, 4), writable(in, 4) });

    device.on_queue_notify(0);

    const auto used = driver.pop_used();
    REQUIRE(used);
    CHECK(used->len == 4);
    CHECK(guest.read(in, 4) == bytes_of("pack"));
    CHECK(irq.queue_count(0) == 1);
}

TEST_CASE("a notification before activation is ignored", "[virtio][device]")
{
    EchoRig rig;
    const auto in = rig.guest.alloc(4);
    rig.drivers[0].add({ writable(in, 4) });

    rig.device.on_queue_notify(0);

    CHECK(rig.drivers[0].used_idx() == 0);
}

TEST_CASE("a notification for a queue the device does not have is ignored", "[virtio][device]")
{
    EchoRig rig;
    rig.start();

    rig.device.on_queue_notify(7);

    CHECK(rig.irq.queue_count(7) == 0);
}

TEST_CASE("a read-only chain where the device writes a reply completes with used.len 0", "[virtio][device]")
{
    EchoRig rig;
    const auto out = rig.guest.alloc(4);
    rig.start();
    rig.drivers[0].add({ readable(out, 4) });

    rig.device.on_queue_notify(0);

    CHECK(rig.drivers[0].pop_used()->len == 0);
}

TEST_CASE("a buffer that crosses the end of RAM faults the queue and asks for a reset", "[virtio][device]")
{
    EchoRig rig;
    rig.start();
    rig.drivers[0].add({ writable(FakeGuest::RAM_END - 8, 64) });

    rig.device.on_queue_notify(0);

    CHECK(rig.drivers[0].used_idx() == 0);
    CHECK(rig.irq.needs_reset_count() == 1);
    CHECK(rig.device.queue(0)->fault() == QueueFault::buffer_unmapped);
}

TEST_CASE("overlapping descriptors are accepted: both name guest memory", "[virtio][device]")
{
    EchoRig rig;
    const auto buf = rig.guest.alloc(8);
    rig.guest.write(buf, bytes_of("abcdefgh"));
    rig.start();
    rig.drivers[0].add({ readable(buf, 8), writable(buf + 4, 4) });

    rig.device.on_queue_notify(0);

    CHECK(rig.drivers[0].pop_used()->len == 4);
    CHECK(rig.guest.read(buf, 8) == bytes_of("abcdabcd"));
}

TEST_CASE("config reads return the device's bytes, and zeros past the end", "[virtio][device]")
{
    EchoDevice device;

    CHECK(read_u32(device, 0) == EchoDevice::MAGIC);
    CHECK(read_u32(device, 8) == 0);
    CHECK(read_u32(device, 0xffff'fff0) == 0);
    CHECK(read_u32(device, 6) == 0); // half scratch (zero), half past the end
    CHECK(read_u32(device, 2) == (EchoDevice::MAGIC >> 16));
}

TEST_CASE("config writes reach writable fields only and are ignored past the end", "[virtio][device]")
{
    EchoDevice device;
    const auto v = le32(0x12345678);
    const auto bytes = std::as_bytes(std::span(&v, 1));

    device.write_config(4, bytes);
    device.write_config(0, bytes);
    device.write_config(6, bytes);

    CHECK(read_u32(device, 4) == 0x12345678);
    CHECK(read_u32(device, 0) == EchoDevice::MAGIC);
    CHECK(device.config_size() == 8);
}

TEST_CASE("a device always offers VIRTIO_F_VERSION_1 and keeps only offered bits of what the driver acks",
    "[virtio][device]")
{
    EchoDevice device(1, feature_bit(VIRTIO_F_EVENT_IDX));

    device.ack_features(feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_EVENT_IDX)
        | feature_bit(VIRTIO_F_RING_PACKED) | feature_bit(3));

    CHECK(has_feature(device.features(), VIRTIO_F_VERSION_1));
    CHECK(device.negotiated() == (feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_EVENT_IDX)));
}

TEST_CASE("a config change bumps the generation and sends a config interrupt once activated", "[virtio][device]")
{
    FakeGuest guest;
    FakeInterrupt irq;
    ConfigDevice device;
    device.change(1);
    const auto gen_before = device.config_generation();
    const auto irq_before = irq.config_count();
    REQUIRE(device.activate(ActivationContext { {}, irq, guest.dma() }));

    device.change(2);

    CHECK(irq_before == 0);
    CHECK(irq.config_count() == 1);
    CHECK(device.config_generation() == gen_before + 1);
    CHECK(read_u32(device, 0) == 2);
}

TEST_CASE("a device without per-queue reset support refuses to re-enable a queue", "[virtio][device]")
{
    SplitFixture f;
    ConfigDevice device;

    auto r = device.enable_queue(std::move(f.activate()));

    CHECK_FALSE(r);
}

// ---- Registry --------------------------------------------------------------------------------

namespace {

Result<std::unique_ptr<Device>> make_echo(const config::DeviceConfig&, DeviceResources&)
{
    return std::unique_ptr<Device>(std::make_unique<EchoDevice>());
}

Result<> validate_echo(const config::DeviceConfig& entry)
{
    if (entry.params.contains("bogus")) {
        return fail(Errc::invalid_argument, "echo: unknown key \"bogus\"");
    }
    return {};
}

constexpr std::array<DeviceKind, 1> TEST_KINDS { { { "echo", &make_echo, &validate_echo } } };

config::DeviceConfig entry_of(std::string type)
{
    config::DeviceConfig e;
    e.type = std::move(type);
    e.origin = "devices[0]";
    return e;
}

} // namespace

TEST_CASE("the registry builds a device by its type name", "[virtio][registry]")
{
    DeviceResources res;

    auto dev = make_device(TEST_KINDS, entry_of("echo"), res);

    REQUIRE(dev);
    CHECK((*dev)->type() == DeviceType::rng);
}

TEST_CASE("the registry refuses an unknown type and names the known ones", "[virtio][registry]")
{
    DeviceResources res;

    auto dev = make_device(TEST_KINDS, entry_of("blok"), res);

    REQUIRE_FALSE(dev);
    CHECK_THAT(dev.error().describe(),
        Catch::Contains("devices[0]") && Catch::Contains("blok") && Catch::Contains("known: echo"));
}

TEST_CASE("the registry runs the kind's validator before building", "[virtio][registry]")
{
    DeviceResources res;
    auto e = entry_of("echo");
    e.params["bogus"] = 1;

    CHECK_FALSE(make_device(TEST_KINDS, e, res));
    CHECK_FALSE(validate_device(TEST_KINDS, e));
}

TEST_CASE("the built-in registry refuses an unknown type and lists the kinds it has", "[virtio][registry]")
{
    DeviceResources res;

    auto dev = make_device(entry_of("blk"), res);

    REQUIRE_FALSE(dev);
    std::string known = "known: ";
    for (const auto& kind : device_kinds()) {
        known += std::string(kind.name) + (&kind == &device_kinds().back() ? "" : ", ");
    }
    CHECK(device_kinds().size() >= 3);
    CHECK_THAT(dev.error().describe(), Catch::Contains(known) && Catch::Contains("console") && Catch::Contains("rng"));
}

TEST_CASE("the registry names the entry in a factory's error too", "[virtio][registry]")
{
    constexpr std::array<DeviceKind, 1> failing { { { "echo",
        [](const config::DeviceConfig&, DeviceResources&) -> Result<std::unique_ptr<Device>> {
            return fail(Errc::io_error, "cannot open the backend");
        } } } };
    DeviceResources res;

    auto dev = make_device(failing, entry_of("echo"), res);

    REQUIRE_FALSE(dev);
    CHECK(dev.error().describe() == "devices[0] (type \"echo\"): cannot open the backend");
}

TEST_CASE("the built-in registry lists the block kind", "[virtio][registry]")
{
    CHECK(find_device_kind(device_kinds(), "block") != nullptr);
}
