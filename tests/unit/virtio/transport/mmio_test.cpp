// SPDX-License-Identifier: Apache-2.0
// virtio-mmio specifics: identification, access widths, selectors, shared memory, ioeventfds.
#include <catch2/catch.hpp>

#include "tests/support/echo_device.hpp"
#include "tests/support/mmio_driver.hpp"
#include "virtio/spec/mmio.hpp"
#include "virtio/transport/mmio_transport.hpp"

namespace vmm::virtio::test {
namespace {

constexpr std::uint64_t BASE = 0xd000'0000;

struct MmioFixture {
    explicit MmioFixture(std::vector<ShmRegion> shm = {})
    {
        MmioOptions options;
        options.base = BASE;
        options.transport.dma.direct = &guest.dma();
        options.shm = std::move(shm);
        auto t = MmioTransport::create(
            std::make_unique<EchoDevice>(), host, std::make_unique<CountingIrqLine>(&edges), options);
        REQUIRE(t);
        transport = std::move(t).value();
        REQUIRE(bus.insert(transport, BASE, MmioTransport::SIZE));
    }

    FakeGuest guest;
    TestHost host;
    Bus bus { "mmio" };
    std::uint32_t edges = 0;
    std::shared_ptr<MmioTransport> transport;
    MmioDriver driver { bus, host, BASE, edges };
};

} // namespace

TEST_CASE("virtio-mmio identifies itself as a version 2 device", "[virtio][mmio]")
{
    MmioFixture f;

    CHECK(f.driver.read32(mmio::MAGIC_VALUE) == 0x74726976);
    CHECK(f.driver.read32(mmio::VERSION) == 2);
    CHECK(f.driver.read32(mmio::DEVICE_ID) == 4);
}

TEST_CASE("virtio-mmio binds one ioeventfd per queue at QueueNotify, matched on the index", "[virtio][mmio]")
{
    MmioFixture f;

    const auto& b = f.host.bindings();

    REQUIRE(b.size() == 2);
    CHECK(b[0].addr == BASE + mmio::QUEUE_NOTIFY);
    CHECK(b[0].len == 4);
    CHECK(b[0].match == std::optional<std::uint64_t>(0));
    CHECK(b[1].match == std::optional<std::uint64_t>(1));
}

TEST_CASE("virtio-mmio control registers ignore accesses that are not 32-bit and aligned", "[virtio][mmio]")
{
    MmioFixture f;
    std::array<std::byte, 2> half {};
    const std::uint16_t ack = VIRTIO_CONFIG_S_ACKNOWLEDGE;

    f.driver.read_raw(mmio::MAGIC_VALUE, half);
    f.driver.write_raw(mmio::STATUS, std::as_bytes(std::span(&ack, 1)));
    f.driver.write32(mmio::STATUS + 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);

    CHECK(half == std::array<std::byte, 2> {});
    CHECK(f.driver.status() == 0);
}

TEST_CASE("virtio-mmio per-queue registers of a queue the device lacks read zero and ignore writes",
    "[virtio][mmio]")
{
    MmioFixture f;
    f.driver.write32(mmio::QUEUE_SEL, 2);

    f.driver.write32(mmio::QUEUE_NUM, 8);
    f.driver.write32(mmio::QUEUE_READY, 1);

    CHECK(f.driver.read32(mmio::QUEUE_NUM_MAX) == 0);
    CHECK(f.driver.read32(mmio::QUEUE_READY) == 0);
    f.driver.write32(mmio::QUEUE_SEL, 0xffffffff);
    CHECK(f.driver.read32(mmio::QUEUE_NUM_MAX) == 0);
}

TEST_CASE("virtio-mmio turns a queue size that does not fit 16 bits into an invalid one", "[virtio][mmio]")
{
    MmioFixture f;
    f.driver.write32(mmio::QUEUE_SEL, 0);

    f.driver.write32(mmio::QUEUE_NUM, 0x10008);

    CHECK(f.transport->core().queue(0)->size() == 0);
}

TEST_CASE("virtio-mmio reports no shared memory region as all ones", "[virtio][mmio]")
{
    MmioFixture f;
    f.driver.write32(mmio::SHM_SEL, 0);

    CHECK(f.driver.read32(mmio::SHM_LEN_LOW) == 0xffffffff);
    CHECK(f.driver.read32(mmio::SHM_LEN_HIGH) == 0xffffffff);
    CHECK(f.driver.read32(mmio::SHM_BASE_LOW) == 0xffffffff);
    CHECK(f.driver.read32(mmio::SHM_BASE_HIGH) == 0xffffffff);
}

TEST_CASE("virtio-mmio reports a shared memory region's base and length", "[virtio][mmio]")
{
    MmioFixture f({ ShmRegion { 1, 0x1'2000'0000, 0x2'0000'0000 } });
    f.driver.write32(mmio::SHM_SEL, 1);

    CHECK(f.driver.read32(mmio::SHM_LEN_LOW) == 0);
    CHECK(f.driver.read32(mmio::SHM_LEN_HIGH) == 2);
    CHECK(f.driver.read32(mmio::SHM_BASE_LOW) == 0x2000'0000);
    CHECK(f.driver.read32(mmio::SHM_BASE_HIGH) == 1);
    f.driver.write32(mmio::SHM_SEL, 0);
    CHECK(f.driver.read32(mmio::SHM_LEN_LOW) == 0xffffffff);
}

TEST_CASE("virtio-mmio keeps interrupt status bits until the driver acknowledges them", "[virtio][mmio]")
{
    MmioFixture f;
    REQUIRE(f.driver.negotiate(0));
    DriverSplitQueue q0(f.guest, 8);
    f.driver.setup_queue(0, q0);
    f.driver.driver_ok();
    const std::uint64_t out = f.guest.alloc(4);
    q0.add({ writable(out, 4) });

    f.driver.notify(0);

    CHECK(f.edges == 1);
    CHECK(f.driver.read32(mmio::INTERRUPT_STATUS) == mmio::INT_VRING);
    CHECK(f.driver.read32(mmio::INTERRUPT_STATUS) == mmio::INT_VRING);
    f.driver.write32(mmio::INTERRUPT_ACK, mmio::INT_VRING);
    CHECK(f.driver.read32(mmio::INTERRUPT_STATUS) == 0);
}

TEST_CASE("virtio-mmio reset clears the interrupt status", "[virtio][mmio]")
{
    MmioFixture f;
    REQUIRE(f.driver.negotiate(0));
    DriverSplitQueue q0(f.guest, 8);
    f.driver.setup_queue(0, q0);
    f.driver.driver_ok();
    q0.add({ writable(f.guest.alloc(4), 4) });
    f.driver.notify(0);
    REQUIRE(f.driver.read32(mmio::INTERRUPT_STATUS) != 0);

    f.driver.set_status(0);

    CHECK(f.driver.read32(mmio::INTERRUPT_STATUS) == 0);
}

TEST_CASE("virtio-mmio writes to read-only registers change nothing", "[virtio][mmio]")
{
    MmioFixture f;

    f.driver.write32(mmio::MAGIC_VALUE, 0);
    f.driver.write32(mmio::DEVICE_FEATURES, 0);
    f.driver.write32(mmio::INTERRUPT_STATUS, 3);
    f.driver.write32(mmio::CONFIG_GENERATION, 5);

    CHECK(f.driver.read32(mmio::MAGIC_VALUE) == mmio::MAGIC);
    CHECK(f.driver.device_features() == f.transport->core().offered_features());
}

} // namespace vmm::virtio::test
