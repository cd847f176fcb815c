// SPDX-License-Identifier: Apache-2.0
// The "console" device kind: its config keys, validator and factory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "virtio/registry.hpp"
#include "vmm/console/console.hpp"

namespace vmm::virtio {

// Keys of a devices entry with "type": "console" (besides "type" and "transport"); the same
// text, as a table, is in configs/README.md ("console").
//
//   "ports"            An array of 1 to 16 ports, port 0 first. Each is an object:
//     "backend"          required: "stdio", "file", "socket", "pty" or "none" (see
//                        vmm::ConsoleSpec; "none" is the "off" console: output
//                        discarded, no input, and the host side reads as closed)
//     "path"             required for "file" and "socket", refused for the others;
//                        relative to the config file's directory; a socket path is at
//                        most 107 bytes once resolved
//     "name"             the port's name, shown to the guest in
//                        /sys/class/virtio-ports/vportNpM/name (and, with udev, as
//                        /dev/virtio-ports/NAME): 1 to 255 printable ASCII characters,
//                        without spaces or "/"; names are unique
//   "backend", "path", "name"
//                      A one-port device without "ports": the keys of port 0.
//                      Without either, port 0 is {"backend": "stdio"}.
//   "console_port"     Port 0 is a console port, hvc0 in the guest (default true).
//   "cols", "rows"     Port 0's size, 1 to 65535 (default 80 and 25).
//   "emergency_write"  Offer the emergency-write register (default true).
//
// At most one port may use "stdio" (there is one terminal), and no two ports may share a
// file or socket path.
//
//   {"type": "console", "ports": [{"backend": "stdio"},
//       {"name": "org.vireo.agent", "backend": "socket", "path": "agent.sock"}]}
struct ConsolePortParams {
    std::string name;
    ConsoleSpec::Mode mode = ConsoleSpec::Mode::stdio;
    std::filesystem::path path;
};

struct ConsoleParams {
    std::vector<ConsolePortParams> ports;
    bool console_port = true;
    std::uint16_t cols = 80;
    std::uint16_t rows = 25;
    bool emergency_write = true;
};

[[nodiscard]] Result<ConsoleParams> parse_console_params(const config::DeviceConfig& entry);
[[nodiscard]] Result<> validate_console(const config::DeviceConfig& entry);
// Needs resources.loop for the backends.
[[nodiscard]] Result<std::unique_ptr<Device>> make_console(
    const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio
