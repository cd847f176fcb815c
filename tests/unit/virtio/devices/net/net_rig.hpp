// SPDX-License-Identifier: Apache-2.0
// NetRig: a NetDevice over a scripted backend, driven through DeviceRig's rings.
#pragma once

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "tests/support/fake_net_backend.hpp"
#include "tests/unit/virtio/devices/device_rig.hpp"
#include "virtio/devices/net/net_device.hpp"

namespace vmm::virtio::test {

// Shorthands the net device tests share: a feature's bit, the rig's MAC and another one.
constexpr std::uint64_t f(unsigned b)
{
    return feature_bit(b);
}

inline constexpr net::MacAddress OUR_MAC { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
inline constexpr net::MacAddress OTHER_MAC { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

using net::NetDevice;
using net::NetOptions;
using net::Offloads;

// A NetDevice with its fake backend and rings. Queue k of pair p: rx 2p, tx 2p + 1, ctrl last.
template <class Driver>
struct NetRig {
    // Before the constructor: clang wants a default argument's function declared first.
    static NetOptions options(std::uint16_t pairs = 1)
    {
        NetOptions o;
        o.mac = OUR_MAC;
        o.queue_pairs = pairs;
        return o;
    }

    explicit NetRig(NetOptions o = options(), std::size_t backend_queues = 1, bool vnet_hdr = false,
        Offloads offloads = {})
        : backend_owner(std::make_unique<FakeNetBackend>(backend_queues, vnet_hdr, offloads))
        , backend(backend_owner.get())
        , device(std::move(backend_owner), o)
        , rig(device)
    {
    }

    [[nodiscard]] std::uint16_t ctrl_index() const
    {
        return static_cast<std::uint16_t>(device.queue_max_sizes().size() - 1);
    }

    std::unique_ptr<FakeNetBackend> backend_owner;
    FakeNetBackend* backend;
    NetDevice device;
    DeviceRig<Driver> rig;
};

// Frame builders: an Ethernet frame to `dst` carrying IPv4/UDP with `payload` bytes.
inline std::vector<std::uint8_t> udp_frame(const net::MacAddress& dst, std::size_t payload, std::uint16_t sport = 1000,
    std::uint16_t dport = 2000, std::array<std::uint8_t, 4> src_ip = { 10, 0, 0, 1 },
    std::array<std::uint8_t, 4> dst_ip = { 10, 0, 0, 2 })
{
    std::vector<std::uint8_t> f(14 + 20 + 8 + payload);
    std::memcpy(f.data(), dst.data(), 6);
    const std::uint8_t src[6] = { 0x02, 0, 0, 0, 0, 1 };
    std::memcpy(f.data() + 6, src, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    std::uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;
    const auto total = static_cast<std::uint16_t>(20 + 8 + payload);
    ip[2] = static_cast<std::uint8_t>(total >> 8);
    ip[3] = static_cast<std::uint8_t>(total);
    ip[8] = 64;
    ip[9] = 17;
    std::memcpy(ip + 12, src_ip.data(), 4);
    std::memcpy(ip + 16, dst_ip.data(), 4);
    std::uint8_t* udp = ip + 20;
    udp[0] = static_cast<std::uint8_t>(sport >> 8);
    udp[1] = static_cast<std::uint8_t>(sport);
    udp[2] = static_cast<std::uint8_t>(dport >> 8);
    udp[3] = static_cast<std::uint8_t>(dport);
    const auto ulen = static_cast<std::uint16_t>(8 + payload);
    udp[4] = static_cast<std::uint8_t>(ulen >> 8);
    udp[5] = static_cast<std::uint8_t>(ulen);
    for (std::size_t i = 0; i < payload; ++i) {
        udp[8 + i] = static_cast<std::uint8_t>(i * 7 + 3);
    }
    return f;
}

inline std::vector<std::byte> as_bytes_vec(const std::vector<std::uint8_t>& v)
{
    std::vector<std::byte> out(v.size());
    std::memcpy(out.data(), v.data(), v.size());
    return out;
}

inline std::vector<std::uint8_t> as_u8(const std::vector<std::byte>& v)
{
    std::vector<std::uint8_t> out(v.size());
    std::memcpy(out.data(), v.data(), v.size());
    return out;
}

} // namespace vmm::virtio::test
