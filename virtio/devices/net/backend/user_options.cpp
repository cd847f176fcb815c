// SPDX-License-Identifier: Apache-2.0
// UserNetOptions: address parsing, the hostfwd rule parser, and the consistency checks.
#include "virtio/devices/net/backend/user_options.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace vmm::virtio::net {
namespace {

// The DHCP server of libslirp hands out this many addresses from dhcp_start on.
constexpr std::uint32_t DHCP_ADDRESSES = 16;

const char* protocol_name(Forward::Protocol p) noexcept
{
    return p == Forward::Protocol::udp ? "udp" : "tcp";
}

std::optional<std::uint16_t> parse_port(std::string_view text)
{
    unsigned value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < 1 || value > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

struct Side {
    std::optional<Ipv4Addr> addr;
    std::uint16_t port = 0;
};

// "[address]:port", one side of a rule; `which` is "host" or "guest".
Result<Side> parse_side(std::string_view rule, std::string_view which, std::string_view text)
{
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return fail(Errc::invalid_argument, "port forward \"{}\": the {} side \"{}\" is not [address]:port", rule,
            which, text);
    }
    Side side;
    const auto addr = text.substr(0, colon);
    if (!addr.empty()) {
        side.addr = parse_ipv4(addr);
        if (!side.addr) {
            return fail(Errc::invalid_argument,
                "port forward \"{}\": bad {} address \"{}\" (an IPv4 address such as {})", rule, which, addr,
                which == "host" ? "127.0.0.1" : "10.0.2.15");
        }
    }
    const auto port = text.substr(colon + 1);
    if (port.empty()) {
        return fail(Errc::invalid_argument, "port forward \"{}\": the {} port is missing", rule, which);
    }
    const auto value = parse_port(port);
    if (!value) {
        return fail(Errc::out_of_range, "port forward \"{}\": {} port \"{}\" is not a number in 1..65535", rule, which,
            port);
    }
    side.port = *value;
    return side;
}

std::uint32_t mask_of(std::uint8_t prefix_len) noexcept
{
    return prefix_len == 0 ? 0 : ~std::uint32_t { 0 } << (32U - prefix_len);
}

bool in_prefix(const Ipv6Addr& addr, const Ipv6Addr& prefix, unsigned prefix_len) noexcept
{
    for (unsigned bit = 0; bit < prefix_len; ++bit) {
        const unsigned shift = 7U - bit % 8U;
        const unsigned a = addr.bytes[bit / 8U];
        const unsigned p = prefix.bytes[bit / 8U];
        if (((a >> shift) & 1U) != ((p >> shift) & 1U)) {
            return false;
        }
    }
    return true;
}

} // namespace

std::string Ipv4Addr::str() const
{
    return fmt::format("{}.{}.{}.{}", value >> 24U, (value >> 16U) & 0xffU, (value >> 8U) & 0xffU, value & 0xffU);
}

std::string Ipv6Addr::str() const
{
    std::array<char, INET6_ADDRSTRLEN> text {};
    if (::inet_ntop(AF_INET6, bytes.data(), text.data(), static_cast<socklen_t>(text.size())) == nullptr) {
        return "?";
    }
    return text.data();
}

std::optional<Ipv4Addr> parse_ipv4(std::string_view text)
{
    const std::string copy(text); // inet_pton wants a terminated string
    in_addr addr {};
    if (text.find('\0') != std::string_view::npos || ::inet_pton(AF_INET, copy.c_str(), &addr) != 1) {
        return std::nullopt;
    }
    return Ipv4Addr { ntohl(addr.s_addr) };
}

std::optional<Ipv6Addr> parse_ipv6(std::string_view text)
{
    const std::string copy(text);
    Ipv6Addr addr;
    if (text.find('\0') != std::string_view::npos || ::inet_pton(AF_INET6, copy.c_str(), addr.bytes.data()) != 1) {
        return std::nullopt;
    }
    return addr;
}

Result<Forward> parse_forward(std::string_view rule)
{
    Forward f;
    f.rule = std::string(rule);
    const auto colon = rule.find(':');
    if (colon == std::string_view::npos) {
        return fail(Errc::invalid_argument,
            "port forward \"{}\": expected tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport", rule);
    }
    const auto protocol = rule.substr(0, colon);
    if (protocol.empty() || protocol == "tcp") {
        f.protocol = Forward::Protocol::tcp;
    } else if (protocol == "udp") {
        f.protocol = Forward::Protocol::udp;
    } else {
        return fail(Errc::invalid_argument, "port forward \"{}\": bad protocol \"{}\" (tcp or udp)", rule, protocol);
    }
    const auto rest = rule.substr(colon + 1);
    const auto dash = rest.find('-');
    if (dash == std::string_view::npos) {
        return fail(Errc::invalid_argument,
            "port forward \"{}\": missing '-' between the host side and the guest side "
            "(tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport)",
            rule);
    }
    const Side host = VMM_TRY(parse_side(rule, "host", rest.substr(0, dash)));
    const Side guest = VMM_TRY(parse_side(rule, "guest", rest.substr(dash + 1)));
    // The host's loopback only, unless the rule asks for more: a forwarded guest port must not
    // appear on every interface of the host by default.
    f.host_addr = host.addr.value_or(Ipv4Addr::of(127, 0, 0, 1));
    f.host_port = host.port;
    f.guest_addr = guest.addr;
    f.guest_port = guest.port;
    return f;
}

Ipv4Addr guest_addr(const Forward& forward, const UserNetOptions& options) noexcept
{
    return forward.guest_addr.value_or(options.dhcp_start);
}

std::string describe(const Forward& forward, const UserNetOptions& options)
{
    return fmt::format("{}:{}:{}-{}:{}", protocol_name(forward.protocol), forward.host_addr.str(), forward.host_port,
        guest_addr(forward, options).str(), forward.guest_port);
}

Result<> check(const UserNetOptions& o)
{
    if (o.prefix_len < 1 || o.prefix_len > 30) {
        return fail(Errc::out_of_range, "user network: prefix length {} is not in 1..30", o.prefix_len);
    }
    const std::uint32_t mask = mask_of(o.prefix_len);
    const std::uint32_t broadcast = o.network.value | ~mask;
    if ((o.network.value & ~mask) != 0) {
        return fail(Errc::invalid_argument, "user network {}/{} has bits set past the prefix (did you mean {}/{}?)",
            o.network.str(), o.prefix_len, Ipv4Addr { o.network.value & mask }.str(), o.prefix_len);
    }
    const auto inside = [&](Ipv4Addr a) {
        return (a.value & mask) == o.network.value && a.value != o.network.value && a.value != broadcast;
    };
    const std::string net = fmt::format("{}/{}", o.network.str(), o.prefix_len);
    for (const auto& [what, addr] : { std::pair { "host", o.host }, std::pair { "DNS", o.dns },
             std::pair { "first DHCP", o.dhcp_start } }) {
        if (!inside(addr)) {
            return fail(Errc::invalid_argument, "user network: the {} address {} is not a host address of {}", what,
                addr.str(), net);
        }
    }
    if (o.host == o.dns) {
        return fail(Errc::invalid_argument, "user network: the host and the DNS address are both {}", o.host.str());
    }
    for (const auto& [what, addr] : { std::pair { "host", o.host }, std::pair { "DNS", o.dns } }) {
        if (addr.value >= o.dhcp_start.value && addr.value - o.dhcp_start.value < DHCP_ADDRESSES) {
            return fail(Errc::invalid_argument,
                "user network: the {} address {} is among the {} DHCP addresses from {} on", what, addr.str(),
                DHCP_ADDRESSES, o.dhcp_start.str());
        }
    }
    if (o.ipv6) {
        if (o.ipv6_prefix_len < 1 || o.ipv6_prefix_len > 126) {
            return fail(Errc::out_of_range, "user network: IPv6 prefix length {} is not in 1..126", o.ipv6_prefix_len);
        }
        if (!in_prefix(o.ipv6_host, o.ipv6_prefix, o.ipv6_prefix_len)
            || !in_prefix(o.ipv6_dns, o.ipv6_prefix, o.ipv6_prefix_len)) {
            return fail(Errc::invalid_argument, "user network: the IPv6 host {} and DNS {} must be inside {}/{}",
                o.ipv6_host.str(), o.ipv6_dns.str(), o.ipv6_prefix.str(), o.ipv6_prefix_len);
        }
    }
    if (o.hostname.size() > MAX_HOSTNAME) {
        return fail(Errc::invalid_argument, "user network: hostname \"{}\" is longer than {} characters", o.hostname,
            MAX_HOSTNAME);
    }
    for (std::size_t i = 0; i < o.forwards.size(); ++i) {
        const Forward& f = o.forwards[i];
        if (f.guest_addr && !inside(*f.guest_addr)) {
            return fail(Errc::invalid_argument, "port forward \"{}\": the guest address {} is not inside {}", f.rule,
                f.guest_addr->str(), net);
        }
        for (std::size_t j = 0; j < i; ++j) {
            const Forward& g = o.forwards[j];
            if (g.protocol == f.protocol && g.host_port == f.host_port && g.host_addr == f.host_addr) {
                return fail(Errc::invalid_argument, "port forwards \"{}\" and \"{}\" both listen on {} {}:{}", g.rule,
                    f.rule, protocol_name(f.protocol), f.host_addr.str(), f.host_port);
            }
        }
    }
    return {};
}

} // namespace vmm::virtio::net
