// SPDX-License-Identifier: Apache-2.0
// The "rng" device kind.
#include "virtio/devices/rng/rng_config.hpp"

#include <array>
#include <string_view>

#include "virtio/devices/params.hpp"

namespace vmm::virtio {
namespace {

constexpr std::array<std::string_view, 2> KEYS { "source", "rate_limit" };
constexpr std::array<std::string_view, 2> RATE_LIMIT_KEYS { "bytes_per_second", "burst" };
constexpr std::uint64_t MAX_RATE = std::uint64_t { 1 } << 30;

Result<RngDevice::RateLimit> parse_rate_limit(const nlohmann::json& v)
{
    if (!v.is_object()) {
        return fail(
            Errc::invalid_argument, "rate_limit: expected an object such as {{\"bytes_per_second\": 4096}}");
    }
    VMM_TRY(params::check_keys(v, "rate_limit", RATE_LIMIT_KEYS));
    const auto* rate = params::find(v, "bytes_per_second");
    if (rate == nullptr) {
        return fail(Errc::invalid_argument, "rate_limit.bytes_per_second: required");
    }
    RngDevice::RateLimit limit;
    limit.bytes_per_second = VMM_TRY(params::as_uint(*rate, "rate_limit.bytes_per_second", 1, MAX_RATE));
    limit.burst = limit.bytes_per_second;
    if (const auto* burst = params::find(v, "burst")) {
        limit.burst = VMM_TRY(params::as_uint(*burst, "rate_limit.burst", 1, MAX_RATE));
    }
    return limit;
}

} // namespace

Result<RngParams> parse_rng_params(const config::DeviceConfig& entry)
{
    const nlohmann::json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", KEYS));
    RngParams out;
    if (const auto* source = params::find(p, "source")) {
        const std::string s = VMM_TRY(params::as_nonempty_string(*source, "source"));
        if (s != "getrandom") {
            out.file = entry.base_dir / s;
        }
    }
    if (const auto* limit = params::find(p, "rate_limit")) {
        out.rate_limit = VMM_TRY(parse_rate_limit(*limit));
    }
    return out;
}

Result<> validate_rng(const config::DeviceConfig& entry)
{
    VMM_TRY(parse_rng_params(entry));
    return {};
}

Result<std::unique_ptr<Device>> make_rng(const config::DeviceConfig& entry, DeviceResources& /*resources*/)
{
    const RngParams p = VMM_TRY(parse_rng_params(entry));
    std::unique_ptr<EntropySource> source;
    if (p.file) {
        source = VMM_TRY(open_file_source(*p.file));
    } else {
        source = make_getrandom_source();
    }
    return std::unique_ptr<Device>(std::make_unique<RngDevice>(std::move(source), p.rate_limit));
}

} // namespace vmm::virtio
