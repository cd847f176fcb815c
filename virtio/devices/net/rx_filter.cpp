// SPDX-License-Identifier: Apache-2.0
// RxFilter: receive modes, MAC tables, VLAN filter, and parsing of their control commands.
#include "virtio/devices/net/rx_filter.hpp"

#include <algorithm>

#include "virtio/devices/net/bytes.hpp"
#include "virtio/spec/net.hpp"

namespace vmm::virtio::net {
namespace {

constexpr std::size_t MAC_BYTES = 6;

bool is_broadcast(std::span<const std::uint8_t, 6> mac) noexcept
{
    return std::all_of(mac.begin(), mac.end(), [](std::uint8_t b) { return b == 0xff; });
}

bool equal(std::span<const std::uint8_t, 6> a, const MacAddress& b) noexcept
{
    return std::equal(a.begin(), a.end(), b.begin());
}

bool contains(std::span<const MacAddress> table, std::span<const std::uint8_t, 6> mac) noexcept
{
    return std::any_of(table.begin(), table.end(), [mac](const MacAddress& m) { return equal(mac, m); });
}

// One struct virtio_net_ctrl_mac at the front of `data`: returns its addresses and advances
// `data` past them.
Result<std::span<const std::uint8_t>> take_mac_list(std::span<const std::uint8_t>& data, std::string_view which)
{
    if (data.size() < 4) {
        return fail(Errc::invalid_argument, "MAC table: {} bytes left where the {} entry count belongs", data.size(),
            which);
    }
    const std::uint64_t entries = load_le32(data, 0);
    data = data.subspan(4);
    // 64-bit: entries * 6 cannot wrap.
    if (entries * MAC_BYTES > data.size()) {
        return fail(Errc::invalid_argument, "MAC table: {} {} entries need {} bytes, {} are present", entries, which,
            entries * MAC_BYTES, data.size());
    }
    const auto list = data.first(static_cast<std::size_t>(entries * MAC_BYTES));
    data = data.subspan(list.size());
    return list;
}

} // namespace

Result<MacTableSet> parse_mac_table_set(std::span<const std::uint8_t> data)
{
    MacTableSet t;
    t.unicast = VMM_TRY(take_mac_list(data, "unicast"));
    t.multicast = VMM_TRY(take_mac_list(data, "multicast"));
    if (!data.empty()) {
        return fail(Errc::invalid_argument, "MAC table: {} bytes after the multicast entries", data.size());
    }
    return t;
}

Result<MacAddress> parse_mac_addr_set(std::span<const std::uint8_t> data)
{
    if (data.size() != MAC_BYTES) {
        return fail(Errc::invalid_argument, "MAC address: {} bytes instead of 6", data.size());
    }
    MacAddress mac;
    std::copy(data.begin(), data.end(), mac.begin());
    return mac;
}

Result<std::uint16_t> parse_vlan_id(std::span<const std::uint8_t> data)
{
    if (data.size() != 2) {
        return fail(Errc::invalid_argument, "VLAN id: {} bytes instead of 2", data.size());
    }
    const std::uint16_t id = load_le16(data, 0);
    if (id >= RxFilter::VLAN_IDS) {
        return fail(Errc::out_of_range, "VLAN id {} is not below 4096", id);
    }
    return id;
}

Result<bool> parse_rx_mode_switch(std::span<const std::uint8_t> data)
{
    if (data.size() != 1) {
        return fail(Errc::invalid_argument, "RX mode: {} bytes instead of 1", data.size());
    }
    return data[0] != 0;
}

void RxFilter::reset() noexcept
{
    promisc_ = true;
    allmulti_ = alluni_ = nomulti_ = nouni_ = nobcast_ = false;
    uni_count_ = multi_count_ = 0;
    uni_overflow_ = multi_overflow_ = false;
    vlans_.reset();
}

bool RxFilter::set_rx_mode(std::uint8_t command, bool on) noexcept
{
    switch (command) {
    case VIRTIO_NET_CTRL_RX_PROMISC:
        promisc_ = on;
        return true;
    case VIRTIO_NET_CTRL_RX_ALLMULTI:
        allmulti_ = on;
        return true;
    case VIRTIO_NET_CTRL_RX_ALLUNI:
        alluni_ = on;
        return true;
    case VIRTIO_NET_CTRL_RX_NOMULTI:
        nomulti_ = on;
        return true;
    case VIRTIO_NET_CTRL_RX_NOUNI:
        nouni_ = on;
        return true;
    case VIRTIO_NET_CTRL_RX_NOBCAST:
        nobcast_ = on;
        return true;
    default:
        return false;
    }
}

void RxFilter::set_mac_table(const MacTableSet& table) noexcept
{
    const auto load = [](std::span<const std::uint8_t> list, std::array<MacAddress, MAC_TABLE_ENTRIES>& out,
                          std::size_t& count, bool& overflow) {
        const std::size_t n = list.size() / MAC_BYTES;
        overflow = n > out.size();
        count = overflow ? 0 : n;
        for (std::size_t i = 0; i < count; ++i) {
            std::copy_n(list.begin() + static_cast<std::ptrdiff_t>(i * MAC_BYTES), MAC_BYTES, out[i].begin());
        }
    };
    load(table.unicast, uni_, uni_count_, uni_overflow_);
    load(table.multicast, multi_, multi_count_, multi_overflow_);
}

Result<> RxFilter::set_mac_table(std::span<const std::uint8_t> data)
{
    set_mac_table(VMM_TRY(parse_mac_table_set(data)));
    return {};
}

bool RxFilter::add_vlan(std::uint16_t id) noexcept
{
    if (id >= VLAN_IDS) {
        return false;
    }
    vlans_.set(id);
    return true;
}

bool RxFilter::remove_vlan(std::uint16_t id) noexcept
{
    if (id >= VLAN_IDS) {
        return false;
    }
    vlans_.reset(id);
    return true;
}

bool RxFilter::accept_multicast(std::span<const std::uint8_t, 6> dst) const noexcept
{
    // §5.1.6.5.1: NOBCAST and NOMULTI win over ALLMULTI; NOMULTI does not apply to broadcast.
    if (is_broadcast(dst)) {
        return !nobcast_;
    }
    if (nomulti_) {
        return false;
    }
    if (allmulti_ || multi_overflow_) {
        return true;
    }
    return contains(std::span(multi_).first(multi_count_), dst);
}

bool RxFilter::accept_unicast(std::span<const std::uint8_t, 6> dst) const noexcept
{
    // §5.1.6.5.1: NOUNI wins over ALLUNI, and over the device's own address.
    if (nouni_) {
        return false;
    }
    if (alluni_ || uni_overflow_ || equal(dst, mac_)) {
        return true;
    }
    return contains(std::span(uni_).first(uni_count_), dst);
}

bool RxFilter::accept(std::span<const std::uint8_t> frame) const noexcept
{
    if (frame.size() < ETH_HEADER_BYTES) {
        return false;
    }
    // §5.1.6.5.1: promiscuous mode takes effect over every other mode.
    if (promisc_) {
        return true;
    }
    if (vlan_filtering_ && load_be16(frame, 12) == ETH_TYPE_8021Q) {
        // Only customer tags: Linux registers 802.1Q ids (VLAN_ADD) and never 802.1ad service
        // tags, so a QinQ frame's outer 0x88a8 tag is not filtered (QEMU does the same).
        if (frame.size() < ETH_HEADER_BYTES + VLAN_TAG_BYTES
            || !vlans_.test(load_be16(frame, ETH_HEADER_BYTES) & 0x0fff)) {
            return false;
        }
    }
    const auto dst = frame.first<6>();
    // IEEE 802: the group bit is the least significant bit of the first octet.
    return (dst[0] & 1) != 0 ? accept_multicast(dst) : accept_unicast(dst);
}

} // namespace vmm::virtio::net
