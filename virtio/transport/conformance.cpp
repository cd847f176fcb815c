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
} };

} // namespace

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
