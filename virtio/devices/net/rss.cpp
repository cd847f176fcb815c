// SPDX-License-Identifier: Apache-2.0
// RSS hash input selection, queue selection, and the RSS/hash configuration commands.
#include "virtio/devices/net/rss.hpp"

#include <algorithm>
#include <bit>

#include "virtio/devices/net/bytes.hpp"
#include "virtio/devices/net/toeplitz.hpp"

namespace vmm::virtio::net {
namespace {

// Source address, destination address, source port, destination port: the order of the
// Microsoft RSS specification that §5.1.6.4.3 follows.
struct HashInput {
    std::array<std::uint8_t, 36> bytes {};
    std::size_t length = 0;

    void add(std::span<const std::uint8_t> b, std::size_t off, std::size_t len) noexcept
    {
        std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(off), len,
            bytes.begin() + static_cast<std::ptrdiff_t>(length));
        length += len;
    }
};

HashResult hash_of(std::span<const std::uint8_t> b, const FrameInfo& f, std::span<const std::uint8_t> key,
    std::size_t src, std::size_t dst, bool ports, std::uint16_t report) noexcept
{
    const std::size_t alen = f.addr_len();
    // The offsets come from parse_frame() over these bytes; a caller passing other bytes gets
    // no hash rather than a read past them.
    if (src > b.size() || b.size() - src < alen || dst > b.size() || b.size() - dst < alen
        || (ports && (f.l4_offset > b.size() || b.size() - f.l4_offset < 4))) {
        return {};
    }
    HashInput in;
    in.add(b, src, alen);
    in.add(b, dst, alen);
    if (ports) {
        in.add(b, f.l4_offset, 4);
    }
    return { toeplitz_hash(key, std::span(in.bytes).first(in.length)), report };
}

} // namespace

HashResult compute_hash(std::span<const std::uint8_t> b, const FrameInfo& f, std::uint32_t types,
    std::span<const std::uint8_t> key) noexcept
{
    const bool tcp = f.l4 == L4::tcp;
    const bool udp = f.l4 == L4::udp;
    const auto on = [types](std::uint32_t type) { return (types & type) != 0; };
    const std::size_t src = f.src_addr_offset();
    const std::size_t dst = f.dst_addr_offset();

    if (f.l3 == L3::ipv4) {
        // §5.1.6.4.3.2.
        if (on(VIRTIO_NET_RSS_HASH_TYPE_TCPv4) && tcp) {
            return hash_of(b, f, key, src, dst, true, VIRTIO_NET_HASH_REPORT_TCPv4);
        }
        if (on(VIRTIO_NET_RSS_HASH_TYPE_UDPv4) && udp) {
            return hash_of(b, f, key, src, dst, true, VIRTIO_NET_HASH_REPORT_UDPv4);
        }
        if (on(VIRTIO_NET_RSS_HASH_TYPE_IPv4)) {
            return hash_of(b, f, key, src, dst, false, VIRTIO_NET_HASH_REPORT_IPv4);
        }
        return {};
    }
    if (f.l3 != L3::ipv6) {
        return {};
    }
    if (f.ipv6_ext) {
        // §5.1.6.4.3.4.
        const std::size_t home = f.ipv6_home_address != 0 ? f.ipv6_home_address : src;
        const std::size_t final_dst = f.ipv6_rh2_address != 0 ? f.ipv6_rh2_address : dst;
        if (on(VIRTIO_NET_RSS_HASH_TYPE_TCP_EX) && tcp) {
            return hash_of(b, f, key, home, final_dst, true, VIRTIO_NET_HASH_REPORT_TCPv6_EX);
        }
        if (on(VIRTIO_NET_RSS_HASH_TYPE_UDP_EX) && udp) {
            return hash_of(b, f, key, home, final_dst, true, VIRTIO_NET_HASH_REPORT_UDPv6_EX);
        }
        if (on(VIRTIO_NET_RSS_HASH_TYPE_IP_EX)) {
            return hash_of(b, f, key, home, final_dst, false, VIRTIO_NET_HASH_REPORT_IPv6_EX);
        }
        // "Else skip IPv6 extension headers and calculate the hash as defined for an IPv6
        // packet without extension headers."
    }
    // §5.1.6.4.3.3.
    if (on(VIRTIO_NET_RSS_HASH_TYPE_TCPv6) && tcp) {
        return hash_of(b, f, key, src, dst, true, VIRTIO_NET_HASH_REPORT_TCPv6);
    }
    if (on(VIRTIO_NET_RSS_HASH_TYPE_UDPv6) && udp) {
        return hash_of(b, f, key, src, dst, true, VIRTIO_NET_HASH_REPORT_UDPv6);
    }
    if (on(VIRTIO_NET_RSS_HASH_TYPE_IPv6)) {
        return hash_of(b, f, key, src, dst, false, VIRTIO_NET_HASH_REPORT_IPv6);
    }
    return {};
}

std::uint16_t RssConfig::select_queue(std::uint32_t hash) const noexcept
{
    if (indirection_table.empty()) {
        return unclassified_queue;
    }
    // The length is a power of two (parse_rss_config checks it): the mask is length - 1.
    return indirection_table[hash & (indirection_table.size() - 1)];
}

std::uint16_t RssConfig::select_queue(const HashResult& hash) const noexcept
{
    return hash.calculated() ? select_queue(hash.value) : unclassified_queue;
}

namespace {

// The fields shared by both commands: hash types and the key, with the key length byte at
// key_at; the data must hold the whole key.
Result<> read_types_and_key(std::span<const std::uint8_t> data, std::size_t key_at, const RssLimits& limits,
    std::string_view what, RssConfig* out)
{
    out->hash_types = load_le32(data, 0);
    if ((out->hash_types & ~limits.supported_hash_types) != 0) {
        return fail(Errc::invalid_argument, "{}: hash types {:#x} include ones the device does not support ({:#x})",
            what, out->hash_types, out->hash_types & ~limits.supported_hash_types);
    }
    const std::size_t key_length = data[key_at];
    const std::size_t max_key = std::min<std::size_t>(limits.max_key_size, RSS_MAX_KEY_SIZE);
    if (key_length > max_key) {
        return fail(Errc::invalid_argument, "{}: hash_key_length {} is above the device's maximum {}", what,
            key_length, max_key);
    }
    if (key_length == 0 && out->hash_types != 0) {
        return fail(Errc::invalid_argument, "{}: hash types {:#x} are enabled without a key", what, out->hash_types);
    }
    // Bytes after the key are ignored: Linux sends its trailer struct's padding (the key of 40
    // bytes comes in a 44-byte struct_size), and the spec gives them no meaning.
    const std::size_t expected = key_at + 1 + key_length;
    if (data.size() < expected) {
        return fail(Errc::invalid_argument, "{}: {} bytes, but the fields and a {}-byte key make {}", what,
            data.size(), key_length, expected);
    }
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(key_at + 1), key_length, out->key_bytes.begin());
    out->key_length = static_cast<std::uint8_t>(key_length);
    return {};
}

} // namespace

Result<RssConfig> parse_rss_config(std::span<const std::uint8_t> data, const RssLimits& limits)
{
    constexpr std::string_view what = "RSS config";
    constexpr std::size_t TABLE_AT = 8;
    if (data.size() < TABLE_AT) {
        return fail(Errc::invalid_argument, "{}: {} bytes, shorter than its 8-byte head", what, data.size());
    }
    const std::size_t length = std::size_t { load_le16(data, 4) } + 1;
    if (!std::has_single_bit(length)) {
        return fail(Errc::invalid_argument,
            "{}: indirection_table_mask {:#x} makes a table of {} entries, not a power of two", what, length - 1,
            length);
    }
    if (length > limits.max_indirection_table_length) {
        return fail(Errc::invalid_argument, "{}: indirection table of {} entries is above the device's maximum {}",
            what, length, limits.max_indirection_table_length);
    }
    // The table, max_tx_vq and hash_key_length must be there before they are read.
    const std::size_t key_at = TABLE_AT + 2 * length + 2;
    if (data.size() <= key_at) {
        return fail(Errc::invalid_argument, "{}: {} bytes, too short for a {}-entry indirection table", what,
            data.size(), length);
    }
    RssConfig c;
    VMM_TRY(read_types_and_key(data, key_at, limits, what, &c));
    c.unclassified_queue = load_le16(data, 6);
    if (c.unclassified_queue >= limits.queue_pairs) {
        return fail(Errc::out_of_range, "{}: unclassified_queue {} is not below the {} queue pairs", what,
            c.unclassified_queue, limits.queue_pairs);
    }
    c.max_tx_vq = load_le16(data, key_at - 2);
    if (c.max_tx_vq == 0 || c.max_tx_vq > limits.queue_pairs) {
        return fail(Errc::out_of_range, "{}: max_tx_vq {} is not in 1..{}", what, c.max_tx_vq, limits.queue_pairs);
    }
    c.indirection_table.resize(length);
    for (std::size_t i = 0; i < length; ++i) {
        const std::uint16_t q = load_le16(data, TABLE_AT + 2 * i);
        if (q >= limits.queue_pairs) {
            return fail(Errc::out_of_range, "{}: indirection_table[{}] = {} is not below the {} queue pairs", what, i,
                q, limits.queue_pairs);
        }
        c.indirection_table[i] = q;
    }
    return c;
}

Result<RssConfig> parse_hash_config(std::span<const std::uint8_t> data, const RssLimits& limits)
{
    constexpr std::string_view what = "hash config";
    constexpr std::size_t KEY_AT = 12; // after le32 hash_types and le16 reserved[4]
    if (data.size() <= KEY_AT) {
        return fail(Errc::invalid_argument, "{}: {} bytes, shorter than its 13-byte head", what, data.size());
    }
    RssConfig c;
    VMM_TRY(read_types_and_key(data, KEY_AT, limits, what, &c));
    return c;
}

} // namespace vmm::virtio::net
