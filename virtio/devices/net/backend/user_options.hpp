// SPDX-License-Identifier: Apache-2.0
// UserNetOptions: the guest network and the port forwards of the `user` (libslirp) back end.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/base/result.hpp"

namespace vmm::virtio::net {

// An IPv4 address, in host byte order.
struct Ipv4Addr {
    std::uint32_t value = 0;

    [[nodiscard]] static constexpr Ipv4Addr of(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) noexcept
    {
        return { (std::uint32_t { a } << 24U) | (std::uint32_t { b } << 16U) | (std::uint32_t { c } << 8U)
            | std::uint32_t { d } };
    }
    [[nodiscard]] std::string str() const;
    auto operator<=>(const Ipv4Addr&) const noexcept = default;
};

struct Ipv6Addr {
    std::array<std::uint8_t, 16> bytes {};

    [[nodiscard]] std::string str() const;
    bool operator==(const Ipv6Addr&) const noexcept = default;
};

// Dotted quad only ("10.0.2.15"), nothing inet_aton would also take.
[[nodiscard]] std::optional<Ipv4Addr> parse_ipv4(std::string_view text);
[[nodiscard]] std::optional<Ipv6Addr> parse_ipv6(std::string_view text);

// One host-to-guest port forward, in QEMU's hostfwd syntax:
//   tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport
// e.g. "tcp:127.0.0.1:2222-:22" or "udp::5353-:53". An empty protocol means tcp (as in QEMU).
// An empty host address means 127.0.0.1: forwarded ports are reachable from this host only
// unless the rule says 0.0.0.0. An empty guest address means the first DHCP address.
struct Forward {
    enum class Protocol : std::uint8_t { tcp, udp };

    Protocol protocol = Protocol::tcp;
    Ipv4Addr host_addr = Ipv4Addr::of(127, 0, 0, 1);
    std::uint16_t host_port = 0;
    std::optional<Ipv4Addr> guest_addr;
    std::uint16_t guest_port = 0;
    std::string rule; // as written, for messages
};

[[nodiscard]] Result<Forward> parse_forward(std::string_view rule);

// Defaults as QEMU's user mode networking.
struct UserNetOptions {
    Ipv4Addr network = Ipv4Addr::of(10, 0, 2, 0);
    std::uint8_t prefix_len = 24;
    Ipv4Addr host = Ipv4Addr::of(10, 0, 2, 2); // the gateway, and the host itself to the guest
    Ipv4Addr dns = Ipv4Addr::of(10, 0, 2, 3);
    Ipv4Addr dhcp_start = Ipv4Addr::of(10, 0, 2, 15); // the first of 16 DHCP addresses

    bool ipv6 = true;
    Ipv6Addr ipv6_prefix { { 0xfe, 0xc0 } };
    std::uint8_t ipv6_prefix_len = 64;
    Ipv6Addr ipv6_host { { 0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 } };
    Ipv6Addr ipv6_dns { { 0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3 } };

    std::string hostname; // handed out by DHCP (option 12); empty: none
    // The guest reaches nothing beyond the virtual network: no connections out, not even to the
    // host. Forwards still work.
    bool restrict = false;
    std::vector<Forward> forwards;
};

// The most characters of a hostname libslirp keeps.
inline constexpr std::size_t MAX_HOSTNAME = 32;

// Addresses inside the network and consistent with each other, forwards not clashing.
[[nodiscard]] Result<> check(const UserNetOptions& options);

// The guest address a forward goes to.
[[nodiscard]] Ipv4Addr guest_addr(const Forward& forward, const UserNetOptions& options) noexcept;
// "tcp:127.0.0.1:2222-10.0.2.15:22": the rule with every default filled in.
[[nodiscard]] std::string describe(const Forward& forward, const UserNetOptions& options);

} // namespace vmm::virtio::net
