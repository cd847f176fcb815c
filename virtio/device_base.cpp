// SPDX-License-Identifier: Apache-2.0
// DeviceBase: features and configuration space.
#include "virtio/device_base.hpp"

#include <algorithm>
#include <cstring>

#include "vmm/base/log.hpp"

namespace vmm::virtio {

DeviceBase::DeviceBase(DeviceType type, std::vector<std::uint16_t> queue_max_sizes, std::uint64_t device_features,
    std::size_t config_size)
    : type_(type)
    , queue_sizes_(std::move(queue_max_sizes))
    , offered_(device_features | feature_bit(VIRTIO_F_VERSION_1))
    , config_(config_size)
{
}

void DeviceBase::ack_features(std::uint64_t features) noexcept
{
    acked_.store(features & offered_, std::memory_order_relaxed);
}

std::uint32_t DeviceBase::config_size() const noexcept
{
    std::lock_guard lock(config_mutex_);
    return static_cast<std::uint32_t>(config_.size());
}

void DeviceBase::read_config(std::uint32_t offset, std::span<std::byte> out) const noexcept
{
    std::fill(out.begin(), out.end(), std::byte { 0 });
    std::lock_guard lock(config_mutex_);
    // Guest-controlled: offset and out.size(). Bytes past the end read as zero.
    if (offset >= config_.size()) {
        return;
    }
    const std::size_t n = std::min(out.size(), config_.size() - offset);
    std::memcpy(out.data(), config_.data() + offset, n);
}

bool DeviceBase::write_config(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    {
        std::lock_guard lock(config_mutex_);
        // Guest-controlled: offset and in.size().
        if (offset > config_.size() || in.size() > config_.size() - offset) {
            VMM_LOG_GUEST(spdlog::level::warn, "virtio-{}: config write of {} bytes at {:#x} is past the end; ignored",
                to_string(type_), in.size(), offset);
            return false;
        }
    }
    return on_config_write(offset, in);
}

std::uint32_t DeviceBase::config_generation() const noexcept
{
    std::lock_guard lock(config_mutex_);
    return generation_;
}

void DeviceBase::set_config(std::size_t offset, std::span<const std::byte> bytes) noexcept
{
    std::lock_guard lock(config_mutex_);
    copy_config_locked(offset, bytes);
}

void DeviceBase::update_config(std::size_t offset, std::span<const std::byte> bytes) noexcept
{
    {
        // Bytes and generation change together: a driver that reads the generation, the
        // fields and the generation again sees either the old or the new values, never a mix.
        std::lock_guard lock(config_mutex_);
        copy_config_locked(offset, bytes);
        ++generation_;
    }
    if (auto* irq = interrupt_.load(std::memory_order_acquire); irq != nullptr) {
        irq->trigger_config();
    }
}

void DeviceBase::copy_config_locked(std::size_t offset, std::span<const std::byte> bytes) noexcept
{
    if (offset >= config_.size()) {
        return;
    }
    const std::size_t n = std::min(bytes.size(), config_.size() - offset);
    std::memcpy(config_.data() + offset, bytes.data(), n);
}

bool DeviceBase::on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    (void)offset;
    (void)in;
    return false; // no writable fields
}

void DeviceBase::reset_base() noexcept
{
    acked_.store(0, std::memory_order_relaxed);
    interrupt_.store(nullptr, std::memory_order_release);
}

} // namespace vmm::virtio
