// SPDX-License-Identifier: Apache-2.0
// The "rng" device kind: its config keys, validator and factory.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "virtio/devices/rng/rng.hpp"
#include "virtio/registry.hpp"

namespace vmm::virtio {

// Keys of a devices entry with "type": "rng" (besides "type" and "transport"); the same
// text, as a table, is in configs/README.md ("rng").
//
//   "source"      "getrandom" (the default): getrandom(2), the host kernel's CSPRNG.
//                 Anything else is a path to read from: a character device such as
//                 "/dev/hwrng", a FIFO, or a regular file, which is read once (see
//                 open_file_source). A relative path resolves against the config file's
//                 directory; write "./getrandom" for a file of that name.
//   "rate_limit"  {"bytes_per_second": N, "burst": M}: at most N bytes a second on
//                 average, M at once (default M = N). 1 <= N <= 2^30, 1 <= M <= 2^30.
//
//   {"type": "rng", "source": "/dev/hwrng", "rate_limit": {"bytes_per_second": 4096}}
struct RngParams {
    std::optional<std::filesystem::path> file; // empty: getrandom
    std::optional<RngDevice::RateLimit> rate_limit;
};

[[nodiscard]] Result<RngParams> parse_rng_params(const config::DeviceConfig& entry);
[[nodiscard]] Result<> validate_rng(const config::DeviceConfig& entry);
[[nodiscard]] Result<std::unique_ptr<Device>> make_rng(
    const config::DeviceConfig& entry, DeviceResources& resources);

} // namespace vmm::virtio
