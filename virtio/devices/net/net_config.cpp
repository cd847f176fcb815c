// SPDX-License-Identifier: Apache-2.0
// The "net" device kind.
#include "virtio/devices/net/net_config.hpp"

#include <array>
#include <bit>
#include <charconv>
#include <string_view>

#include "virtio/devices/net/backend/slirp_backend.hpp"
#include "virtio/devices/net/backend/tap_backend.hpp"
#include "virtio/devices/net/backend/user_options.hpp"
#include "virtio/devices/params.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::net {
namespace {

constexpr std::array<std::string_view, 15> KEYS { "backend", "tap", "forward", "hostname", "restrict", "mac", "mtu",
    "num_queues", "queue_size", "speed", "duplex", "offloads", "rss", "faults", "fault_seed" };
constexpr std::array<std::string_view, 2> BACKENDS { "user", "tap" };
constexpr std::array<std::string_view, 2> DUPLEX { "half", "full" };

Result<std::vector<std::string>> parse_forwards(const nlohmann::json& v)
{
    std::vector<std::string> out;
    auto add_all = [&out](std::string_view text, std::string_view where) -> Result<> {
        // The --device form: several rules in one string, separated by ';'.
        std::size_t pos = 0;
        while (pos <= text.size()) {
            const std::size_t end = std::min(text.find(';', pos), text.size());
            const std::string_view rule = text.substr(pos, end - pos);
            pos = end + 1;
            if (rule.empty()) {
                continue;
            }
            if (auto r = parse_forward(rule); !r) {
                return fail(Errc::invalid_argument, "{}: {}", where, r.error().describe());
            }
            out.emplace_back(rule);
        }
        return {};
    };
    if (v.is_string()) {
        VMM_TRY(add_all(v.get<std::string>(), "forward"));
    } else if (v.is_array()) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            const std::string where = fmt::format("forward[{}]", i);
            if (!v[i].is_string()) {
                return fail(Errc::invalid_argument, "{}: expected a rule such as \"tcp:127.0.0.1:2222-:22\"", where);
            }
            VMM_TRY(add_all(v[i].get<std::string>(), where));
        }
    } else {
        return fail(Errc::invalid_argument,
            "forward: expected a rule such as \"tcp:127.0.0.1:2222-:22\" or a list of them");
    }
    return out;
}

} // namespace

std::span<const std::string_view> net_config_keys() noexcept
{
    return KEYS;
}

Result<MacAddress> parse_mac(std::string_view text)
{
    MacAddress mac {};
    auto bad = [&] {
        return fail(Errc::invalid_argument, "\"{}\" is not a MAC address such as \"52:54:00:12:34:56\"", text);
    };
    if (text.size() != 17) {
        return bad();
    }
    for (std::size_t i = 0; i < 6; ++i) {
        const std::string_view part = text.substr(i * 3, 2);
        if (i < 5 && text[i * 3 + 2] != ':') {
            return bad();
        }
        unsigned v = 0;
        const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v, 16);
        if (ec != std::errc {} || end != part.data() + part.size()) {
            return bad();
        }
        mac[i] = static_cast<std::uint8_t>(v);
    }
    if ((mac[0] & 1U) != 0) {
        return fail(Errc::invalid_argument, "\"{}\" is a multicast address; a NIC needs a unicast one (even first byte)",
            text);
    }
    return mac;
}

MacAddress default_mac(std::string_view seed) noexcept
{
    // FNV-1a: stable across runs and builds, which std::hash is not.
    std::uint32_t h = 2166136261U;
    for (char c : seed) {
        h = (h ^ static_cast<std::uint8_t>(c)) * 16777619U;
    }
    return MacAddress { 0x52, 0x54, 0x00, static_cast<std::uint8_t>(h >> 16), static_cast<std::uint8_t>(h >> 8),
        static_cast<std::uint8_t>(h) };
}

Result<NetConfig> parse_net_config(const config::DeviceConfig& entry)
{
    const nlohmann::json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", KEYS));
    NetConfig out;
    const auto* backend = params::find(p, "backend");
    const auto* tap = params::find(p, "tap");
    if (backend != nullptr) {
        out.backend = VMM_TRY(params::as_choice(*backend, "backend", BACKENDS)) == 0 ? NetConfig::Backend::user
                                                                                      : NetConfig::Backend::tap;
    } else if (tap != nullptr) {
        out.backend = NetConfig::Backend::tap;
    }
    if (out.backend == NetConfig::Backend::tap) {
        if (tap == nullptr) {
            return fail(Errc::invalid_argument, "tap: required with \"backend\": \"tap\" (the interface, e.g. \"vireo0\")");
        }
        out.tap = VMM_TRY(params::as_nonempty_string(*tap, "tap"));
        if (out.tap.size() > 15) {
            return fail(Errc::invalid_argument, "tap: \"{}\" is longer than an interface name may be (15 characters)",
                out.tap);
        }
        for (std::string_view user_only : { "forward", "hostname", "restrict" }) {
            if (params::find(p, user_only) != nullptr) {
                return fail(Errc::invalid_argument, "{}: only for \"backend\": \"user\"; a tap is configured on the host",
                    user_only);
            }
        }
    } else {
        if (tap != nullptr) {
            return fail(Errc::invalid_argument, "tap: only for \"backend\": \"tap\"");
        }
        if (const auto* fwd = params::find(p, "forward")) {
            out.forwards = VMM_TRY(parse_forwards(*fwd));
        }
        if (const auto* h = params::find(p, "hostname")) {
            out.hostname = VMM_TRY(params::as_nonempty_string(*h, "hostname"));
        }
        if (const auto* r = params::find(p, "restrict")) {
            out.restrict = VMM_TRY(params::as_bool(*r, "restrict"));
        }
    }
    NetOptions& o = out.options;
    if (const auto* mac = params::find(p, "mac")) {
        const std::string text = VMM_TRY(params::as_nonempty_string(*mac, "mac"));
        auto parsed = parse_mac(text);
        if (!parsed) {
            return fail(Errc::invalid_argument, "mac: {}", parsed.error().describe());
        }
        o.mac = *parsed;
    } else {
        o.mac = default_mac(entry.id ? *entry.id : entry.origin);
    }
    if (const auto* mtu = params::find(p, "mtu")) {
        o.mtu = static_cast<std::uint16_t>(VMM_TRY(params::as_uint(*mtu, "mtu", NetOptions::MIN_MTU, NetOptions::MAX_MTU)));
    }
    if (const auto* f = params::find(p, "faults")) {
        out.faults = VMM_TRY(parse_net_faults(*f, "faults"));
    }
    if (const auto* seed = params::find(p, "fault_seed")) {
        out.fault_seed = VMM_TRY(params::as_uint(*seed, "fault_seed", 0, UINT64_MAX));
    }
    if (const auto* n = params::find(p, "num_queues")) {
        out.num_queues = static_cast<std::uint16_t>(VMM_TRY(params::as_uint(*n, "num_queues", 1, NetOptions::MAX_QUEUE_PAIRS)));
    }
    if (const auto* qs = params::find(p, "queue_size")) {
        const auto size = VMM_TRY(params::as_uint(*qs, "queue_size", 64, NetOptions::MAX_QUEUE_SIZE));
        if (!std::has_single_bit(size)) {
            return fail(Errc::invalid_argument, "queue_size: {} is not a power of two (64, 128, ..., 4096)", size);
        }
        o.queue_size = static_cast<std::uint16_t>(size);
    }
    if (const auto* s = params::find(p, "speed")) {
        o.speed = static_cast<std::uint32_t>(VMM_TRY(params::as_uint(*s, "speed", 0, 0x7fffffff)));
    }
    if (const auto* d = params::find(p, "duplex")) {
        o.duplex = VMM_TRY(params::as_choice(*d, "duplex", DUPLEX)) == 0 ? VIRTIO_NET_DUPLEX_HALF : VIRTIO_NET_DUPLEX_FULL;
    }
    if (const auto* off = params::find(p, "offloads")) {
        o.offloads = VMM_TRY(params::as_bool(*off, "offloads"));
    }
    if (const auto* rss = params::find(p, "rss")) {
        o.rss = VMM_TRY(params::as_bool(*rss, "rss"));
    }
    return out;
}

Result<> validate_net(const config::DeviceConfig& entry)
{
    VMM_TRY(parse_net_config(entry));
    return {};
}

Result<std::unique_ptr<Device>> make_net(const config::DeviceConfig& entry, DeviceResources& resources)
{
    NetConfig cfg = VMM_TRY(parse_net_config(entry));
    if (resources.loop == nullptr) {
        return fail(Errc::invalid_argument, "a net device needs the event loop");
    }
    cfg.options.queue_pairs = cfg.num_queues ? *cfg.num_queues
                                             : static_cast<std::uint16_t>(std::clamp<std::uint32_t>(resources.cpus, 1,
                                                 NetOptions::MAX_QUEUE_PAIRS));
    std::unique_ptr<NetBackend> backend;
    if (cfg.backend == NetConfig::Backend::tap) {
        backend = VMM_TRY(TapBackend::create(resources.loop->io(), TapOptions { cfg.tap, cfg.options.queue_pairs }));
    } else {
        UserNetOptions user;
        user.hostname = cfg.hostname;
        user.restrict = cfg.restrict;
        for (const auto& rule : cfg.forwards) {
            user.forwards.push_back(VMM_TRY(parse_forward(rule)));
        }
        backend = VMM_TRY(SlirpBackend::create(resources.loop->io(), user, cfg.options.mac));
    }
    // Every net device can take faults from the API at run time; without rules the wrapper
    // only passes frames on.
    auto faulty = std::make_unique<FaultNetBackend>(std::move(backend), resources.loop, cfg.fault_seed);
    VMM_TRY(faulty->set_faults(cfg.faults, cfg.fault_seed));
    return std::unique_ptr<Device>(std::make_unique<NetDevice>(std::move(faulty), cfg.options));
}

} // namespace vmm::virtio::net
