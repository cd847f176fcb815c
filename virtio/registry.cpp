// SPDX-License-Identifier: Apache-2.0
// The device registry. Each device kind is added to DEVICE_KINDS below when it lands.
#include "virtio/registry.hpp"

#include <array>
#include <string>

#include "virtio/devices/balloon/balloon_config.hpp"
#include "virtio/devices/block/block_config.hpp"
#include "virtio/devices/console/console_config.hpp"
#include "virtio/devices/iommu/iommu_config.hpp"
#include "virtio/devices/mem/mem_config.hpp"
#include "virtio/devices/net/net_config.hpp"
#include "virtio/devices/pmem/pmem_config.hpp"
#include "virtio/devices/rng/rng_config.hpp"
#include "virtio/devices/scsi/scsi_config.hpp"
#include "virtio/devices/vsock/vsock_config.hpp"
#include "virtio/fault_plan.hpp"

namespace vmm::virtio {
namespace {

// The only list of device kinds.
constexpr std::array DEVICE_KINDS {
    DeviceKind { "balloon", &balloon::make_balloon, &balloon::validate_balloon },
    DeviceKind { "block", &block::make_block, &block::validate_block },
    DeviceKind { "console", &make_console, &validate_console },
    DeviceKind { "iommu", &make_iommu, &validate_iommu },
    DeviceKind { "mem", &mem::make_mem, &mem::validate_mem, &mem::mem_hotplug_size },
    DeviceKind { "net", &net::make_net, &net::validate_net },
    DeviceKind { "pmem", &pmem::make_pmem, &pmem::validate_pmem },
    DeviceKind { "rng", &make_rng, &validate_rng },
    DeviceKind { "scsi", &scsi::make_scsi, &scsi::validate_scsi },
    DeviceKind { "vsock", &vsock::make_vsock, &vsock::validate_vsock },
};

// "devices[2] (type \"rng\"): ...": every message about an entry names it once.
[[nodiscard]] Error about_entry(const config::DeviceConfig& entry, const Error& e)
{
    return Error { e.code, fmt::format("{} (type \"{}\"): {}", entry.origin, entry.type, e.describe()) };
}

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
    if (!entry.virtio_faults.is_null()) {
        VMM_TRY(parse_fault_plan(entry.virtio_faults, "virtio_faults", FaultPlanSource::config));
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

Result<std::uint64_t> device_hotplug_size(const config::DeviceConfig& entry)
{
    const DeviceKind* kind = find_device_kind(device_kinds(), entry.type);
    if (kind == nullptr || kind->hotplug_size == nullptr) {
        return std::uint64_t { 0 };
    }
    auto size = kind->hotplug_size(entry);
    if (!size) {
        return fail(about_entry(entry, size.error()));
    }
    return size;
}

Result<std::unique_ptr<Device>> make_device(std::span<const DeviceKind> kinds, const config::DeviceConfig& entry,
    DeviceResources& resources)
{
    if (auto checked = validate_device(kinds, entry); !checked) {
        return fail(about_entry(entry, checked.error()));
    }
    // Invariant: validate_device() found the kind.
    auto device = find_device_kind(kinds, entry.type)->make(entry, resources);
    if (!device) {
        return fail(about_entry(entry, device.error()));
    }
    return device;
}

Result<std::unique_ptr<Device>> make_device(const config::DeviceConfig& entry, DeviceResources& resources)
{
    return make_device(device_kinds(), entry, resources);
}

} // namespace vmm::virtio
