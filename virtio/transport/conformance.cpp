// SPDX-License-Identifier: Apache-2.0
#include "virtio/transport/conformance.hpp"

namespace vmm::virtio {

namespace {

constexpr std::array<DriverRuleInfo, static_cast<std::size_t>(DriverRule::count)> RULES { {
    { "status_bit_cleared", "2.1.1", "The driver MUST NOT clear a device status bit." },
    { "reinit_after_failed", "2.1.1",
        "If the driver sets the FAILED bit, the driver MUST later reset the device before attempting to re-initialize." },
    { "feature_not_offered", "2.2.1", "The driver MUST NOT accept a feature which the device did not offer." },
    { "version_1_not_accepted", "6.1", "A driver MUST accept VIRTIO_F_VERSION_1 if it is offered." },
    { "features_after_features_ok", "3.1.1",
        "Set the FEATURES_OK status bit. The driver MUST NOT accept new feature bits after this step." },
    { "driver_ok_without_features_ok", "3.1.1",
        "The driver MUST follow this sequence to initialize a device (FEATURES_OK before DRIVER_OK)." },
    { "notify_before_driver_ok", "3.1.1",
        "The driver MUST NOT send any buffer available notifications to the device before setting DRIVER_OK." },
    { "notify_unknown_queue", "4.1.4.4, 4.2.2.2", "A notification names a virtqueue of the device." },
    { "queue_changed_while_enabled", "4.1.4.3.2",
        "The driver MUST configure the other virtqueue fields before enabling the virtqueue with queue_enable." },
    { "reset_not_awaited", "4.1.4.3.2",
        "After writing 0 to device_status, the driver MUST wait for a read of device_status to return 0 before "
        "reinitializing the device." },
    { "config_write_read_only", "2.5, 5.x.4",
        "The driver writes only the device configuration fields its device's section lets it write (e.g. blk "
        "writeback with CONFIG_WCE, §5.2.4; iommu bypass with BYPASS_CONFIG, §5.13.4; console emerg_wr, §5.3.4)." },
    { "more_buffers_than_queue_size", "2.6",
        "Queue Size is the maximum number of buffers in the virtqueue (the driver made more available)." },
    { "ring_entry_invalid", "2.7.6, 2.8.6",
        "A ring entry names a descriptor (or buffer ID) that exists in the queue." },
    { "buffer_reused_before_used", "2.7.13, 2.8.21",
        "The driver makes a buffer available again only after the device has used it: it takes free descriptors "
        "(split) and a free Buffer ID (packed), never a head or ID the device still holds." },
    { "chain_too_long", "2.7.5.2, 2.7.5.3.1",
        "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes in total; this implies that loops in the "
        "descriptor chain are forbidden. A driver MUST NOT create a descriptor chain longer than the Queue Size." },
    { "indirect_misused", "2.7.5.3.1",
        "The driver MUST NOT set VIRTQ_DESC_F_INDIRECT unless VIRTIO_F_INDIRECT_DESC was negotiated, within an "
        "indirect descriptor, or together with VIRTQ_DESC_F_NEXT." },
    { "writable_before_readable", "2.7.4.2",
        "The driver MUST place any device-writable descriptor elements after any device-readable descriptor elements." },
    { "buffer_not_reachable", "2.6, 6.1",
        "Rings and buffers lie in memory the device can reach (through the IOMMU with VIRTIO_F_ACCESS_PLATFORM)." },
} };

} // namespace

DriverRule rule_for(QueueFault fault) noexcept
{
    switch (fault) {
    case QueueFault::queue_overrun:
        return DriverRule::more_buffers_than_queue_size;
    case QueueFault::head_out_of_range:
    case QueueFault::next_out_of_range:
    case QueueFault::chain_incomplete:
        return DriverRule::ring_entry_invalid;
    case QueueFault::head_in_flight:
        return DriverRule::buffer_reused_before_used;
    case QueueFault::chain_too_long:
    case QueueFault::chain_length_overflow:
    case QueueFault::indirect_too_large:
        return DriverRule::chain_too_long;
    case QueueFault::indirect_not_negotiated:
    case QueueFault::indirect_with_next:
    case QueueFault::nested_indirect:
    case QueueFault::indirect_bad_length:
        return DriverRule::indirect_misused;
    case QueueFault::readable_after_writable:
        return DriverRule::writable_before_readable;
    case QueueFault::ring_unmapped:
    case QueueFault::buffer_unmapped:
    case QueueFault::indirect_unmapped:
        break;
    }
    return DriverRule::buffer_not_reachable;
}

const DriverRuleInfo& rule_info(DriverRule rule) noexcept
{
    return RULES[static_cast<std::size_t>(rule)];
}

std::uint64_t ConformanceLog::total() const noexcept
{
    std::uint64_t n = 0;
    for (const auto& c : counts_) {
        n += c.load(std::memory_order_relaxed);
    }
    return n;
}

nlohmann::json ConformanceLog::to_json() const
{
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < RULES.size(); ++i) {
        if (const std::uint64_t n = counts_[i].load(std::memory_order_relaxed); n > 0) {
            out.push_back({ { "rule", RULES[i].name }, { "section", RULES[i].section }, { "text", RULES[i].text },
                { "count", n } });
        }
    }
    return out;
}

} // namespace vmm::virtio
