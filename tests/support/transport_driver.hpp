// SPDX-License-Identifier: Apache-2.0
// TransportDriver: the driver's view of a virtio transport's registers, for both transports.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "tests/support/driver_queue.hpp"
#include "virtio/spec/features.hpp"

namespace vmm::virtio::test {

// What a driver does through transport registers (virtio 1.2 §4.1 PCI, §4.2 MMIO), written
// once per transport so that device and transport tests run unchanged on both. Every call is
// a real register access through the bus, the way a guest makes it.
class TransportDriver {
public:
    virtual ~TransportDriver() = default;

    [[nodiscard]] virtual std::uint32_t device_id() = 0;
    [[nodiscard]] virtual std::uint8_t status() = 0;
    virtual void set_status(std::uint8_t status) = 0;
    [[nodiscard]] virtual std::uint64_t device_features() = 0;
    virtual void set_driver_features(std::uint64_t features) = 0;

    [[nodiscard]] virtual std::uint16_t queue_max(std::uint16_t index) = 0;
    virtual void set_queue(std::uint16_t index, std::uint16_t size, std::uint64_t desc, std::uint64_t driver,
        std::uint64_t device)
        = 0;
    virtual void set_queue_ready(std::uint16_t index, bool ready) = 0;
    [[nodiscard]] virtual bool queue_ready(std::uint16_t index) = 0;
    virtual void reset_queue(std::uint16_t index) = 0;
    [[nodiscard]] virtual bool queue_reset_pending(std::uint16_t index) = 0;
    // A queue notification as Linux sends it: the queue index, or the notification data when
    // `data` is given.
    virtual void notify(std::uint16_t index, std::optional<std::uint32_t> data = std::nullopt) = 0;

    virtual void read_config(std::uint32_t offset, std::span<std::byte> out) = 0;
    virtual void write_config(std::uint32_t offset, std::span<const std::byte> in) = 0;
    [[nodiscard]] virtual std::uint32_t config_generation() = 0;

    // Interrupts delivered so far, by kind (MMIO: line edges, split by InterruptStatus as the
    // driver's handler would read and acknowledge it; PCI: MSI-X messages per vector).
    [[nodiscard]] virtual std::uint32_t queue_interrupts(std::uint16_t index) = 0;
    [[nodiscard]] virtual std::uint32_t config_interrupts() = 0;

    // ---- The init sequence (§3.1.1) ----

    // Writes 0 to the status and reads it back until it is 0 (§4.1.4.3.2, §2.4).
    void reset();
    // Reset, ACKNOWLEDGE, DRIVER, accept `wanted` ∩ offered (plus VERSION_1), FEATURES_OK and
    // check that it stuck. Returns the accepted features, or nullopt when FEATURES_OK was
    // refused.
    std::optional<std::uint64_t> negotiate(std::uint64_t wanted);
    // Accept exactly `features`, offered or not (for tests of refusal).
    bool negotiate_exactly(std::uint64_t features);
    void setup_queue(std::uint16_t index, const DriverSplitQueue& q);
    void setup_queue(std::uint16_t index, const DriverPackedQueue& q);
    void driver_ok();
    [[nodiscard]] bool needs_reset() { return (status() & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET) != 0; }

    template <WireType T>
    [[nodiscard]] T read_config_obj(std::uint32_t offset)
    {
        T v {};
        read_config(offset, std::as_writable_bytes(std::span(&v, 1)));
        return v;
    }
};

} // namespace vmm::virtio::test
