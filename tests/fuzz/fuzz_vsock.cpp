// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: virtio-vsock's packet paths (guest packets on the transmit queue, packets to
// the guest on the receive queue, the event queue) behind a virtio-mmio window, driven by
// arbitrary register accesses over rings and buffers that come from the input, with host
// programs (socketpairs) asking for guest ports, sending, closing and never reading.
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include <spdlog/spdlog.h>

#include "tests/fuzz/device_ops.hpp"
#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/fake_guest.hpp"
#include "tests/support/fake_vsock_host.hpp"
#include "tests/support/mmio_driver.hpp"
#include "tests/support/test_host.hpp"
#include "virtio/devices/vsock/vsock_device.hpp"
#include "virtio/transport/mmio_transport.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using vmm::fuzz::DeviceOp;
using vmm::fuzz::driver_op;
using vmm::fuzz::invariant_failed;

namespace {

// Input layout: [0] options (bit 0: no SEQPACKET, bit 1: 4 KiB buffers and 4 connections at
// most), [1..3) the number of operations, then 8 bytes per operation, then RAM contents for
// the rings and buffers (packet headers included).
constexpr std::size_t MAX_OPS = 256;
constexpr std::uint64_t BASE = 0xd000'0000;
constexpr std::uint64_t RING_AREA = 0x20000;

void run(EventLoop& loop)
{
    for (int i = 0; i < 8; ++i) {
        loop.io().restart();
        if (loop.io().poll() == 0) {
            return;
        }
    }
}

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
    const std::size_t ops = std::min<std::size_t>(static_cast<std::size_t>(data[1] | data[2] << 8), MAX_OPS);
    std::size_t pos = 3;

    EventLoop loop;
    test::FakeGuest guest;
    test::TestHost host;
    host.set_loop(&loop);
    Bus bus { "mmio" };
    std::uint32_t edges = 0;

    auto owned = std::make_unique<test::FakeVsockHost>();
    test::FakeVsockHost* fake = owned.get();
    fake->listening = { 1, 2, 5000 };
    fake->small_buffers = true;
    vsock::VsockOptions o;
    o.guest_cid = test::GUEST_CID;
    o.seqpacket = (data[0] & 1) == 0;
    if ((data[0] & 2) != 0) {
        o.buffer_size = 4096;
        o.max_connections = 4;
    }
    auto device = std::make_unique<vsock::VsockDevice>(std::move(owned), o);
    vsock::VsockDevice* vsock = device.get();

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
    std::vector<UniqueFd> programs; // host programs that asked for guest ports

    // Every host program's socket, those the device connected to and those that asked.
    auto program = [&](std::uint32_t n) -> int {
        std::vector<int> all;
        for (auto& [port, fds] : fake->programs) {
            for (auto& fd : fds) {
                all.push_back(fd.get());
            }
        }
        for (auto& fd : programs) {
            all.push_back(fd.get());
        }
        return all.empty() ? -1 : all[n % all.size()];
    };

    for (std::size_t i = 0; i < ops && pos + sizeof(DeviceOp) <= size; ++i, pos += sizeof(DeviceOp)) {
        DeviceOp op {};
        std::memcpy(&op, data + pos, sizeof(op));
        if (driver_op(driver, op, queues, RING_AREA, std::uint64_t { op.width } << 50)) {
            run(loop);
            continue;
        }
        switch (op.kind % 8) {
        case 5: // a host program asks for a guest port
            if (programs.size() < 16) {
                programs.push_back(fake->ask(op.value % 8, (op.flags & 1) != 0 ? test::SocketType::seqpacket
                                                                                : test::SocketType::stream));
            }
            break;
        case 6: { // a host program sends bytes from guest RAM (or closes its sending side)
            const int fd = program(op.selector);
            if (fd >= 0) {
                if ((op.flags & 3) == 3) {
                    (void)::shutdown(fd, SHUT_WR);
                } else {
                    const std::size_t from = (op.value >> 16) % RING_AREA;
                    const auto bytes = guest.read(from, std::min<std::size_t>(op.value % 8192, RING_AREA - from));
                    (void)::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
                }
            }
            break;
        }
        case 7: // a host program reads what waits for it, or the device resets its transport
            if ((op.flags & 7) == 7) {
                vsock->transport_reset();
            } else if (const int fd = program(op.selector); fd >= 0) {
                std::vector<std::uint8_t> sink(65536);
                (void)::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
            }
            break;
        }
        run(loop);
    }

    // Bounds the device promises whatever the guest did.
    if (vsock->connection_count() > o.max_connections) {
        invariant_failed("more connections than max_connections");
    }
    if (vsock->held_bytes() > vsock->connection_count() * std::size_t { o.buffer_size } * 2) {
        invariant_failed("more held for host programs than the credit given");
    }
    // A reset must leave the device ready again with no connection.
    driver.set_status(0);
    run(loop);
    if (driver.status() != 0 || vsock->connection_count() != 0) {
        invariant_failed("the device did not come back from a reset");
    }
    return 0;
}
