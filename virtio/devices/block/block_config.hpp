// SPDX-License-Identifier: Apache-2.0
// The "block" device kind: its config keys, their validation, and the factory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "virtio/devices/block/block_device.hpp"
#include "virtio/devices/block/fault_backend.hpp"
#include "virtio/registry.hpp"
#include "vmm/config/config.hpp"

namespace vmm::virtio::block {

struct BlockConfig {
    std::filesystem::path path; // resolved against the entry's base directory
    std::string id;             // for the API (block-resize); empty: the entry's origin names it
    BlockOptions options;
    std::vector<BlockFault> faults; // injected faults (testing drivers' error paths)
};

// Every key of a block entry, for messages and the docs' cross-check.
[[nodiscard]] std::span<const std::string_view> block_config_keys() noexcept;

// Keys, types and bounds (messages name the key and the fix); no file is opened.
[[nodiscard]] Result<BlockConfig> parse_block_config(const config::DeviceConfig& entry);
// parse_block_config plus: the image exists and is a regular file or a block device.
[[nodiscard]] Result<> validate_block(const config::DeviceConfig& entry);
// Opens the image behind an io_uring on resources.loop and builds the device.
[[nodiscard]] Result<std::unique_ptr<Device>> make_block(const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio::block
