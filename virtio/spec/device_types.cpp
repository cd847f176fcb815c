// SPDX-License-Identifier: Apache-2.0
// Names of virtio device types, for logs.
#include "virtio/spec/device_types.hpp"

namespace vmm::virtio {

std::string_view to_string(DeviceType type) noexcept
{
    switch (type) {
    case DeviceType::invalid:
        return "invalid";
    case DeviceType::net:
        return "net";
    case DeviceType::block:
        return "block";
    case DeviceType::console:
        return "console";
    case DeviceType::rng:
        return "rng";
    case DeviceType::balloon:
        return "balloon";
    case DeviceType::io_memory:
        return "io-memory";
    case DeviceType::rpmsg:
        return "rpmsg";
    case DeviceType::scsi:
        return "scsi";
    case DeviceType::p9:
        return "9p";
    case DeviceType::mac80211_wlan:
        return "mac80211-wlan";
    case DeviceType::rproc_serial:
        return "rproc-serial";
    case DeviceType::caif:
        return "caif";
    case DeviceType::balloon_new:
        return "balloon-new";
    case DeviceType::gpu:
        return "gpu";
    case DeviceType::timer:
        return "timer";
    case DeviceType::input:
        return "input";
    case DeviceType::vsock:
        return "vsock";
    case DeviceType::crypto:
        return "crypto";
    case DeviceType::signal_distribution:
        return "signal-distribution";
    case DeviceType::pstore:
        return "pstore";
    case DeviceType::iommu:
        return "iommu";
    case DeviceType::mem:
        return "mem";
    case DeviceType::sound:
        return "sound";
    case DeviceType::fs:
        return "fs";
    case DeviceType::pmem:
        return "pmem";
    case DeviceType::rpmb:
        return "rpmb";
    case DeviceType::mac80211_hwsim:
        return "mac80211-hwsim";
    case DeviceType::video_encoder:
        return "video-encoder";
    case DeviceType::video_decoder:
        return "video-decoder";
    case DeviceType::scmi:
        return "scmi";
    case DeviceType::nitro_secure_module:
        return "nitro-secure-module";
    case DeviceType::i2c:
        return "i2c";
    case DeviceType::watchdog:
        return "watchdog";
    case DeviceType::can:
        return "can";
    case DeviceType::parameter_server:
        return "parameter-server";
    case DeviceType::audio_policy:
        return "audio-policy";
    case DeviceType::bluetooth:
        return "bluetooth";
    case DeviceType::gpio:
        return "gpio";
    case DeviceType::rdma:
        return "rdma";
    case DeviceType::camera:
        return "camera";
    case DeviceType::ism:
        return "ism";
    case DeviceType::spi:
        return "spi";
    }
    return "unknown";
}

} // namespace vmm::virtio
