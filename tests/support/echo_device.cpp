// SPDX-License-Identifier: Apache-2.0
// EchoDevice.
#include "tests/support/echo_device.hpp"

#include <algorithm>
#include <array>

namespace vmm::virtio::test {

EchoDevice::EchoDevice(std::uint16_t queues, std::uint64_t features)
    : DeviceBase(DeviceType::rng, std::vector<std::uint16_t>(queues, MAX_QUEUE_SIZE), features, sizeof(Config))
{
    Config config;
    config.magic.set(MAGIC);
    set_config_obj(0, config);
}

std::uint64_t EchoDevice::default_features() noexcept
{
    return feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX) | feature_bit(VIRTIO_F_RING_PACKED)
        | feature_bit(VIRTIO_F_IN_ORDER) | feature_bit(VIRTIO_F_RING_RESET) | feature_bit(VIRTIO_F_NOTIFICATION_DATA);
}

Result<> EchoDevice::activate(ActivationContext ctx)
{
    queues_.clear();
    queues_.resize(queue_max_sizes().size());
    for (auto& q : ctx.queues) {
        if (q.index() >= queues_.size()) {
            return fail(Errc::invalid_argument, "echo device has no queue {}", q.index());
        }
        const std::uint16_t index = q.index();
        queues_[index].emplace(std::move(q));
    }
    set_interrupt(&ctx.interrupt);
    active_ = true;
    return {};
}

void EchoDevice::reset() noexcept
{
    queues_.clear();
    held_.clear();
    active_ = false;
    reset_base();
}

Queue* EchoDevice::queue(std::uint16_t index) noexcept
{
    if (index >= queues_.size() || !queues_[index]) {
        return nullptr;
    }
    return &*queues_[index];
}

void EchoDevice::echo(DescriptorChain& chain) noexcept
{
    std::array<std::byte, 256> buf {};
    auto& in = chain.reader();
    auto& out = chain.writer();
    while (in.available() > 0 && out.available() > 0) {
        const std::size_t n = std::min({ buf.size(), in.available(), out.available() });
        auto part = std::span(buf).first(n);
        // Invariant: n is within both available() counts, so neither call can fail.
        (void)in.read(part);
        (void)out.write(part);
    }
}

void EchoDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    Queue* q = queue(queue_index);
    if (q == nullptr) {
        return; // spurious notify before activation, or after a queue reset
    }
    do {
        q->disable_notification();
        while (auto chain = q->pop()) {
            if (hold_) {
                held_.push_back(std::move(*chain));
                continue;
            }
            echo(*chain);
            q->add_used(std::move(*chain));
        }
    } while (q->enable_notification());
    q->notify_if_needed();
}

void EchoDevice::complete_held()
{
    auto held = std::move(held_);
    held_.clear();
    for (auto& chain : held) {
        Queue* q = queue(chain.queue_index());
        if (q == nullptr || !q->owns(chain)) {
            // The queue was reset since: its buffers may already be reused by the driver, so
            // neither write into them nor complete them (virtio 1.2 §2.6.1).
            continue;
        }
        echo(chain);
        q->add_used(std::move(chain));
        q->notify_if_needed();
    }
}

void EchoDevice::reset_queue(std::uint16_t queue_index) noexcept
{
    if (queue_index < queues_.size()) {
        queues_[queue_index].reset();
    }
}

Result<> EchoDevice::enable_queue(Queue queue)
{
    if (queue.index() >= queues_.size()) {
        return fail(Errc::invalid_argument, "echo device has no queue {}", queue.index());
    }
    const std::uint16_t index = queue.index();
    queues_[index].emplace(std::move(queue));
    return {};
}

bool EchoDevice::on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    // Only `scratch` (bytes 4..7) is writable.
    if (offset < offsetof(Config, scratch)) {
        return false;
    }
    set_config(offset, in);
    return true;
}

} // namespace vmm::virtio::test
