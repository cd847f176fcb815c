// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: a virtio-mmio window driven by an arbitrary stream of register accesses, over
// guest RAM whose contents (rings, buffers) also come from the input.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include <spdlog/spdlog.h>

#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/echo_device.hpp"
#include "tests/support/fake_guest.hpp"
#include "tests/support/mmio_driver.hpp"
#include "tests/support/test_host.hpp"
#include "virtio/spec/mmio.hpp"
#include "virtio/transport/mmio_transport.hpp"

using namespace vmm;
using namespace vmm::virtio;
using vmm::fuzz::invariant_failed;
using vmm::fuzz::width_of;

namespace {

// Input layout:
//   [0, 2)          number of operations (at most MAX_OPS)
//   [2, 2 + 8*n)    operations: kind, register/offset selector, width, flags, 32-bit value
//   [2 + 8*n, end)  RAM contents, copied to the start of RAM0 (rings and buffers live there)
constexpr std::size_t MAX_OPS = 256;
constexpr std::uint64_t BASE = 0xd000'0000;
constexpr std::uint64_t RING_AREA = 0x10000; // RAM0 bytes the input may fill

// The registers a driver uses, so that most operations hit one.
constexpr std::array<std::uint32_t, 24> REGISTERS { mmio::MAGIC_VALUE, mmio::DEVICE_FEATURES,
    mmio::DEVICE_FEATURES_SEL, mmio::DRIVER_FEATURES, mmio::DRIVER_FEATURES_SEL, mmio::QUEUE_SEL, mmio::QUEUE_NUM_MAX,
    mmio::QUEUE_NUM, mmio::QUEUE_READY, mmio::QUEUE_NOTIFY, mmio::INTERRUPT_STATUS, mmio::INTERRUPT_ACK, mmio::STATUS,
    mmio::QUEUE_DESC_LOW, mmio::QUEUE_DESC_HIGH, mmio::QUEUE_DRIVER_LOW, mmio::QUEUE_DRIVER_HIGH,
    mmio::QUEUE_DEVICE_LOW, mmio::QUEUE_DEVICE_HIGH, mmio::SHM_SEL, mmio::SHM_LEN_LOW, mmio::QUEUE_RESET,
    mmio::CONFIG_GENERATION, mmio::CONFIG };

struct Op {
    std::uint8_t kind;
    std::uint8_t selector;
    std::uint8_t width;
    std::uint8_t flags;
    std::uint32_t value;
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2) {
        return 0;
    }
    const std::size_t ops = std::min<std::size_t>(static_cast<std::size_t>(data[0] | data[1] << 8), MAX_OPS);
    std::size_t pos = 2;

    test::FakeGuest guest;
    test::TestHost host;
    Bus bus { "mmio" };
    std::uint32_t edges = 0;
    MmioOptions options;
    options.base = BASE;
    options.transport.dma.direct = &guest.dma();
    options.transport.notification_data = true;
    options.shm = { ShmRegion { 1, 0x1'0000'0000, 0x10'0000 } };
    auto device = std::make_unique<test::EchoDevice>();
    auto* echo = device.get();
    auto made = MmioTransport::create(std::move(device), host, std::make_unique<test::CountingIrqLine>(&edges), options);
    if (!made || !bus.insert(*made, BASE, MmioTransport::SIZE)) {
        invariant_failed("set-up failed");
    }
    auto transport = std::move(made).value();
    test::MmioDriver driver(bus, host, BASE, edges);

    // RAM after the operations: the rings' and buffers' contents.
    const std::size_t ops_end = std::min(size, pos + ops * sizeof(Op));
    if (ops_end < size) {
        const std::size_t n = std::min<std::size_t>(size - ops_end, RING_AREA);
        guest.write(0, std::as_bytes(std::span(data + ops_end, n)));
    }

    for (std::size_t i = 0; i < ops && pos + sizeof(Op) <= size; ++i, pos += sizeof(Op)) {
        Op op {};
        std::memcpy(&op, data + pos, sizeof(op));
        const std::uint32_t reg = REGISTERS[op.selector % REGISTERS.size()];
        std::array<std::byte, 8> buf {};
        std::memcpy(buf.data(), &op.value, sizeof(op.value));
        switch (op.kind % 8) {
        case 0: // a well-formed register write
            driver.write32(reg, op.value);
            break;
        case 1:
            (void)driver.read32(reg);
            break;
        case 2: // any width at any offset of the window
            driver.write_raw(static_cast<std::uint32_t>((op.selector << 4 | (op.flags & 0xf)) % 0xff8),
                std::span(buf).first(width_of(op.width)));
            break;
        case 3:
            driver.read_raw(static_cast<std::uint32_t>((op.selector << 4 | (op.flags & 0xf)) % 0xff8),
                std::span(buf).first(width_of(op.width)));
            break;
        case 4: // queue set-up pointing into the input-filled area
            driver.set_queue(static_cast<std::uint16_t>(op.flags % 3), static_cast<std::uint16_t>(1U << (op.width % 9)),
                (op.value & 0xfff0) % RING_AREA, ((op.value >> 8) & 0xfff0) % RING_AREA,
                ((op.value >> 16) & 0xfff0) % RING_AREA);
            driver.set_queue_ready(static_cast<std::uint16_t>(op.flags % 3), true);
            break;
        case 5: // the usual way up to DRIVER_OK, with the input's features
            (void)driver.negotiate(op.value | std::uint64_t { op.flags } << 32);
            driver.driver_ok();
            break;
        case 6:
            driver.notify(static_cast<std::uint16_t>(op.selector % 3), (op.flags & 1) != 0 ? std::optional(op.value) : std::nullopt);
            break;
        case 7:
            echo->set_hold((op.flags & 1) != 0);
            echo->complete_held();
            break;
        }
    }

    // Whatever happened, a reset must bring the device back to a clean, inactive state.
    driver.set_status(0);
    if (driver.status() != 0 || echo->active() || transport->interrupt_status() != 0) {
        invariant_failed("the device did not come back from a reset");
    }
    echo->complete_held();
    return 0;
}
