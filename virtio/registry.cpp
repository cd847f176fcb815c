// SPDX-License-Identifier: Apache-2.0
// The device registry. Each device kind is added to DEVICE_KINDS below when it lands.
#include "virtio/registry.hpp"

#include <array>
#include <string>

#include "virtio/devices/block/block_config.hpp"

namespace vmm::virtio {
namespace {

// The only list of device kinds.
constexpr std::array DEVICE_KINDS {
    DeviceKind { "block", &block::make_block, &block::validate_block },
};

[[nodiscard]] std::string known_names(std::span<const DeviceKind> kinds)
{
    if (kinds.empty()) {
        return "none in this build";
    }
    std::string names;
    for (const auto& k : kinds) {
        if (!names.empty()) {
            names += ", ";
        }
        names += k.name;
    }
    return names;
}

} // namespace

std::span<const DeviceKind> device_kinds() noexcept
{
    return DEVICE_KINDS;
}

const DeviceKind* find_device_kind(std::span<const DeviceKind> kinds, std::string_view name) noexcept
{
    for (const auto& k : kinds) {
        if (k.name == name) {
            return &k;
        }
    }
    return nullptr;
}

Result<> validate_device(std::span<const DeviceKind> kinds, const config::DeviceConfig& entry)
{
    const DeviceKind* kind = find_device_kind(kinds, entry.type);
    if (kind == nullptr) {
        // No origin or type prefix: config::validate() adds both to messages from this hook.
        return fail(Errc::not_found, "unknown device type (known: {})", known_names(kinds));
    }
    if (kind->validate != nullptr) {
        return kind->validate(entry);
    }
    return {};
}

Result<> validate_device(const config::DeviceConfig& entry)
{
    return validate_device(device_kinds(), entry);
}

Result<std::unique_ptr<Device>> make_device(std::span<const DeviceKind> kinds, const config::DeviceConfig& entry,
    DeviceResources& resources)
{
    if (auto checked = validate_device(kinds, entry); !checked) {
        return fail(Error { checked.error().code,
            fmt::format("{} (type \"{}\"): {}", entry.origin, entry.type, checked.error().describe()) });
    }
    // Invariant: validate_device() found the kind.
    return find_device_kind(kinds, entry.type)->make(entry, resources);
}

Result<std::unique_ptr<Device>> make_device(const config::DeviceConfig& entry, DeviceResources& resources)
{
    return make_device(device_kinds(), entry, resources);
}

} // namespace vmm::virtio
