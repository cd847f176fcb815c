// SPDX-License-Identifier: Apache-2.0
// DeviceBase: the feature and configuration-space plumbing every device shares.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "virtio/device.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// Holds the offered and acked features, the configuration bytes with their generation, and the
// interrupt to raise when the device changes its configuration. Devices derive from it and
// keep their own state; it is not meant to grow into a hierarchy.
class DeviceBase : public Device {
public:
    [[nodiscard]] DeviceType type() const noexcept override { return type_; }
    [[nodiscard]] std::span<const std::uint16_t> queue_max_sizes() const noexcept override { return queue_sizes_; }
    [[nodiscard]] std::uint64_t features() const noexcept override { return offered_; }
    void ack_features(std::uint64_t features) noexcept override;
    [[nodiscard]] std::uint32_t config_size() const noexcept override;
    void read_config(std::uint32_t offset, std::span<std::byte> out) const noexcept override;
    bool write_config(std::uint32_t offset, std::span<const std::byte> in) noexcept override;
    [[nodiscard]] std::uint32_t config_generation() const noexcept override;

protected:
    // VIRTIO_F_VERSION_1 is always added to `device_features`.
    DeviceBase(DeviceType type, std::vector<std::uint16_t> queue_max_sizes, std::uint64_t device_features,
        std::size_t config_size);

    [[nodiscard]] std::uint64_t acked_features() const noexcept { return acked_.load(std::memory_order_relaxed); }
    [[nodiscard]] bool acked(unsigned bit) const noexcept { return has_feature(acked_features(), bit); }

    // Sets configuration bytes without telling the driver (before activation, e.g. in the
    // constructor). Out-of-range parts are dropped.
    void set_config(std::size_t offset, std::span<const std::byte> bytes) noexcept;
    template <WireType T>
    void set_config_obj(std::size_t offset, const T& v) noexcept
    {
        set_config(offset, std::as_bytes(std::span(&v, 1)));
    }
    // Changes configuration bytes at run time: bumps the generation and, when activated, sends
    // a configuration change notification (virtio 1.2 §2.5).
    void update_config(std::size_t offset, std::span<const std::byte> bytes) noexcept;
    template <WireType T>
    void update_config_obj(std::size_t offset, const T& v) noexcept
    {
        update_config(offset, std::as_bytes(std::span(&v, 1)));
    }

    // A driver write inside the configuration space (bounds already checked). The default
    // ignores it: most fields are read-only. Called under the transport lock.
    virtual bool on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept;

    // Remember the interrupt from activate(); reset_base() forgets it with the acked features.
    void set_interrupt(Interrupt* interrupt) noexcept { interrupt_.store(interrupt, std::memory_order_release); }
    void reset_base() noexcept;

private:
    void copy_config_locked(std::size_t offset, std::span<const std::byte> bytes) noexcept;

    DeviceType type_;
    std::vector<std::uint16_t> queue_sizes_;
    std::uint64_t offered_;
    std::atomic<std::uint64_t> acked_ { 0 };
    std::atomic<Interrupt*> interrupt_ { nullptr };
    mutable std::mutex config_mutex_; // vCPU reads vs. loop-thread updates
    std::vector<std::byte> config_;
    std::uint32_t generation_ = 0;
};

} // namespace vmm::virtio
