// SPDX-License-Identifier: Apache-2.0
// RSS: the per-packet hash of virtio 1.2 §5.1.6.4.3 and the steering state of §5.1.6.5.7.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "virtio/devices/net/frame.hpp"
#include "virtio/spec/net.hpp"
#include "vmm/base/result.hpp"

namespace vmm::virtio::net {

// The key storage; a device offers rss_max_key_size up to this (the spec's minimum is 40).
inline constexpr std::size_t RSS_MAX_KEY_SIZE = 40;

struct HashResult {
    std::uint32_t value = 0;
    std::uint16_t report = VIRTIO_NET_HASH_REPORT_NONE; // VIRTIO_NET_HASH_REPORT_*

    [[nodiscard]] bool calculated() const noexcept { return report != VIRTIO_NET_HASH_REPORT_NONE; }
};

// §5.1.6.4.3: the hash of the frame whose headers `bytes` holds and parse_frame() described
// as `info`, under the enabled hash types, keyed by `key`:
// - IPv4: TCPv4 over addresses and ports if the packet has a TCP header, else UDPv4 likewise,
//   else IPv4 over the addresses.
// - IPv6 with extension headers: TCP_EX, UDP_EX, IP_EX, with the Home Address option's address
//   in place of the source and the type 2 routing header's in place of the destination when
//   present; if none of the three is enabled, as without extension headers.
// - IPv6 without: TCPv6, UDPv6, IPv6.
// A fragment has no TCP/UDP header here (its ports are not those of the datagram), so only
// the address types apply to it. Anything else, or no enabled type that applies: report NONE.
[[nodiscard]] HashResult compute_hash(std::span<const std::uint8_t> bytes, const FrameInfo& info,
    std::uint32_t hash_types, std::span<const std::uint8_t> key) noexcept;

// What the device offers (its virtio_net_config), which a configuration must stay within.
struct RssLimits {
    std::uint16_t queue_pairs = 1;                        // max_virtqueue_pairs
    std::uint8_t max_key_size = RSS_MAX_KEY_SIZE;         // rss_max_key_size, at most RSS_MAX_KEY_SIZE
    std::uint16_t max_indirection_table_length = 128;     // rss_max_indirection_table_length
    std::uint32_t supported_hash_types = VIRTIO_NET_RSS_HASH_TYPE_ALL;
};

// The RSS state set by VIRTIO_NET_CTRL_MQ_RSS_CONFIG (or, without a table, HASH_CONFIG).
// Queue numbers are 0-based receive queue indices: 0 is receiveq1.
struct RssConfig {
    std::uint32_t hash_types = 0;
    std::array<std::uint8_t, RSS_MAX_KEY_SIZE> key_bytes {};
    std::uint8_t key_length = 0;
    std::uint16_t unclassified_queue = 0;
    std::uint16_t max_tx_vq = 1;
    std::vector<std::uint16_t> indirection_table; // length a power of two, or empty

    [[nodiscard]] std::span<const std::uint8_t> key() const noexcept
    {
        return std::span<const std::uint8_t>(key_bytes).first(key_length);
    }
    [[nodiscard]] HashResult hash(std::span<const std::uint8_t> bytes, const FrameInfo& info) const noexcept
    {
        return compute_hash(bytes, info, hash_types, key());
    }
    // indirection_table[hash & (length - 1)]; unclassified_queue while there is no table.
    [[nodiscard]] std::uint16_t select_queue(std::uint32_t hash) const noexcept;
    // §5.1.6.5.7.3: a packet with no hash goes to unclassified_queue.
    [[nodiscard]] std::uint16_t select_queue(const HashResult& hash) const noexcept;
};

// §5.1.6.5.7.1: reads struct virtio_net_rss_config (le32 hash_types, le16
// indirection_table_mask, le16 unclassified_queue, le16 indirection_table[mask + 1], le16
// max_tx_vq, u8 hash_key_length, hash_key_data) from the command-specific data, which must be
// exactly that long. The table length must be a power of two within the device's maximum,
// every queue index below the number of queue pairs, max_tx_vq in 1..queue pairs, the key
// within the device's maximum (and present if any hash type is enabled), and only supported
// hash types enabled.
[[nodiscard]] Result<RssConfig> parse_rss_config(std::span<const std::uint8_t> data, const RssLimits& limits);

// §5.1.6.5.6.4: reads struct virtio_net_hash_config (le32 hash_types, le16 reserved[4], u8
// hash_key_length, hash_key_data), the hash-report-only configuration; the result has no table.
[[nodiscard]] Result<RssConfig> parse_hash_config(std::span<const std::uint8_t> data, const RssLimits& limits);

} // namespace vmm::virtio::net
