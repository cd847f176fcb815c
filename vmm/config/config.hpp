// SPDX-License-Identifier: Apache-2.0
// VM configuration: the types, the JSON reader, sizes and validation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/base/result.hpp"

namespace vmm::config {

inline constexpr std::uint64_t KiB = std::uint64_t { 1 } << 10;
inline constexpr std::uint64_t MiB = std::uint64_t { 1 } << 20;
inline constexpr std::uint64_t GiB = std::uint64_t { 1 } << 30;
inline constexpr std::uint64_t TiB = std::uint64_t { 1 } << 40;

// A Linux x86_64 guest with a small initramfs needs about this much to decompress the kernel
// and reach user space; below it, boots die early with out-of-memory panics that are hard to
// trace back to the setting.
inline constexpr std::uint64_t MIN_MEMORY = 32 * MiB;
// Not a host limit (whether the host can back the memory shows when it is mapped), but a guard
// against unit typos such as "512T" for "512G"; it also keeps address arithmetic far from
// 64-bit overflow.
inline constexpr std::uint64_t MAX_MEMORY = 1 * TiB;
// xAPIC IDs are 8 bits and 0xff is the broadcast ID, so IDs 0..254 name at most 255 CPUs.
inline constexpr std::uint32_t MAX_CPUS = 255;
// Transparent huge pages and hugetlbfs both use 2 MiB pages on x86_64.
inline constexpr std::uint64_t HUGEPAGE_SIZE = 2 * MiB;
// A config file is a few hundred bytes; the cap stops a wrong path (a disk image, /dev/zero)
// from being read into memory.
inline constexpr std::uint64_t MAX_CONFIG_FILE_SIZE = 1 * MiB;

enum class ConsoleMode { stdio, file, socket, off };

struct ConsoleConfig {
    ConsoleMode mode = ConsoleMode::stdio;
    std::filesystem::path path; // file or socket modes only
};

enum class Transport { mmio, pci };

struct DeviceConfig {
    std::string type;
    Transport transport = Transport::pci;
    // Transport-level keys every device has. `packed`: offer VIRTIO_F_RING_PACKED.
    // `notification_data`: offer VIRTIO_F_NOTIFICATION_DATA (unset: on for pci, off for mmio,
    // where it costs an exit per notify). `iommu`: the device's DMA goes through the
    // virtio-iommu.
    bool packed = true;
    std::optional<bool> notification_data;
    bool iommu = false;
    // Faults any device takes (vmm/virtio/fault_plan.hpp), read when the device is built;
    // null when not given.
    nlohmann::json virtio_faults;
    // A name for the API (block-resize, status); default: the origin.
    std::optional<std::string> id;
    // Every other key, for the device's own factory to check.
    nlohmann::json params = nlohmann::json::object();
    // Where the entry came from, for messages: "devices[2]" or "--device #1".
    std::string origin;
    // Relative paths among params resolve against this: the config file's directory, or the
    // current directory for --device.
    std::filesystem::path base_dir;
};

enum class OnReboot { exit, restart };

// How the guest finds virtio-mmio devices: ACPI DSDT entries (LNRO0005), or
// virtio_mmio.device= options the VMM appends to the kernel command line.
enum class MmioDiscovery { acpi, cmdline };

struct VmConfig {
    std::uint32_t cpus = 1;
    std::uint64_t memory = 512 * MiB;
    bool hugepages = false;
    bool memfd = false;
    MmioDiscovery mmio_discovery = MmioDiscovery::acpi;
    std::filesystem::path kernel;
    std::optional<std::filesystem::path> initrd;
    std::string cmdline;
    ConsoleConfig console;
    std::vector<DeviceConfig> devices;
    std::optional<std::filesystem::path> api_socket;
    OnReboot on_reboot = OnReboot::exit;
    std::string log_level = "info";
};

// Checks one device entry's own keys (params). Its message should name the key and how to fix
// it; validate() prefixes the entry's origin and type.
using DeviceValidator = std::function<Result<>(const DeviceConfig&)>;

// Builds a VmConfig from a parsed document. Relative paths resolve against base_dir. Checks
// structure and types only; bounds and files are validate()'s job.
[[nodiscard]] Result<VmConfig> parse_json(const nlohmann::json& doc, const std::filesystem::path& base_dir);

// Reads, parses and converts a config file; every message starts with the file's name.
[[nodiscard]] Result<VmConfig> load_file(const std::filesystem::path& file);

// Bounds, the files the VM will open, and (if given) each device's own keys.
[[nodiscard]] Result<> validate(const VmConfig& cfg, const DeviceValidator& device_validator = {});

// "536870912", "0x20000000", "512M", "512MiB", "512mb", "1G", "2T": binary units, any case.
[[nodiscard]] Result<std::uint64_t> parse_size(std::string_view s);
// An API request's size field: a byte count, or a string parse_size() takes; null when absent.
[[nodiscard]] Result<std::uint64_t> size_value(const nlohmann::json* v, std::string_view what);

[[nodiscard]] std::string_view to_string(ConsoleMode mode) noexcept;
[[nodiscard]] std::string_view to_string(Transport transport) noexcept;
[[nodiscard]] std::string_view to_string(OnReboot on_reboot) noexcept;
[[nodiscard]] std::string_view to_string(MmioDiscovery discovery) noexcept;

} // namespace vmm::config
