// SPDX-License-Identifier: Apache-2.0
// Virtio device type IDs (virtio 1.2 §5 "Device Types", with the 1.3 draft additions).
#pragma once

#include <cstdint>
#include <string_view>

namespace vmm::virtio {

enum class DeviceType : std::uint32_t {
    invalid = 0, // virtio-mmio placeholder: "no device here"
    net = 1,
    block = 2,
    console = 3,
    rng = 4,
    balloon = 5,
    io_memory = 6,
    rpmsg = 7,
    scsi = 8,
    p9 = 9,
    mac80211_wlan = 10,
    rproc_serial = 11,
    caif = 12,
    balloon_new = 13,
    gpu = 16,
    timer = 17,
    input = 18,
    vsock = 19,
    crypto = 20,
    signal_distribution = 21,
    pstore = 22,
    iommu = 23,
    mem = 24,
    sound = 25,
    fs = 26,
    pmem = 27,
    rpmb = 28,
    mac80211_hwsim = 29,
    video_encoder = 30,
    video_decoder = 31,
    scmi = 32,
    nitro_secure_module = 33,
    i2c = 34,
    watchdog = 35,
    can = 36,
    parameter_server = 38,
    audio_policy = 39,
    bluetooth = 40,
    gpio = 41,
    rdma = 42,
    camera = 43, // 1.3 draft
    ism = 44,    // 1.3 draft
    spi = 45,    // 1.3 draft
};

// Short lowercase name for logs ("net", "block", ...), "unknown" for unlisted values.
[[nodiscard]] std::string_view to_string(DeviceType type) noexcept;

} // namespace vmm::virtio
