// SPDX-License-Identifier: Apache-2.0
// The "scsi" device kind: its config keys, their validation, and the factory.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "virtio/devices/scsi/scsi_controller.hpp"
#include "virtio/registry.hpp"
#include "vmm/config/config.hpp"

namespace vmm::virtio::scsi {

struct LunConfig {
    std::filesystem::path path; // resolved against the entry's base directory
    LunAddress at;
    ScsiDiskOptions disk;
};

struct ScsiConfig {
    ControllerOptions controller;
    std::vector<LunConfig> luns;
};

[[nodiscard]] std::span<const std::string_view> scsi_config_keys() noexcept;
[[nodiscard]] std::span<const std::string_view> scsi_lun_keys() noexcept;
// Keys, types and bounds; no file is opened.
[[nodiscard]] Result<ScsiConfig> parse_scsi_config(const config::DeviceConfig& entry);
// One LUN object (a "luns" element, or the API's scsi-add request), `where` prefixing messages.
[[nodiscard]] Result<LunConfig> parse_lun(
    const nlohmann::json& v, std::string_view where, const std::filesystem::path& base_dir);
// parse_scsi_config plus: every image exists and is a regular file or a block device.
[[nodiscard]] Result<> validate_scsi(const config::DeviceConfig& entry);
// Opens one unit's image behind an io_uring on `loop`.
[[nodiscard]] Result<std::unique_ptr<ScsiDisk>> open_lun(const LunConfig& lun, EventLoop* loop);
[[nodiscard]] Result<std::unique_ptr<Device>> make_scsi(const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio::scsi
