// SPDX-License-Identifier: Apache-2.0
// Fixtures for virtqueue tests: fake guest, driver-side ring, config, activated Queue.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/driver_queue.hpp"
#include "tests/support/fake_guest.hpp"
#include "virtio/queue/queue_config.hpp"
#include "virtio/spec/features.hpp"

namespace vmm::virtio::test {

inline constexpr std::uint64_t BASE_FEATURES = feature_bit(VIRTIO_F_VERSION_1);
inline constexpr std::uint64_t INDIRECT = feature_bit(VIRTIO_F_INDIRECT_DESC);
inline constexpr std::uint64_t EVENT_IDX = feature_bit(VIRTIO_F_EVENT_IDX);
inline constexpr std::uint64_t IN_ORDER = feature_bit(VIRTIO_F_IN_ORDER);
inline constexpr std::uint64_t PACKED = feature_bit(VIRTIO_F_RING_PACKED);

template <class Driver>
struct QueueFixture {
    explicit QueueFixture(std::uint16_t size = 8, std::uint64_t extra_features = INDIRECT)
        : driver(guest, size)
        , config(256)
        , features(BASE_FEATURES | extra_features | (std::is_same_v<Driver, DriverPackedQueue> ? PACKED : 0))
    {
        driver.configure(config);
    }

    Queue& activate()
    {
        auto q = config.activate(0, guest.dma(), features, irq);
        INFO((q ? std::string() : q.error().describe()));
        REQUIRE(q);
        queue.emplace(std::move(q).value());
        return *queue;
    }

    // A zeroed buffer in RAM0.
    std::uint64_t buffer(std::uint64_t len) { return guest.alloc(len, 16); }
    // A buffer in RAM0 holding `bytes`.
    std::uint64_t buffer_with(const std::vector<std::byte>& bytes)
    {
        const std::uint64_t at = guest.alloc(bytes.size(), 16);
        guest.write(at, bytes);
        return at;
    }

    // Pops a chain and requires one.
    DescriptorChain pop()
    {
        auto chain = queue->pop();
        INFO("fault: " << (queue->fault() ? std::string(to_string(*queue->fault())) : std::string("none")));
        REQUIRE(chain);
        return std::move(*chain);
    }

    std::optional<QueueFault> pop_fault()
    {
        auto chain = queue->pop();
        CHECK_FALSE(chain);
        return queue->fault();
    }

    FakeGuest guest;
    FakeInterrupt irq;
    Driver driver;
    QueueConfig config;
    std::uint64_t features;
    std::optional<Queue> queue;
};

using SplitFixture = QueueFixture<DriverSplitQueue>;
using PackedFixture = QueueFixture<DriverPackedQueue>;

// Reads every remaining readable byte of a chain.
inline std::vector<std::byte> read_all(DescriptorChain& chain)
{
    std::vector<std::byte> out(chain.reader().available());
    REQUIRE(chain.reader().read(out));
    return out;
}

} // namespace vmm::virtio::test
