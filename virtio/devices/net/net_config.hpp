// SPDX-License-Identifier: Apache-2.0
// The "net" device kind: its config keys, their validation, and the factory.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "virtio/devices/net/backend/fault_backend.hpp"
#include "virtio/devices/net/net_device.hpp"
#include "virtio/registry.hpp"

namespace vmm::virtio::net {

// Keys of a devices entry with "type": "net" (the same, as a table, in configs/README.md):
//
//   "backend"     "user" (the default: user-mode networking, no root needed) or "tap".
//   "tap"         tap: the interface, attached when it exists, created otherwise (needs
//                 CAP_NET_ADMIN). Giving "tap" alone selects the tap backend.
//   "forward"     user: host ports forwarded to the guest, QEMU's hostfwd form
//                 "tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport"; a list, or one string
//                 with rules separated by ';' (the --device form). The host address defaults
//                 to 127.0.0.1.
//   "hostname"    user: the host name DHCP gives the guest.
//   "restrict"    user: true isolates the guest from everything but the forwards.
//   "mac"         "52:54:00:12:34:56"; default: a locally administered address derived from
//                 the entry (stable across runs).
//   "mtu"         68..65517, default 1500.
//   "num_queues"  queue pairs, 1..64; default the vCPU count (MQ offered above 1; a tap gets
//                 one queue per pair).
//   "queue_size"  a power of two, 64..4096, default 256.
//   "speed"       Mbit/s reported to the guest, 0..2147483647; default unknown.
//   "duplex"      "full" or "half"; default unknown.
//   "offloads"    false stops offering checksum and segmentation offloads (default true).
//   "rss"         false stops offering RSS and hash reporting (default true).
struct NetConfig {
    enum class Backend : std::uint8_t { user, tap };
    Backend backend = Backend::user;
    std::string tap;
    std::vector<std::string> forwards;
    std::string hostname;
    bool restrict = false;
    std::optional<std::uint16_t> num_queues; // unset: the vCPU count
    NetOptions options;
    std::vector<NetFault> faults; // injected faults (testing a guest's network stack)
    std::uint64_t fault_seed = 1;
};

[[nodiscard]] std::span<const std::string_view> net_config_keys() noexcept;
// Keys, types and bounds (messages name the key and the fix); nothing is opened.
[[nodiscard]] Result<NetConfig> parse_net_config(const config::DeviceConfig& entry);
[[nodiscard]] Result<> validate_net(const config::DeviceConfig& entry);
// Opens the backend (a tap, or user-mode networking on resources.loop) and builds the device.
[[nodiscard]] Result<std::unique_ptr<Device>> make_net(const config::DeviceConfig& entry, DeviceResources& resources);

// "aa:bb:cc:dd:ee:ff" (either case); not multicast.
[[nodiscard]] Result<MacAddress> parse_mac(std::string_view text);
// A stable, locally administered unicast MAC for an entry: 52:54:00 and three bytes of a hash
// of `seed` (the entry's id or origin).
[[nodiscard]] MacAddress default_mac(std::string_view seed) noexcept;

} // namespace vmm::virtio::net
