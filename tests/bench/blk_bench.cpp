// SPDX-License-Identifier: Apache-2.0
// blk_bench: requests per second through the virtio-blk device model without KVM. A driver
// harness keeps QD requests in flight on one split queue in fake guest RAM; the device runs
// them through the real io_uring backend on the real event loop (eventfd watch), and each
// completion round is answered with one notify, as a guest driver batches its kicks.
//
// With --iommu every ring and buffer access goes through a virtio-iommu endpoint whose domain
// maps each 4 KiB page of guest RAM separately (as Linux's DMA API maps buffers), so the same
// run measures the cost of translation.
//
// usage: blk_bench --file PATH [--rw randread|randwrite] [--bs BYTES] [--qd N] [--seconds S] [--iommu]
// Prints one JSON object.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/driver_queue.hpp"
#include "tests/support/fake_guest.hpp"
#include "virtio/devices/block/block_device.hpp"
#include "virtio/devices/block/io_uring_backend.hpp"
#include "virtio/devices/iommu/iommu_dma.hpp"
#include "virtio/spec/iommu.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;

namespace {

constexpr std::uint16_t QUEUE_SIZE = 256;

struct Args {
    std::string file;
    bool write = false;
    std::uint32_t bs = 4096;
    std::uint32_t qd = 32;
    double seconds = 3;
    bool iommu = false;
};

[[noreturn]] void usage()
{
    std::fputs("usage: blk_bench --file PATH [--rw randread|randwrite] [--bs BYTES] [--qd N] [--seconds S] [--iommu]\n",
        stderr);
    std::exit(2);
}

Args parse(int argc, char** argv)
{
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string_view k = argv[i];
        if (k == "--iommu") {
            a.iommu = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
        }
        const char* v = argv[++i];
        if (k == "--file") {
            a.file = v;
        } else if (k == "--rw") {
            a.write = std::string_view(v) == "randwrite";
        } else if (k == "--bs") {
            a.bs = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 0));
        } else if (k == "--qd") {
            a.qd = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 0));
        } else if (k == "--seconds") {
            a.seconds = std::strtod(v, nullptr);
        } else {
            usage();
        }
    }
    // Three descriptors per request, each slot owning its own.
    if (a.file.empty() || a.qd == 0 || a.qd > QUEUE_SIZE / 3 || a.bs == 0 || a.bs % 512 != 0) {
        usage();
    }
    return a;
}

} // namespace

int main(int argc, char** argv)
{
    const Args args = parse(argc, argv);
    const std::array<MemoryRegionSpec, 1> ram { MemoryRegionSpec { GuestAddress { 0 }, 64ULL << 20 } };
    FakeGuest guest(ram);
    FakeInterrupt irq;
    // The IOMMU case: endpoint 1 in domain 1, every page of RAM identity-mapped on its own.
    IommuDomains domains(IommuDomains::Limits {});
    domains.add_endpoint(1);
    (void)domains.attach(1, 1, false);
    constexpr std::uint64_t PAGE = 4096;
    for (std::uint64_t p = 0; p < ram[0].size; p += PAGE) {
        (void)domains.map(1, p, p + PAGE - 1, p, VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE);
    }
    IommuDma translated(1, domains, guest.dma(), nullptr);
    const DmaSpace& dma = args.iommu ? static_cast<const DmaSpace&>(translated) : guest.dma();
    EventLoop loop;

    block::IoUringOptions io;
    io.loop = &loop;
    auto backend = block::IoUringBackend::open(args.file, io);
    if (!backend) {
        std::fprintf(stderr, "blk_bench: %s\n", backend.error().describe().c_str());
        return 1;
    }
    block::IoUringBackend* uring = backend->get();
    block::BlockOptions options;
    options.queue_size = QUEUE_SIZE;
    block::BlockDevice device(std::move(backend).value(), options);
    const std::uint64_t sectors = device.capacity();
    const std::uint64_t blocks = (sectors * 512) / args.bs;
    if (blocks == 0) {
        std::fputs("blk_bench: the file is smaller than one block\n", stderr);
        return 1;
    }

    const std::uint64_t features = device.features() | feature_bit(VIRTIO_F_EVENT_IDX)
        | (args.iommu ? feature_bit(VIRTIO_F_ACCESS_PLATFORM) : 0);
    QueueConfig config(QUEUE_SIZE);
    DriverSplitQueue q(guest, QUEUE_SIZE);
    q.configure(config);
    device.ack_features(features);
    std::vector<Queue> queues;
    queues.push_back(config.activate(0, dma, features, irq).value());
    if (!device.activate(ActivationContext { std::move(queues), irq, dma, &loop })) {
        return 1;
    }

    // Slot i owns descriptors 3i (header), 3i+1 (data), 3i+2 (status), written once.
    struct Slot {
        std::uint64_t header;
        std::uint64_t status;
    };
    std::vector<Slot> slots(args.qd);
    for (std::uint32_t i = 0; i < args.qd; ++i) {
        const auto d = static_cast<std::uint16_t>(3 * i);
        slots[i].header = guest.alloc(16);
        const std::uint64_t data = guest.alloc(args.bs, 4096);
        guest.fill(data, std::byte { 0x5a }, args.bs);
        slots[i].status = guest.alloc(1);
        q.write_desc(d, slots[i].header, 16, VIRTQ_DESC_F_NEXT, static_cast<std::uint16_t>(d + 1));
        q.write_desc(static_cast<std::uint16_t>(d + 1), data, args.bs,
            static_cast<std::uint16_t>(VIRTQ_DESC_F_NEXT | (args.write ? 0 : VIRTQ_DESC_F_WRITE)),
            static_cast<std::uint16_t>(d + 2));
        q.write_desc(static_cast<std::uint16_t>(d + 2), slots[i].status, 1, VIRTQ_DESC_F_WRITE, 0);
    }
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<std::uint64_t> pick(0, blocks - 1);
    auto issue = [&](std::uint32_t i) {
        VirtioBlkReqHeader h {};
        h.type.set(args.write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN);
        h.sector.set(pick(rng) * (args.bs / 512));
        guest.write_obj(slots[i].header, h);
        q.push_avail(static_cast<std::uint16_t>(3 * i));
    };

    for (std::uint32_t i = 0; i < args.qd; ++i) {
        issue(i);
    }
    device.on_queue_notify(0);

    std::uint64_t done = 0;
    std::uint64_t errors = 0;
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration<double>(args.seconds);
    bool stopping = false;
    std::uint64_t turns = 0;
    // Completions that finished inside the submission arrive before on_queue_notify returns;
    // the rest through the loop.
    std::uint16_t consumed = 0;
    for (;;) {
        bool issued = false;
        while (auto used = q.pop_used()) {
            ++consumed;
            const std::uint32_t i = used->id / 3;
            std::byte status {};
            guest.read_into(slots[i].status, std::span(&status, 1));
            if (std::to_integer<int>(status) != VIRTIO_BLK_S_OK) {
                ++errors;
            }
            ++done;
            if (!stopping) {
                issue(i);
                issued = true;
            }
        }
        // The clock every 64 turns: at queue depth 1 reading it per request would show.
        if (!stopping && (++turns % 64) == 0 && std::chrono::steady_clock::now() >= end) {
            stopping = true;
        }
        // As Linux does after its interrupt handler: the next used entry is the one to hear
        // about (EVENT_IDX), which also tells the device the driver's depth.
        q.set_used_event(consumed);
        if (issued) {
            device.on_queue_notify(0);
            continue;
        }
        if (device.requests_in_flight() == 0) {
            break;
        }
        loop.io().run_one();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const nlohmann::json out {
        { "rw", args.write ? "randwrite" : "randread" },
        { "bs", args.bs },
        { "qd", args.qd },
        { "requests", done },
        { "errors", errors },
        { "seconds", secs },
        { "iops", static_cast<double>(done) / secs },
        { "submit_calls", uring->submit_calls() },
        { "interrupts", irq.queue_count(0) },
        { "iommu", args.iommu },
        { "iommu_mappings", args.iommu ? domains.mapping_count() : 0 },
        { "translation_cache_hits", translated.cache_hits() },
    };
    std::puts(out.dump().c_str());
    return errors == 0 ? 0 : 1;
}
