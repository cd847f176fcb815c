// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/balloon/balloon_config.hpp"

#include <array>

#include "virtio/devices/params.hpp"

namespace vmm::virtio::balloon {
namespace {

constexpr std::array<std::string_view, 7> KEYS {
    "size", "deflate_on_oom", "stats", "stats_interval", "reporting", "hinting", "poison",
};
// num_pages is 32 bits of 4 KiB pages.
constexpr std::uint64_t MAX_SIZE = std::uint64_t { UINT32_MAX } << VIRTIO_BALLOON_PFN_SHIFT;
constexpr std::uint64_t MAX_STATS_INTERVAL = 24 * 3600;

Result<std::uint64_t> parse_size(const nlohmann::json& v)
{
    const std::uint64_t bytes = VMM_TRY(params::as_size(v, "size", UINT64_MAX));
    if (bytes > MAX_SIZE) {
        return fail(Errc::invalid_argument, "\"size\": {} bytes is more than a balloon holds (16 TiB)", bytes);
    }
    return bytes;
}

} // namespace

std::span<const std::string_view> balloon_config_keys() noexcept
{
    return KEYS;
}

Result<BalloonOptions> parse_balloon_config(const config::DeviceConfig& entry)
{
    const nlohmann::json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", KEYS));
    BalloonOptions o;
    if (const auto* v = params::find(p, "size")) {
        o.target_bytes = VMM_TRY(parse_size(*v));
    }
    const auto flag = [&](std::string_view key, bool& out) -> Result<> {
        if (const auto* v = params::find(p, key)) {
            out = VMM_TRY(params::as_bool(*v, key));
        }
        return {};
    };
    VMM_TRY(flag("deflate_on_oom", o.deflate_on_oom));
    VMM_TRY(flag("stats", o.stats));
    VMM_TRY(flag("reporting", o.reporting));
    VMM_TRY(flag("hinting", o.hinting));
    VMM_TRY(flag("poison", o.poison));
    if (const auto* v = params::find(p, "stats_interval")) {
        o.stats_interval = std::chrono::seconds(VMM_TRY(params::as_uint(*v, "stats_interval", 0, MAX_STATS_INTERVAL)));
        if (o.stats_interval.count() != 0 && !o.stats) {
            return fail(Errc::invalid_argument, "\"stats_interval\" needs the statistics queue: drop \"stats\": false");
        }
    }
    return o;
}

Result<> validate_balloon(const config::DeviceConfig& entry)
{
    static_cast<void>(VMM_TRY(parse_balloon_config(entry)));
    return {};
}

Result<std::unique_ptr<Device>> make_balloon(const config::DeviceConfig& entry, DeviceResources& resources)
{
    const BalloonOptions o = VMM_TRY(parse_balloon_config(entry));
    if (resources.memory == nullptr) {
        return fail(Errc::unsupported, "a balloon needs the guest's memory, which this VM did not hand over");
    }
    if (o.target_bytes > resources.memory->total_size()) {
        return fail(Errc::invalid_argument, "\"size\": {} bytes is more than the guest's {} bytes of RAM",
            o.target_bytes, resources.memory->total_size());
    }
    return std::unique_ptr<Device>(std::make_unique<BalloonDevice>(*resources.memory, o));
}

} // namespace vmm::virtio::balloon
