// SPDX-License-Identifier: Apache-2.0
// The "pmem" device kind: its config keys, their validation, and the factory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "virtio/devices/block/fault_backend.hpp"
#include "virtio/registry.hpp"
#include "vmm/config/config.hpp"

namespace vmm::virtio::pmem {

struct PmemConfig {
    std::filesystem::path path;        // resolved against the entry's base directory
    std::optional<std::uint64_t> size; // create the file, or grow it, to this many bytes
    bool read_only = false;
    std::vector<block::BlockFault> faults; // injected into the flushes (testing drivers)
};

// The largest range a device maps: guest-physical space is plentiful, but a typo such as
// 16T should not reserve it.
inline constexpr std::uint64_t PMEM_MAX_SIZE = std::uint64_t { 1 } << 40;

[[nodiscard]] std::span<const std::string_view> pmem_config_keys() noexcept;
// Block fault rules limited to what a pmem device has: flushes, with no sectors.
[[nodiscard]] Result<std::vector<block::BlockFault>> parse_pmem_faults(const nlohmann::json& v, std::string_view where);
// Keys, types and bounds; no file is opened.
[[nodiscard]] Result<PmemConfig> parse_pmem_config(const config::DeviceConfig& entry);
// parse_pmem_config plus: the file exists (or `size` will create it) and is a regular file.
[[nodiscard]] Result<> validate_pmem(const config::DeviceConfig& entry);
// Creates or grows the file as asked, opens it behind an io_uring on resources.loop (for the
// flushes), maps it and builds the device.
[[nodiscard]] Result<std::unique_ptr<Device>> make_pmem(const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio::pmem
