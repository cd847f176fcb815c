// SPDX-License-Identifier: Apache-2.0
// The device registry: the one explicit list of device kinds, name -> factory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "virtio/device.hpp"
#include "vmm/base/result.hpp"
#include "vmm/config/config.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// Host resources a factory may need. Grows as devices arrive (the event loop for backends,
// guest memory for devices that map it); factories take what they use.
struct DeviceResources {
    EventLoop* loop = nullptr;
    // The VM's vCPU count: the default number of queues of multiqueue devices.
    std::uint32_t cpus = 1;
    // Guest RAM, for devices that act on guest-physical pages themselves (the balloon gives
    // them back to the host). Queue buffers never need it: they come resolved.
    const GuestMemory* memory = nullptr;
    // Where the hot-plug region this entry asked for (DeviceKind::hotplug_size) starts in
    // `memory`: virtio-mem's region.
    std::optional<GuestAddress> hotplug_region {};
    // Stops the VM: what the quit key (Ctrl-A x) does on a console port attached to the
    // terminal, whose raw mode leaves no other way out. May be empty.
    std::function<void()> on_console_quit {};
};

// Builds a device from its config entry (entry.params holds its own keys). make_device()
// names the entry in front of the factory's messages.
using DeviceFactory = Result<std::unique_ptr<Device>> (*)(const config::DeviceConfig& entry,
    DeviceResources& resources);
// Checks entry.params without opening anything; null when there is nothing to check.
using DeviceParamsValidator = Result<> (*)(const config::DeviceConfig& entry);
// Bytes of hot-plug memory the entry needs beyond boot RAM (virtio-mem's region), which the
// VMM maps before building the device; null for kinds that need none.
using DeviceHotplugSize = Result<std::uint64_t> (*)(const config::DeviceConfig& entry);

struct DeviceKind {
    std::string_view name; // the config "type"
    DeviceFactory make;
    DeviceParamsValidator validate = nullptr;
    DeviceHotplugSize hotplug_size = nullptr;
};

// Every device kind this build knows, in registry.cpp: no static-initialisation registration.
[[nodiscard]] std::span<const DeviceKind> device_kinds() noexcept;

[[nodiscard]] const DeviceKind* find_device_kind(std::span<const DeviceKind> kinds, std::string_view name) noexcept;

// The kind named entry.type, validated and built; an unknown type's message lists the known
// ones.
[[nodiscard]] Result<std::unique_ptr<Device>> make_device(std::span<const DeviceKind> kinds,
    const config::DeviceConfig& entry, DeviceResources& resources);
[[nodiscard]] Result<std::unique_ptr<Device>> make_device(const config::DeviceConfig& entry,
    DeviceResources& resources);

// For config::validate()'s device hook (which prefixes origin and type to the message): the
// type is known and its params pass the kind's check.
[[nodiscard]] Result<> validate_device(std::span<const DeviceKind> kinds, const config::DeviceConfig& entry);
[[nodiscard]] Result<> validate_device(const config::DeviceConfig& entry);
// The entry's hot-plug memory in bytes, 0 for kinds without; errors name the entry.
[[nodiscard]] Result<std::uint64_t> device_hotplug_size(const config::DeviceConfig& entry);

} // namespace vmm::virtio
