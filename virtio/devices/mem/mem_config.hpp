// SPDX-License-Identifier: Apache-2.0
// The "mem" device kind: its config keys, validator, region size and factory.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "virtio/devices/mem/mem.hpp"
#include "virtio/registry.hpp"

namespace vmm::virtio::mem {

// Keys of a devices entry with "type": "mem"; the same text, as a table, is in
// configs/README.md ("mem").
//
//   "region_size"     the most memory the device can add: bytes or "4G" (required; a multiple
//                     of block_size, at most 1 TiB)
//   "block_size"      what is plugged and unplugged at once: a power of two from 4K to 1G
//                     (default "2M"; at least 2M with huge-page memory)
//   "requested_size"  how much the guest should plug at start (default 0; mem-resize changes it)
//   "node"            the NUMA node (ACPI proximity domain) the memory belongs to (default: none)
//
//   {"type": "mem", "region_size": "4G", "requested_size": "1G"}
inline constexpr std::uint64_t MAX_REGION_SIZE = 1ULL << 40;
inline constexpr std::uint64_t MAX_BLOCK_SIZE = 1ULL << 30;

[[nodiscard]] std::span<const std::string_view> mem_config_keys() noexcept;
[[nodiscard]] Result<MemOptions> parse_mem_config(const config::DeviceConfig& entry);
[[nodiscard]] Result<> validate_mem(const config::DeviceConfig& entry);
// The hot-plug region the device needs: region_size.
[[nodiscard]] Result<std::uint64_t> mem_hotplug_size(const config::DeviceConfig& entry);
[[nodiscard]] Result<std::unique_ptr<Device>> make_mem(const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio::mem
