// SPDX-License-Identifier: Apache-2.0
// RxFilter: which received frames a virtio-net device passes to the driver (virtio 1.2 §5.1.6.5.1-3).
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <span>

#include "virtio/devices/net/frame.hpp"
#include "vmm/base/result.hpp"

namespace vmm::virtio::net {

// VIRTIO_NET_CTRL_MAC_TABLE_SET's data as views into the command bytes (§5.1.6.5.2): a le32
// count and that many 6-byte unicast addresses, then the same for multicast.
struct MacTableSet {
    std::span<const std::uint8_t> unicast;   // 6 * unicast_count() bytes
    std::span<const std::uint8_t> multicast; // 6 * multicast_count() bytes

    [[nodiscard]] std::size_t unicast_count() const noexcept { return unicast.size() / 6; }
    [[nodiscard]] std::size_t multicast_count() const noexcept { return multicast.size() / 6; }
};

// Checks both counts against the bytes actually present; the data must end with the second
// table. The result views `data`: apply it before `data` goes away.
[[nodiscard]] Result<MacTableSet> parse_mac_table_set(std::span<const std::uint8_t> data);
// VIRTIO_NET_CTRL_MAC_ADDR_SET: exactly 6 bytes.
[[nodiscard]] Result<MacAddress> parse_mac_addr_set(std::span<const std::uint8_t> data);
// VIRTIO_NET_CTRL_VLAN_ADD/DEL: exactly a le16 VLAN id, below 4096.
[[nodiscard]] Result<std::uint16_t> parse_vlan_id(std::span<const std::uint8_t> data);
// VIRTIO_NET_CTRL_RX_*: exactly one byte; 0 is off, anything else on (Linux's uapi header).
[[nodiscard]] Result<bool> parse_rx_mode_switch(std::span<const std::uint8_t> data);

// The receive filter. The device starts promiscuous, as QEMU does: a driver without
// VIRTIO_NET_F_CTRL_RX cannot program the filter and must still see multicast (IPv6 neighbour
// discovery); Linux turns promiscuous mode off once it negotiated CTRL_RX. A MAC table given
// more addresses than it holds stops filtering that kind of address (like QEMU's overflow
// flags), which §5.1.6.5.2 allows ("silently switch to allmulti or promiscuous mode").
class RxFilter {
public:
    static constexpr std::size_t MAC_TABLE_ENTRIES = 64; // per table
    static constexpr std::size_t VLAN_IDS = 4096;

    RxFilter() = default;
    explicit RxFilter(const MacAddress& mac) : mac_(mac) {}

    // Back to the reset state (§5.1.6.5.2: empty MAC table; §5.1.6.5.3: empty VLAN table),
    // keeping the device MAC and whether VLAN filtering is negotiated.
    void reset() noexcept;

    void set_mac(const MacAddress& mac) noexcept { mac_ = mac; }
    [[nodiscard]] const MacAddress& mac() const noexcept { return mac_; }

    // §5.1.6.5.1: the VIRTIO_NET_CTRL_RX commands; false for an unknown command.
    bool set_rx_mode(std::uint8_t command, bool on) noexcept;
    void set_promiscuous(bool on) noexcept { promisc_ = on; }
    void set_all_multicast(bool on) noexcept { allmulti_ = on; }
    void set_all_unicast(bool on) noexcept { alluni_ = on; }
    void set_no_multicast(bool on) noexcept { nomulti_ = on; }
    void set_no_unicast(bool on) noexcept { nouni_ = on; }
    void set_no_broadcast(bool on) noexcept { nobcast_ = on; }

    // §5.1.6.5.2: replaces both tables.
    void set_mac_table(const MacTableSet& table) noexcept;
    // VIRTIO_NET_CTRL_MAC_TABLE_SET: parses the command's data and, if it is valid, replaces
    // both tables; on error nothing changes.
    [[nodiscard]] Result<> set_mac_table(std::span<const std::uint8_t> data);
    [[nodiscard]] std::size_t unicast_entries() const noexcept { return uni_count_; }
    [[nodiscard]] std::size_t multicast_entries() const noexcept { return multi_count_; }
    [[nodiscard]] bool unicast_overflow() const noexcept { return uni_overflow_; }
    [[nodiscard]] bool multicast_overflow() const noexcept { return multi_overflow_; }

    // §5.1.6.5.3: with VIRTIO_NET_F_CTRL_VLAN negotiated, 802.1Q-tagged frames pass only if their
    // VLAN id was added. False for an id of 4096 or more.
    void set_vlan_filtering(bool negotiated) noexcept { vlan_filtering_ = negotiated; }
    bool add_vlan(std::uint16_t id) noexcept;
    bool remove_vlan(std::uint16_t id) noexcept;
    [[nodiscard]] bool has_vlan(std::uint16_t id) const noexcept { return id < VLAN_IDS && vlans_.test(id); }

    // Whether a received frame, given by its first bytes (at least its Ethernet header and
    // outer VLAN tag), goes to the driver. A frame shorter than an Ethernet header does not.
    [[nodiscard]] bool accept(std::span<const std::uint8_t> frame) const noexcept;

private:
    [[nodiscard]] bool accept_multicast(std::span<const std::uint8_t, 6> dst) const noexcept;
    [[nodiscard]] bool accept_unicast(std::span<const std::uint8_t, 6> dst) const noexcept;

    MacAddress mac_ {};
    bool promisc_ = true;
    bool allmulti_ = false;
    bool alluni_ = false;
    bool nomulti_ = false;
    bool nouni_ = false;
    bool nobcast_ = false;

    std::array<MacAddress, MAC_TABLE_ENTRIES> uni_ {};
    std::array<MacAddress, MAC_TABLE_ENTRIES> multi_ {};
    std::size_t uni_count_ = 0;
    std::size_t multi_count_ = 0;
    bool uni_overflow_ = false;
    bool multi_overflow_ = false;

    bool vlan_filtering_ = false;
    std::bitset<VLAN_IDS> vlans_;
};

} // namespace vmm::virtio::net
