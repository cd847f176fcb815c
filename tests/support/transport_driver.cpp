// SPDX-License-Identifier: Apache-2.0
// TransportDriver: the init sequence.
#include "tests/support/transport_driver.hpp"

namespace vmm::virtio::test {

void TransportDriver::reset()
{
    set_status(0);
    // The transports reset synchronously; a driver still has to look (and a bounded loop keeps
    // a broken one from hanging the test).
    for (int i = 0; i < 1000 && status() != 0; ++i) {
    }
}

std::optional<std::uint64_t> TransportDriver::negotiate(std::uint64_t wanted)
{
    reset();
    set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    const std::uint64_t accepted = device_features() & (wanted | feature_bit(VIRTIO_F_VERSION_1));
    set_driver_features(accepted);
    set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    if ((status() & VIRTIO_CONFIG_S_FEATURES_OK) == 0) {
        return std::nullopt;
    }
    return accepted;
}

bool TransportDriver::negotiate_exactly(std::uint64_t features)
{
    reset();
    set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    set_driver_features(features);
    set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    return (status() & VIRTIO_CONFIG_S_FEATURES_OK) != 0;
}

void TransportDriver::setup_queue(std::uint16_t index, const DriverSplitQueue& q)
{
    set_queue(index, q.size(), q.desc_addr(), q.avail_addr(), q.used_addr());
    set_queue_ready(index, true);
}

void TransportDriver::setup_queue(std::uint16_t index, const DriverPackedQueue& q)
{
    set_queue(index, q.size(), q.desc_addr(), q.driver_event_addr(), q.device_event_addr());
    set_queue_ready(index, true);
}

void TransportDriver::driver_ok()
{
    set_status(static_cast<std::uint8_t>(status() | VIRTIO_CONFIG_S_DRIVER_OK));
}

} // namespace vmm::virtio::test
