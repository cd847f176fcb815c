// SPDX-License-Identifier: Apache-2.0
// Test frames built byte by byte, and a textbook Internet checksum to check the library against.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

namespace net_test {

using Bytes = std::vector<std::uint8_t>;
using Mac = std::array<std::uint8_t, 6>;
using Ip4 = std::array<std::uint8_t, 4>;
using Ip6 = std::array<std::uint8_t, 16>;

inline constexpr Mac MAC_A { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
inline constexpr Mac MAC_B { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
inline constexpr Mac MAC_BROADCAST { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

// Appends fields: big-endian (network order) unless named le.
class Builder {
public:
    Builder& u8(std::uint8_t v)
    {
        b_.push_back(v);
        return *this;
    }
    Builder& u16(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v)); }
    Builder& u32(std::uint32_t v) { return u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v)); }
    Builder& le16(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v)).u8(static_cast<std::uint8_t>(v >> 8)); }
    Builder& le32(std::uint32_t v) { return le16(static_cast<std::uint16_t>(v)).le16(static_cast<std::uint16_t>(v >> 16)); }
    Builder& bytes(std::span<const std::uint8_t> v)
    {
        b_.insert(b_.end(), v.begin(), v.end());
        return *this;
    }
    Builder& bytes(std::initializer_list<std::uint8_t> v)
    {
        b_.insert(b_.end(), v.begin(), v.end());
        return *this;
    }
    Builder& zeros(std::size_t n)
    {
        b_.insert(b_.end(), n, 0);
        return *this;
    }
    [[nodiscard]] std::size_t size() const { return b_.size(); }
    [[nodiscard]] Bytes done() const { return b_; }

private:
    Bytes b_;
};

inline std::uint16_t get16(std::span<const std::uint8_t> b, std::size_t off)
{
    return static_cast<std::uint16_t>((b[off] << 8) | b[off + 1]);
}

inline std::uint32_t get32(std::span<const std::uint8_t> b, std::size_t off)
{
    return (std::uint32_t { get16(b, off) } << 16) | get16(b, off + 2);
}

inline void put16(Bytes& b, std::size_t off, std::uint16_t v)
{
    b[off] = static_cast<std::uint8_t>(v >> 8);
    b[off + 1] = static_cast<std::uint8_t>(v);
}

// RFC 1071 §4.1, the reference C loop: pad an odd length with a zero byte, add 16-bit
// big-endian words in 32 bits, fold the carries, complement.
inline std::uint16_t ref_checksum(std::span<const std::uint8_t> data)
{
    Bytes padded(data.begin(), data.end());
    if (padded.size() % 2 != 0) {
        padded.push_back(0);
    }
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < padded.size(); i += 2) {
        sum += get16(padded, i);
    }
    while ((sum >> 16) != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(~sum);
}

inline Bytes concat(std::initializer_list<std::span<const std::uint8_t>> parts)
{
    Bytes out;
    for (auto p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

// A payload whose bytes depend on their position, so a misplaced piece shows.
inline Bytes payload_pattern(std::size_t n, std::uint8_t seed = 0)
{
    Bytes out(n);
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = static_cast<std::uint8_t>((i * 7 + (i >> 8) + seed) & 0xff);
    }
    return out;
}

inline Bytes ethernet(const Mac& dst, const Mac& src, std::uint16_t type)
{
    return Builder().bytes(dst).bytes(src).u16(type).done();
}

// What follows a tag's TPID (written as the Ethernet type before it): TCI, then the next type.
inline Bytes vlan_tag(std::uint16_t tci, std::uint16_t next_type)
{
    return Builder().u16(tci).u16(next_type).done();
}

// An IPv4 header with a correct header checksum. `options` must be a multiple of 4 bytes.
inline Bytes ipv4(const Ip4& src, const Ip4& dst, std::uint8_t proto, std::size_t payload_len,
    std::uint16_t id = 0x1234, std::uint16_t frag = 0x4000, const Bytes& options = {})
{
    const std::size_t ihl = 20 + options.size();
    Bytes h = Builder()
                  .u8(static_cast<std::uint8_t>(0x40 | (ihl / 4)))
                  .u8(0)
                  .u16(static_cast<std::uint16_t>(ihl + payload_len))
                  .u16(id)
                  .u16(frag)
                  .u8(64)
                  .u8(proto)
                  .u16(0)
                  .bytes(src)
                  .bytes(dst)
                  .bytes(options)
                  .done();
    put16(h, 10, ref_checksum(h));
    return h;
}

inline Bytes ipv6(const Ip6& src, const Ip6& dst, std::uint8_t next, std::size_t payload_len)
{
    return Builder()
        .u32(0x60000000)
        .u16(static_cast<std::uint16_t>(payload_len))
        .u8(next)
        .u8(64)
        .bytes(src)
        .bytes(dst)
        .done();
}

// A TCP header, checksum 0; `options` a multiple of 4 bytes.
inline Bytes tcp(std::uint16_t sport, std::uint16_t dport, std::uint32_t seq, std::uint8_t flags,
    const Bytes& options = {})
{
    const std::size_t len = 20 + options.size();
    return Builder()
        .u16(sport)
        .u16(dport)
        .u32(seq)
        .u32(0x01020304) // ack
        .u8(static_cast<std::uint8_t>((len / 4) << 4))
        .u8(flags)
        .u16(0xfaf0) // window
        .u16(0)      // checksum
        .u16(0)      // urgent pointer
        .bytes(options)
        .done();
}

inline Bytes udp(std::uint16_t sport, std::uint16_t dport, std::size_t payload_len)
{
    return Builder().u16(sport).u16(dport).u16(static_cast<std::uint16_t>(8 + payload_len)).u16(0).done();
}

// Pseudo-headers written out field by field (RFC 768 / RFC 8200 §8.1).
inline Bytes pseudo4(std::span<const std::uint8_t> src, std::span<const std::uint8_t> dst, std::uint8_t proto,
    std::size_t len)
{
    return Builder().bytes(src).bytes(dst).u8(0).u8(proto).u16(static_cast<std::uint16_t>(len)).done();
}

inline Bytes pseudo6(std::span<const std::uint8_t> src, std::span<const std::uint8_t> dst, std::uint8_t next,
    std::size_t len)
{
    return Builder().bytes(src).bytes(dst).u32(static_cast<std::uint32_t>(len)).zeros(3).u8(next).done();
}

// True when the TCP/UDP checksum of the transport segment `l4` verifies under `pseudo`: the
// sum over both, checksum field included, is all ones.
inline bool l4_checksum_ok(const Bytes& pseudo, std::span<const std::uint8_t> l4)
{
    return ref_checksum(concat({ pseudo, l4 })) == 0;
}

inline constexpr Ip4 IP4_A { 192, 168, 0, 1 };
inline constexpr Ip4 IP4_B { 10, 1, 2, 3 };
inline constexpr Ip6 IP6_A { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 };
inline constexpr Ip6 IP6_B { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02 };
inline constexpr Ip6 IP6_HOME { 0x20, 0x01, 0x0d, 0xb8, 0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a };
inline constexpr Ip6 IP6_RH2 { 0x20, 0x01, 0x0d, 0xb8, 0, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b };

// IPv6 extension headers (RFC 8200 §4): each a multiple of 8 bytes.
inline Bytes hop_by_hop(std::uint8_t next)
{
    return Builder().u8(next).u8(0).bytes({ 1, 4, 0, 0, 0, 0 }).done(); // PadN of 4 bytes
}

// A destination options header of 24 bytes: Pad1, a 3-byte PadN, then a Home Address option
// (RFC 6275 §6.3) at offset 6 (its 8n+6 alignment), so the address is at offset 8.
inline Bytes dstopts_home(std::uint8_t next, const Ip6& home)
{
    return Builder().u8(next).u8(2).u8(0).bytes({ 1, 1, 0 }).u8(0xc9).u8(16).bytes(home).done();
}

// A type 2 routing header (RFC 6275 §6.4): 24 bytes, one address.
inline Bytes routing_type2(std::uint8_t next, const Ip6& address)
{
    return Builder().u8(next).u8(2).u8(2).u8(1).zeros(4).bytes(address).done();
}

inline Bytes fragment_header(std::uint8_t next, std::uint16_t offset_units, bool more, std::uint32_t id)
{
    return Builder()
        .u8(next)
        .u8(0)
        .u16(static_cast<std::uint16_t>((offset_units << 3) | (more ? 1 : 0)))
        .u32(id)
        .done();
}

} // namespace net_test
