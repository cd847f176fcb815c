// SPDX-License-Identifier: Apache-2.0
// The driver's side of the device fuzzers (fuzz_devices, fuzz_net): an 8-byte operation, and
// the kinds every device target shares, played over virtio-mmio.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "tests/support/mmio_driver.hpp"
#include "virtio/spec/mmio.hpp"

namespace vmm::fuzz {

struct DeviceOp {
    std::uint8_t kind;
    std::uint8_t selector;
    std::uint8_t width;
    std::uint8_t flags;
    std::uint32_t value;
};

// Kinds 0 to 4 (of kind % 8): negotiation up to DRIVER_OK (with `high_features` added to the
// input's bits), a queue set up in [0, ring_area), a notification, a config access of any
// width, a status or queue-reset write. Returns false for kinds 5 to 7, the target's own.
inline bool driver_op(virtio::test::MmioDriver& driver, const DeviceOp& op, std::uint16_t queues, std::uint64_t ring_area,
    std::uint64_t high_features = 0)
{
    const auto q = static_cast<std::uint16_t>(op.selector % queues);
    switch (op.kind % 8) {
    case 0:
        (void)driver.negotiate(op.value | std::uint64_t { op.flags } << 32 | high_features);
        driver.driver_ok();
        return true;
    case 1:
        driver.set_queue(q, static_cast<std::uint16_t>(1U << (op.width % 5)), (op.value & 0xfff0) % ring_area,
            ((op.value >> 8) & 0xfff0) % ring_area, ((op.value >> 16) & 0xfff0) % ring_area);
        driver.set_queue_ready(q, true);
        return true;
    case 2:
        driver.notify(q);
        return true;
    case 3: {
        std::array<std::byte, 8> buf {};
        std::memcpy(buf.data(), &op.value, sizeof(op.value));
        const std::size_t w = std::size_t { 1 } << (op.width % 4);
        if ((op.flags & 1) != 0) {
            driver.write_config(op.selector, std::span(buf).first(w));
        } else {
            driver.read_config(op.selector, std::span(buf).first(w));
        }
        return true;
    }
    case 4:
        driver.write32(virtio::mmio::STATUS + (op.flags % 2) * (virtio::mmio::QUEUE_RESET - virtio::mmio::STATUS),
            op.value & 0xff);
        return true;
    default:
        return false;
    }
}

} // namespace vmm::fuzz
