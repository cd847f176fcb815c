// SPDX-License-Identifier: Apache-2.0
// EchoRig: an EchoDevice with two split queues, activated by hand the way a transport would.
#pragma once

#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/driver_queue.hpp"
#include "tests/support/echo_device.hpp"
#include "tests/support/fake_guest.hpp"
#include "virtio/queue/queue_config.hpp"

namespace vmm::virtio::test {

struct EchoRig {
    explicit EchoRig(std::uint64_t negotiated = feature_bit(VIRTIO_F_VERSION_1))
        : features(negotiated)
    {
        for (std::uint16_t i = 0; i < 2; ++i) {
            configs.emplace_back(EchoDevice::MAX_QUEUE_SIZE);
            drivers.emplace_back(guest, 8);
            drivers.back().configure(configs.back());
        }
    }

    // FEATURES_OK then DRIVER_OK.
    void start()
    {
        device.ack_features(features);
        std::vector<Queue> queues;
        for (std::uint16_t i = 0; i < configs.size(); ++i) {
            auto q = configs[i].activate(i, guest.dma(), features, irq);
            REQUIRE(q);
            queues.push_back(std::move(q).value());
        }
        REQUIRE(device.activate(ActivationContext { std::move(queues), irq, guest.dma() }));
    }

    // Queue reset then re-enable with fresh rings (VIRTIO_F_RING_RESET).
    void restart_queue(std::uint16_t index)
    {
        configs[index].reset();
        drivers[index] = DriverSplitQueue(guest, 8);
        drivers[index].configure(configs[index]);
        auto q = configs[index].activate(index, guest.dma(), features, irq);
        REQUIRE(q);
        REQUIRE(device.enable_queue(std::move(q).value()));
    }

    FakeGuest guest;
    FakeInterrupt irq;
    EchoDevice device;
    std::uint64_t features;
    std::vector<QueueConfig> configs;
    std::vector<DriverSplitQueue> drivers;
};

} // namespace vmm::virtio::test
