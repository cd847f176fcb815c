// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/mem/mem_config.hpp"

#include <array>
#include <bit>

#include "virtio/devices/params.hpp"

namespace vmm::virtio::mem {
namespace {

constexpr std::array<std::string_view, 4> MEM_KEYS { "region_size", "block_size", "requested_size", "node" };
constexpr std::uint64_t MIN_BLOCK_SIZE = 4096;

} // namespace

std::span<const std::string_view> mem_config_keys() noexcept
{
    return MEM_KEYS;
}

Result<MemOptions> parse_mem_config(const config::DeviceConfig& entry)
{
    const nlohmann::json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", MEM_KEYS));
    MemOptions o;
    const auto* region = params::find(p, "region_size");
    if (region == nullptr) {
        return fail(Errc::invalid_argument, "\"region_size\" is required: the most memory the device can add, e.g. \"4G\"");
    }
    o.region_size = VMM_TRY(params::as_size(*region, "region_size", UINT64_MAX));
    if (const auto* v = params::find(p, "block_size")) {
        o.block_size = VMM_TRY(params::as_size(*v, "block_size", UINT64_MAX));
    }
    if (const auto* v = params::find(p, "requested_size")) {
        o.requested_size = VMM_TRY(params::as_size(*v, "requested_size", UINT64_MAX));
    }
    if (const auto* v = params::find(p, "node")) {
        o.node = static_cast<std::uint16_t>(VMM_TRY(params::as_uint(*v, "node", 0, UINT16_MAX)));
    }
    if (!std::has_single_bit(o.block_size) || o.block_size < MIN_BLOCK_SIZE || o.block_size > MAX_BLOCK_SIZE) {
        return fail(Errc::invalid_argument, "\"block_size\": {} is not a power of two from 4K to 1G", o.block_size);
    }
    if (o.region_size == 0 || o.region_size % o.block_size != 0 || o.region_size > MAX_REGION_SIZE) {
        return fail(Errc::invalid_argument,
            "\"region_size\": {} bytes is not a non-zero multiple of block_size ({} bytes) of at most 1T",
            o.region_size, o.block_size);
    }
    if (o.requested_size % o.block_size != 0 || o.requested_size > o.region_size) {
        return fail(Errc::invalid_argument,
            "\"requested_size\": {} bytes is not a multiple of block_size ({} bytes) within region_size ({} bytes)",
            o.requested_size, o.block_size, o.region_size);
    }
    return o;
}

Result<> validate_mem(const config::DeviceConfig& entry)
{
    static_cast<void>(VMM_TRY(parse_mem_config(entry)));
    return {};
}

Result<std::uint64_t> mem_hotplug_size(const config::DeviceConfig& entry)
{
    return VMM_TRY(parse_mem_config(entry)).region_size;
}

Result<std::unique_ptr<Device>> make_mem(const config::DeviceConfig& entry, DeviceResources& resources)
{
    const MemOptions o = VMM_TRY(parse_mem_config(entry));
    const MemoryRegion* region = resources.memory != nullptr && resources.hotplug_region
        ? resources.memory->hotplug_region(*resources.hotplug_region)
        : nullptr;
    if (region == nullptr || region->size() != o.region_size) {
        return fail(Errc::unsupported, "virtio-mem needs its hot-plug region, which this VM did not map");
    }
    if (o.block_size % region->page_size() != 0) {
        return fail(Errc::invalid_argument, "\"block_size\": {} bytes is smaller than the memory's {}-byte pages",
            o.block_size, region->page_size());
    }
    return std::unique_ptr<Device>(std::make_unique<MemDevice>(*resources.memory, *region, o));
}

} // namespace vmm::virtio::mem
