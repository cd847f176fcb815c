// SPDX-License-Identifier: Apache-2.0
// The "vsock" device kind: its config keys, their validation, and the factory.
#pragma once

#include <filesystem>
#include <memory>

#include "virtio/devices/vsock/vsock_device.hpp"
#include "virtio/registry.hpp"

namespace vmm::virtio::vsock {

// Keys of a devices entry with "type": "vsock" (the same, as a table, in configs/README.md):
//
//   "cid"              the guest's context ID, 3..2^32-2 (required; §5.10.4: 0, 1, 2 and
//                      2^32-1 are reserved, and the upper 32 bits are zero).
//   "uds_path"         the Unix socket host programs connect to (required). A relative path
//                      resolves against the config file's directory. A guest connection to
//                      host port P goes to "<uds_path>_<P>".
//   "seqpacket"        false stops offering SEQPACKET (default true); with it, host programs
//                      also connect through "<uds_path>_seqpacket" (SOCK_SEQPACKET).
//   "max_connections"  1..65536, default 256.
//   "buffer_size"      bytes per connection and direction the device holds, 4096..64 MiB
//                      (a size such as "1M" or a number), default 256 KiB.
//   "reset_after_pause" milliseconds: a pause of the VM at least this long ends every
//                      connection with TRANSPORT_RESET on resume; 0 (the default) never.
struct VsockConfig {
    std::filesystem::path uds_path;
    VsockOptions options;
};

[[nodiscard]] Result<VsockConfig> parse_vsock_config(const config::DeviceConfig& entry);
[[nodiscard]] Result<> validate_vsock(const config::DeviceConfig& entry);
[[nodiscard]] Result<std::unique_ptr<Device>> make_vsock(const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio::vsock
