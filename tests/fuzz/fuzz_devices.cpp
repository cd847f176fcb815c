// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the device models' request parsers (virtio-blk requests and segment arrays,
// virtio-console control messages and port data, virtio-rng buffers, virtio-pmem flushes,
// virtio-scsi requests and task management, virtio-balloon page lists, statistics, free page
// reports and hints, virtio-mem plug, unplug and state requests) behind a virtio-mmio window, driven by arbitrary register accesses over
// rings and buffers that come from the input, with the host side (I/O completion, console input
// and connections, the balloon's API, virtio-mem resizes) interleaved.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include <spdlog/spdlog.h>

#include "tests/fuzz/device_ops.hpp"
#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/fake_block_backend.hpp"
#include "tests/support/fake_guest.hpp"
#include "tests/support/mmio_driver.hpp"
#include "tests/support/test_host.hpp"
#include "virtio/devices/block/block_device.hpp"
#include "virtio/devices/console/console.hpp"
#include "virtio/devices/balloon/balloon.hpp"
#include "virtio/devices/mem/mem.hpp"
#include "virtio/devices/pmem/pmem_device.hpp"
#include "virtio/devices/rng/rng.hpp"
#include "virtio/devices/scsi/scsi_controller.hpp"
#include "virtio/spec/mmio.hpp"
#include "virtio/transport/mmio_transport.hpp"

using namespace vmm;
using namespace vmm::virtio;
using vmm::fuzz::DeviceOp;
using vmm::fuzz::driver_op;
using vmm::fuzz::invariant_failed;

namespace {

// Input layout: [0] the device (blk, console, rng, pmem, scsi, balloon, mem), [1..3) the number of operations, then 8
// bytes per operation, then RAM contents for the rings and buffers.
constexpr std::size_t MAX_OPS = 256;
constexpr std::uint64_t BASE = 0xd000'0000;
constexpr std::uint64_t RING_AREA = 0x20000;

// A console port whose host side the fuzzer plays.
class FuzzPort final : public PortBackend {
public:
    void start(Events events) override { events_ = std::move(events); }
    void write(std::span<const std::byte> data) noexcept override { written_ += data.size(); }
    void set_input_paused(bool paused) noexcept override { paused_ = paused; }
    [[nodiscard]] bool connected() const noexcept override { return connected_; }
    [[nodiscard]] std::filesystem::path pty_path() const override { return {}; }

    void type(std::span<const std::byte> bytes)
    {
        if (!paused_ && events_.on_input) {
            events_.on_input(bytes);
        }
    }
    void toggle()
    {
        connected_ = !connected_;
        if (events_.on_connection) {
            events_.on_connection(connected_);
        }
    }

private:
    Events events_;
    bool paused_ = false;
    bool connected_ = true;
    std::size_t written_ = 0;
};

class PatternSource final : public EntropySource {
public:
    [[nodiscard]] Result<std::size_t> read(std::span<const iovec> into) noexcept override
    {
        std::size_t n = 0;
        for (const auto& v : into) {
            std::memset(v.iov_base, 0xab, v.iov_len);
            n += v.iov_len;
        }
        return n;
    }
    [[nodiscard]] std::string describe() const override { return "pattern"; }
};

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
    const std::uint8_t which = data[0] % 7;
    const std::size_t ops = std::min<std::size_t>(static_cast<std::size_t>(data[1] | data[2] << 8), MAX_OPS);
    std::size_t pos = 3;

    test::FakeGuest guest;
    test::TestHost host;
    Bus bus { "mmio" };
    std::uint32_t edges = 0;

    test::FakeBlockBackend* disk = nullptr;
    balloon::BalloonDevice* balloon_dev = nullptr;
    mem::MemDevice* mem_dev = nullptr;
    // virtio-mem's region: 4 MiB of 64 KiB blocks at guest-physical 0 of its own memory, so
    // that small addresses in requests name real blocks (the rings live in the fake guest).
    std::optional<GuestMemory> hotplug;
    std::array<FuzzPort*, 3> ports {};
    std::unique_ptr<Device> device;
    switch (which) {
    case 0: {
        auto backend = std::make_unique<test::FakeBlockBackend>(1 << 20);
        disk = backend.get();
        block::BlockOptions o;
        o.num_queues = 2;
        o.queue_size = 16;
        o.discard = true;
        o.secure_erase = true;
        o.serial = "fuzz";
        o.lifetime = block::Lifetime { 1, 2, 3 };
        device = std::make_unique<block::BlockDevice>(std::move(backend), o);
        break;
    }
    case 1: {
        ConsoleOptions o;
        for (auto& p : ports) {
            auto port = std::make_unique<FuzzPort>();
            p = port.get();
            o.ports.push_back(ConsolePortSpec { "port", std::move(port) });
        }
        o.ports[1].name = "a";
        o.ports[2].name = "b";
        o.ports[0].name.clear();
        device = std::make_unique<ConsoleDevice>(std::move(o));
        break;
    }
    case 2:
        device = std::make_unique<RngDevice>(std::make_unique<PatternSource>());
        break;
    case 4: {
        // Two units of target 0 on one image each; the fuzzer completes the first one's I/O.
        std::map<scsi::LunAddress, std::unique_ptr<scsi::ScsiDisk>> luns;
        for (const std::uint16_t lun : { std::uint16_t { 0 }, std::uint16_t { 5 } }) {
            auto backend = std::make_unique<test::FakeBlockBackend>(1 << 20);
            if (disk == nullptr) {
                disk = backend.get();
            }
            scsi::ScsiDiskOptions o;
            o.thin = lun == 0;
            auto unit = scsi::ScsiDisk::create(std::move(backend), o);
            if (!unit) {
                invariant_failed("scsi unit set-up failed");
            }
            luns.emplace(scsi::LunAddress { 0, lun }, std::move(unit).value());
        }
        scsi::ControllerOptions o;
        o.num_queues = 2;
        o.queue_size = 16;
        device = std::make_unique<scsi::ScsiController>(std::move(luns), o);
        break;
    }
    case 5: {
        // Every feature; its pages are the fake guest's RAM, which inflating really discards.
        balloon::BalloonOptions o;
        o.target_bytes = 64 << 10;
        o.deflate_on_oom = o.hinting = o.reporting = o.poison = true;
        auto b = std::make_unique<balloon::BalloonDevice>(guest.memory(), o);
        balloon_dev = b.get();
        device = std::move(b);
        break;
    }
    case 6: {
        const MemoryRegionSpec spec { GuestAddress { 0 }, 4 << 20, true };
        auto m = GuestMemory::create(std::span(&spec, 1));
        if (!m) {
            invariant_failed("no memory for the virtio-mem region");
        }
        hotplug.emplace(std::move(m).value());
        mem::MemOptions o;
        o.region_size = 4 << 20;
        o.block_size = 64 << 10;
        o.requested_size = 1 << 20;
        auto d = std::make_unique<mem::MemDevice>(*hotplug, hotplug->regions().front(), o);
        mem_dev = d.get();
        device = std::move(d);
        break;
    }
    default: {
        auto backend = std::make_unique<test::FakeBlockBackend>(1 << 20);
        disk = backend.get();
        auto mapping = pmem::PmemMapping::anonymous(pmem::PmemDevice::ALIGN);
        if (!mapping) {
            invariant_failed("no memory for the pmem range");
        }
        device = std::make_unique<pmem::PmemDevice>(std::move(backend), std::move(mapping).value(), (data[0] & 0x80) != 0);
        break;
    }
    }

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
        if (driver_op(driver, op, queues, RING_AREA)) {
            continue;
        }
        switch (op.kind % 8) {
        case 5: // the host side answers
            if (balloon_dev != nullptr) {
                // The API: a new target, a statistics request, a hinting round started or stopped.
                switch (op.selector % 4) {
                case 0: (void)balloon_dev->set_target(std::uint64_t { op.value } << 12); break;
                case 1: (void)balloon_dev->request_stats(); break;
                case 2: (void)balloon_dev->start_hinting(); break;
                default: (void)balloon_dev->stop_hinting(); break;
                }
            } else if (mem_dev != nullptr) {
                (void)mem_dev->resize(std::uint64_t { op.value % 64 } << 16); // a new requested size
                if (mem_dev->plugged_size() > mem_dev->usable_region_size()) {
                    invariant_failed("virtio-mem has blocks plugged outside its usable region");
                }
            } else if (disk != nullptr) {
                disk->complete_all();
            } else if (ports[0] != nullptr) {
                ports[op.selector % 3]->type(std::as_bytes(std::span(&op.value, 1)).first(op.width % 5));
            }
            break;
        case 6:
            if (ports[0] != nullptr) {
                ports[op.selector % 3]->toggle();
            } else if (disk != nullptr) {
                disk->inject = [e = -static_cast<int>(op.width % 40)](const block::IoRequest&) { return e; };
            }
            break;
        case 7:
            if (disk != nullptr) {
                disk->inject = nullptr;
            }
            break;
        }
    }

    // A reset must leave nothing in flight and the device ready again.
    driver.set_status(0);
    if (driver.status() != 0 || (disk != nullptr && disk->in_flight() != 0)) {
        invariant_failed("the device did not come back from a reset");
    }
    return 0;
}
