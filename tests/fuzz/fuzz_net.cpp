// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: virtio-net's request paths (transmit headers and frames, the control
// queue's commands, receive into the driver's buffers) behind a virtio-mmio window, driven by
// arbitrary register accesses over rings and buffers that come from the input, with the host
// side (frames arriving, a backend that takes frames with or without headers, one that would
// block) interleaved.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include <spdlog/spdlog.h>

#include "tests/fuzz/device_ops.hpp"
#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/fake_guest.hpp"
#include "tests/support/fake_net_backend.hpp"
#include "tests/support/mmio_driver.hpp"
#include "tests/support/test_host.hpp"
#include "virtio/devices/net/net_device.hpp"
#include "virtio/spec/mmio.hpp"
#include "virtio/transport/mmio_transport.hpp"

using namespace vmm;
using namespace vmm::virtio;
using vmm::fuzz::DeviceOp;
using vmm::fuzz::driver_op;
using vmm::fuzz::invariant_failed;

namespace {

// Input layout: [0] the backend kind (bit 0: virtio-net headers, bit 1: offloads, bit 2: two
// queue pairs), [1..3) the number of operations, then 8 bytes per operation, then RAM contents
// for the rings and buffers.
constexpr std::size_t MAX_OPS = 256;
constexpr std::uint64_t BASE = 0xd000'0000;
constexpr std::uint64_t RING_AREA = 0x20000;

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 3) {
        return 0;
    }
    const bool vnet_hdr = (data[0] & 1) != 0;
    const net::Offloads offloads = (data[0] & 2) != 0
        ? net::Offloads { .csum = true, .tso4 = true, .tso6 = true, .ecn = true, .ufo = true, .uso = true }
        : net::Offloads {};
    const std::uint16_t pairs = (data[0] & 4) != 0 ? 2 : 1;
    const std::size_t ops = std::min<std::size_t>(static_cast<std::size_t>(data[1] | data[2] << 8), MAX_OPS);
    std::size_t pos = 3;

    test::FakeGuest guest;
    test::TestHost host;
    Bus bus { "mmio" };
    std::uint32_t edges = 0;

    auto owned = std::make_unique<test::FakeNetBackend>(pairs, vnet_hdr, offloads);
    test::FakeNetBackend* backend = owned.get();
    net::NetOptions o;
    o.mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    o.queue_pairs = pairs;
    o.queue_size = 16;
    auto device = std::make_unique<net::NetDevice>(std::move(owned), o);

    MmioOptions options;
    options.base = BASE;
    options.transport.dma.direct = &guest.dma();
    auto made = MmioTransport::create(std::move(device), host, std::make_unique<test::CountingIrqLine>(&edges), options);
    if (!made || !bus.insert(*made, BASE, MmioTransport::SIZE)) {
        invariant_failed("set-up failed");
    }
    auto transport = std::move(made).value();
    test::MmioDriver driver(bus, host, BASE, edges);

    const std::size_t ops_end = std::min(size, pos + ops * sizeof(DeviceOp));
    if (ops_end < size) {
        guest.write(0, std::as_bytes(std::span(data + ops_end, std::min<std::size_t>(size - ops_end, RING_AREA))));
    }
    const std::uint16_t queues = transport->core().num_queues();

    for (std::size_t i = 0; i < ops && pos + sizeof(DeviceOp) <= size; ++i, pos += sizeof(DeviceOp)) {
        DeviceOp op {};
        std::memcpy(&op, data + pos, sizeof(op));
        if (driver_op(driver, op, queues, RING_AREA, std::uint64_t { op.width } << 50)) {
            continue;
        }
        switch (op.kind % 8) {
        case 5: { // a frame arrives: bytes from guest RAM stand in for it (a header first with vnet_hdr)
            const std::size_t len = (op.value % 2048) + (op.width % 2 == 0 ? 0 : 60000);
            const std::size_t from = (op.value >> 16) % RING_AREA;
            const auto bytes = guest.read(from, std::min<std::size_t>(len, RING_AREA - from));
            std::vector<std::uint8_t> frame(bytes.size());
            std::transform(bytes.begin(), bytes.end(), frame.begin(),
                [](std::byte b) { return std::to_integer<std::uint8_t>(b); });
            backend->inbound[op.selector % pairs].push_back(std::move(frame));
            backend->fire_readable(op.selector % pairs);
            break;
        }
        case 6: // the backend blocks, or can take frames again
            backend->send_again = (op.flags & 1) != 0;
            if (!backend->send_again) {
                backend->fire_writable(op.selector % pairs);
            }
            break;
        case 7: // the link goes down or up
            if (backend->link_changed) {
                backend->link_changed((op.flags & 1) != 0);
            }
            break;
        }
    }

    // A reset must leave the device ready again, with nothing armed that could touch memory.
    driver.set_status(0);
    if (driver.status() != 0) {
        invariant_failed("the device did not come back from a reset");
    }
    for (std::size_t b = 0; b < pairs; ++b) {
        if (backend->readable[b] || backend->writable[b]) {
            invariant_failed("a backend watch survived the reset");
        }
    }
    return 0;
}
