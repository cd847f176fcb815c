// SPDX-License-Identifier: Apache-2.0
// DeviceRig: any Device activated by hand the way a transport will, over split or packed rings.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/driver_queue.hpp"
#include "tests/support/fake_guest.hpp"
#include "virtio/device.hpp"
#include "virtio/queue/queue_config.hpp"

namespace vmm::virtio::test {

template <class Driver>
struct DeviceRig {
    static constexpr bool PACKED_RING = std::is_same_v<Driver, DriverPackedQueue>;

    explicit DeviceRig(Device& d)
        : device(d)
    {
    }

    // FEATURES_OK with `device_features` (VERSION_1 and, for packed rings, RING_PACKED are
    // added), then DRIVER_OK with the queues in `enabled` (every queue when empty). Fresh
    // rings each time, as a driver sets them up again after a reset.
    void start(
        std::uint64_t device_features = 0, std::vector<std::uint16_t> enabled = {}, EventLoop* loop = nullptr)
    {
        REQUIRE(try_start(device_features, std::move(enabled), loop));
    }

    [[nodiscard]] Result<> try_start(
        std::uint64_t device_features = 0, std::vector<std::uint16_t> enabled = {}, EventLoop* loop = nullptr)
    {
        features = feature_bit(VIRTIO_F_VERSION_1) | device_features
            | (PACKED_RING ? feature_bit(VIRTIO_F_RING_PACKED) : 0);
        REQUIRE((features & ~device.features()) == 0); // a transport refuses bits not offered
        device.ack_features(features);
        const auto count = static_cast<std::uint16_t>(device.queue_max_sizes().size());
        if (enabled.empty()) {
            for (std::uint16_t i = 0; i < count; ++i) {
                enabled.push_back(i);
            }
        }
        configs.clear();
        drivers.clear();
        configs.reserve(count);
        drivers.reserve(count);
        std::vector<Queue> queues;
        for (std::uint16_t i = 0; i < count; ++i) {
            configs.emplace_back(device.queue_max_sizes()[i]);
            drivers.emplace_back(guest, ring_size);
        }
        for (const std::uint16_t i : enabled) {
            drivers[i].configure(configs[i]);
            auto q = configs[i].activate(i, guest.dma(), features, irq);
            REQUIRE(q);
            queues.push_back(std::move(q).value());
        }
        return device.activate(ActivationContext { std::move(queues), irq, guest.dma(), loop });
    }

    [[nodiscard]] Driver& queue(std::uint16_t index) { return drivers.at(index); }
    void kick(std::uint16_t index) { device.on_queue_notify(index); }

    // A zeroed buffer in RAM0, and one holding `text`.
    [[nodiscard]] std::uint64_t buffer(std::size_t len) { return guest.alloc(len); }
    [[nodiscard]] std::uint64_t buffer_with(std::string_view text)
    {
        const std::uint64_t at = guest.alloc(text.size());
        guest.write(at, bytes_of(text));
        return at;
    }
    [[nodiscard]] std::string read_text(std::uint64_t at, std::size_t len) const
    {
        std::string s;
        for (const std::byte b : guest.read(at, len)) {
            s.push_back(static_cast<char>(b));
        }
        return s;
    }

    FakeGuest guest;
    FakeInterrupt irq;
    Device& device;
    std::uint64_t features = 0;
    std::uint16_t ring_size = 32; // of every queue, from the next start()
    std::vector<QueueConfig> configs;
    std::vector<Driver> drivers;
};

} // namespace vmm::virtio::test
