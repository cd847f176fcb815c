// SPDX-License-Identifier: Apache-2.0
// MmioDriver: TransportDriver over a virtio-mmio window on a Bus.
#pragma once

#include <cstdint>

#include "tests/support/test_host.hpp"
#include "tests/support/transport_driver.hpp"
#include "vmm/bus/bus.hpp"

namespace vmm::virtio::test {

class MmioDriver final : public TransportDriver {
public:
    // `edges` counts the transport's interrupt line (a CountingIrqLine's counter).
    MmioDriver(const Bus& bus, TestHost& host, std::uint64_t base, const std::uint32_t& edges)
        : bus_(&bus)
        , host_(&host)
        , base_(base)
        , edges_(&edges)
    {
    }

    [[nodiscard]] std::uint32_t device_id() override;
    [[nodiscard]] std::uint8_t status() override;
    void set_status(std::uint8_t status) override;
    [[nodiscard]] std::uint64_t device_features() override;
    void set_driver_features(std::uint64_t features) override;
    [[nodiscard]] std::uint16_t queue_max(std::uint16_t index) override;
    void set_queue(std::uint16_t index, std::uint16_t size, std::uint64_t desc, std::uint64_t driver,
        std::uint64_t device) override;
    void set_queue_ready(std::uint16_t index, bool ready) override;
    [[nodiscard]] bool queue_ready(std::uint16_t index) override;
    void reset_queue(std::uint16_t index) override;
    [[nodiscard]] bool queue_reset_pending(std::uint16_t index) override;
    void notify(std::uint16_t index, std::optional<std::uint32_t> data = std::nullopt) override;
    void read_config(std::uint32_t offset, std::span<std::byte> out) override;
    void write_config(std::uint32_t offset, std::span<const std::byte> in) override;
    [[nodiscard]] std::uint32_t config_generation() override;
    // One line for all queues (§4.2.3.4): every used-buffer interrupt counts for each queue.
    [[nodiscard]] std::uint32_t queue_interrupts(std::uint16_t index) override;
    [[nodiscard]] std::uint32_t config_interrupts() override;

    // Raw 32-bit register access, for tests of what no correct driver does.
    [[nodiscard]] std::uint32_t read32(std::uint32_t offset);
    void write32(std::uint32_t offset, std::uint32_t value);
    // Any width.
    void read_raw(std::uint32_t offset, std::span<std::byte> out);
    void write_raw(std::uint32_t offset, std::span<const std::byte> in);

private:
    // The driver's interrupt handler (Linux vm_interrupt): read InterruptStatus, acknowledge
    // it, count what it said, once per edge seen.
    void handle_interrupts();

    const Bus* bus_;
    TestHost* host_;
    std::uint64_t base_;
    const std::uint32_t* edges_;
    std::uint32_t edges_seen_ = 0;
    std::uint32_t vring_ = 0;
    std::uint32_t config_ = 0;
};

} // namespace vmm::virtio::test
