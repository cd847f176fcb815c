// SPDX-License-Identifier: Apache-2.0
// MmioDriver.
#include "tests/support/mmio_driver.hpp"

#include <cstring>

#include "virtio/spec/mmio.hpp"

namespace vmm::virtio::test {

void MmioDriver::read_raw(std::uint32_t offset, std::span<std::byte> out)
{
    if (!bus_->read(base_ + offset, out)) {
        std::memset(out.data(), 0xff, out.size());
    }
}

void MmioDriver::write_raw(std::uint32_t offset, std::span<const std::byte> in)
{
    (void)host_->mmio_write(*bus_, base_ + offset, in);
}

std::uint32_t MmioDriver::read32(std::uint32_t offset)
{
    std::uint32_t v = 0;
    read_raw(offset, std::as_writable_bytes(std::span(&v, 1)));
    return v;
}

void MmioDriver::write32(std::uint32_t offset, std::uint32_t value)
{
    write_raw(offset, std::as_bytes(std::span(&value, 1)));
}

std::uint32_t MmioDriver::device_id()
{
    return read32(mmio::DEVICE_ID);
}

std::uint8_t MmioDriver::status()
{
    return static_cast<std::uint8_t>(read32(mmio::STATUS));
}

void MmioDriver::set_status(std::uint8_t status)
{
    write32(mmio::STATUS, status);
}

std::uint64_t MmioDriver::device_features()
{
    write32(mmio::DEVICE_FEATURES_SEL, 0);
    const std::uint64_t low = read32(mmio::DEVICE_FEATURES);
    write32(mmio::DEVICE_FEATURES_SEL, 1);
    const std::uint64_t high = read32(mmio::DEVICE_FEATURES);
    return low | high << 32;
}

void MmioDriver::set_driver_features(std::uint64_t features)
{
    write32(mmio::DRIVER_FEATURES_SEL, 0);
    write32(mmio::DRIVER_FEATURES, static_cast<std::uint32_t>(features));
    write32(mmio::DRIVER_FEATURES_SEL, 1);
    write32(mmio::DRIVER_FEATURES, static_cast<std::uint32_t>(features >> 32));
}

std::uint16_t MmioDriver::queue_max(std::uint16_t index)
{
    write32(mmio::QUEUE_SEL, index);
    return static_cast<std::uint16_t>(read32(mmio::QUEUE_NUM_MAX));
}

void MmioDriver::set_queue(
    std::uint16_t index, std::uint16_t size, std::uint64_t desc, std::uint64_t driver, std::uint64_t device)
{
    write32(mmio::QUEUE_SEL, index);
    write32(mmio::QUEUE_NUM, size);
    write32(mmio::QUEUE_DESC_LOW, static_cast<std::uint32_t>(desc));
    write32(mmio::QUEUE_DESC_HIGH, static_cast<std::uint32_t>(desc >> 32));
    write32(mmio::QUEUE_DRIVER_LOW, static_cast<std::uint32_t>(driver));
    write32(mmio::QUEUE_DRIVER_HIGH, static_cast<std::uint32_t>(driver >> 32));
    write32(mmio::QUEUE_DEVICE_LOW, static_cast<std::uint32_t>(device));
    write32(mmio::QUEUE_DEVICE_HIGH, static_cast<std::uint32_t>(device >> 32));
}

void MmioDriver::set_queue_ready(std::uint16_t index, bool ready)
{
    write32(mmio::QUEUE_SEL, index);
    write32(mmio::QUEUE_READY, ready ? 1 : 0);
}

bool MmioDriver::queue_ready(std::uint16_t index)
{
    write32(mmio::QUEUE_SEL, index);
    return read32(mmio::QUEUE_READY) != 0;
}

void MmioDriver::reset_queue(std::uint16_t index)
{
    write32(mmio::QUEUE_SEL, index);
    write32(mmio::QUEUE_RESET, 1);
}

bool MmioDriver::queue_reset_pending(std::uint16_t index)
{
    write32(mmio::QUEUE_SEL, index);
    return read32(mmio::QUEUE_RESET) != 0;
}

void MmioDriver::notify(std::uint16_t index, std::optional<std::uint32_t> data)
{
    write32(mmio::QUEUE_NOTIFY, data.value_or(index));
}

void MmioDriver::read_config(std::uint32_t offset, std::span<std::byte> out)
{
    read_raw(mmio::CONFIG + offset, out);
}

void MmioDriver::write_config(std::uint32_t offset, std::span<const std::byte> in)
{
    write_raw(mmio::CONFIG + offset, in);
}

std::uint32_t MmioDriver::config_generation()
{
    return read32(mmio::CONFIG_GENERATION);
}

void MmioDriver::handle_interrupts()
{
    if (*edges_ == edges_seen_) {
        return;
    }
    edges_seen_ = *edges_;
    const std::uint32_t s = read32(mmio::INTERRUPT_STATUS);
    write32(mmio::INTERRUPT_ACK, s);
    if ((s & mmio::INT_VRING) != 0) {
        ++vring_;
    }
    if ((s & mmio::INT_CONFIG) != 0) {
        ++config_;
    }
}

std::uint32_t MmioDriver::queue_interrupts(std::uint16_t /*index*/)
{
    handle_interrupts();
    return vring_;
}

std::uint32_t MmioDriver::config_interrupts()
{
    handle_interrupts();
    return config_;
}

} // namespace vmm::virtio::test
