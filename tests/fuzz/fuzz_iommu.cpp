// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: virtio-iommu requests from arbitrary bytes, interleaved with translations
// by its endpoints and DMA pins held across requests.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <span>

#include <spdlog/spdlog.h>

#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/driver_queue.hpp"
#include "tests/support/fake_guest.hpp"
#include "virtio/devices/iommu/iommu.hpp"
#include "virtio/queue/queue_config.hpp"
#include "virtio/spec/iommu.hpp"

using namespace vmm;
using namespace vmm::virtio;
using vmm::fuzz::invariant_failed;

namespace {

// Input: a sequence of operations, each a kind byte and a 40-byte argument block.
//   kind % 4 == 0: a request, the argument block being its readable bytes (type first),
//                  with a writable part of 4 or PROBE_SIZE + 4 bytes
//   kind % 4 == 1: a translation by endpoint (arg[0] % 3) of arg[1..9) for arg[9..11) bytes
//   kind % 4 == 2: take a DMA pin (held until a later kind 3)
//   kind % 4 == 3: release the oldest pin
constexpr std::size_t ARG = 40;
constexpr std::uint32_t ENDPOINTS[] = { 1, 8, 0x10000 };

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    test::FakeGuest guest;
    test::FakeInterrupt irq;
    IommuDevice::Options options;
    options.bypass = size > 0 && (data[0] & 1) != 0;
    options.limits.max_mappings = 64;
    options.limits.reserved.push_back(msi_doorbell_range());
    IommuDevice iommu(options);
    std::array<const DmaSpace*, 3> dma {};
    for (std::size_t i = 0; i < 3; ++i) {
        dma[i] = &iommu.add_endpoint(ENDPOINTS[i], guest.dma());
    }
    const std::uint64_t features = iommu.features();
    iommu.ack_features(features);
    test::DriverSplitQueue requests(guest, 16);
    test::DriverSplitQueue events(guest, 8);
    QueueConfig rc(IommuDevice::REQUEST_QUEUE_SIZE);
    QueueConfig ec(IommuDevice::EVENT_QUEUE_SIZE);
    requests.configure(rc);
    events.configure(ec);
    std::vector<Queue> queues;
    auto q0 = rc.activate(0, guest.dma(), features, irq);
    auto q1 = ec.activate(1, guest.dma(), features, irq);
    if (!q0 || !q1) {
        invariant_failed("queue activation");
    }
    queues.push_back(std::move(q0).value());
    queues.push_back(std::move(q1).value());
    if (!iommu.activate(ActivationContext { std::move(queues), irq, guest.dma() })) {
        invariant_failed("device activation");
    }
    for (int i = 0; i < 4; ++i) {
        events.add({ test::writable(guest.alloc(sizeof(VirtioIommuFault)), sizeof(VirtioIommuFault)) });
    }

    // Buffers reused for every request: RAM stays bounded whatever the input length.
    const std::uint64_t in = guest.alloc(ARG);
    const std::uint64_t out = guest.alloc(IommuDevice::PROBE_SIZE + 4);
    std::deque<DmaPin> pins;
    std::size_t pos = 1;
    for (int op = 0; op < 512 && pos + 1 + ARG <= size; ++op, pos += 1 + ARG) {
        const std::uint8_t kind = data[pos];
        const std::uint8_t* arg = data + pos + 1;
        switch (kind % 4) {
        case 0: {
            // Complete what we can first, so that the ring never fills up with held requests.
            while (requests.pop_used()) {
            }
            if (iommu.requests_waiting_for_pins() >= 8) {
                break;
            }
            guest.write(in, std::as_bytes(std::span(arg, ARG)));
            const std::uint32_t rlen = 4 + (kind >> 2) % (ARG - 3);
            const std::uint32_t wlen = (kind & 0x80) != 0 ? IommuDevice::PROBE_SIZE + 4 : 4;
            requests.add({ test::readable(in, rlen), test::writable(out, wlen) });
            iommu.on_queue_notify(0);
            break;
        }
        case 1: {
            std::uint64_t iova = 0;
            std::uint16_t len = 0;
            std::memcpy(&iova, arg + 1, sizeof(iova));
            std::memcpy(&len, arg + 9, sizeof(len));
            auto r = dma[arg[0] % 3]->resolve(iova, len, (arg[11] & 1) != 0 ? Access::write : Access::read);
            if (r) {
                std::size_t total = 0;
                for (const auto& s : *r) {
                    if (guest.memory().host_ptr(s.gpa(), s.size()) != s.host()) {
                        invariant_failed("a translated slice is not the guest RAM it names");
                    }
                    total += s.size();
                }
                if (total != len) {
                    invariant_failed("a translation covers less than asked");
                }
            }
            break;
        }
        case 2:
            if (pins.size() < 16) {
                pins.push_back(dma[arg[0] % 3]->pin());
            }
            break;
        case 3:
            if (!pins.empty()) {
                pins.pop_front();
            }
            break;
        }
        iommu.on_queue_notify(1);
    }
    pins.clear();
    if (iommu.requests_waiting_for_pins() != 0) {
        invariant_failed("requests still wait although every pin was released");
    }
    iommu.reset();
    if (iommu.domains().mapping_count() != 0) {
        invariant_failed("mappings survived a reset");
    }
    return 0;
}
