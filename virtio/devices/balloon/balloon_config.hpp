// SPDX-License-Identifier: Apache-2.0
// The "balloon" device kind: its config keys, validator and factory.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "virtio/devices/balloon/balloon.hpp"
#include "virtio/registry.hpp"

namespace vmm::virtio::balloon {

// Keys of a devices entry with "type": "balloon"; the same text, as a table, is in
// configs/README.md ("balloon").
//
//   "size"            the balloon's size when the guest starts: bytes or "512M" (default 0)
//   "deflate_on_oom"  the guest may deflate when it runs out of memory (default false)
//   "stats"           offer the statistics queue (default true)
//   "stats_interval"  seconds between statistics requests, 0 for only on balloon-stats (default 0)
//   "reporting"       free page reporting: the guest's free pages go back to the host (default false)
//   "hinting"         free page hinting rounds started from the API (default false)
//   "poison"          offer PAGE_POISON, which Linux needs for reporting when it poisons (default true)
//
//   {"type": "balloon", "size": "256M", "reporting": true, "stats_interval": 5}
[[nodiscard]] std::span<const std::string_view> balloon_config_keys() noexcept;
[[nodiscard]] Result<BalloonOptions> parse_balloon_config(const config::DeviceConfig& entry);
[[nodiscard]] Result<> validate_balloon(const config::DeviceConfig& entry);
[[nodiscard]] Result<std::unique_ptr<Device>> make_balloon(
    const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio::balloon
