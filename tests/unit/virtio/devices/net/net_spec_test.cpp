// SPDX-License-Identifier: Apache-2.0
// virtio-net wire constants against virtio 1.2 §5.1 and Linux's uapi virtio_net.h.
#include <array>
#include <utility>

#include <catch2/catch.hpp>

#include "virtio/spec/features.hpp"
#include "virtio/spec/net.hpp"

using namespace vmm::virtio;

TEST_CASE("net spec: feature bit numbers (§5.1.3)", "[net][spec]")
{
    CHECK(VIRTIO_NET_F_CSUM == 0);
    CHECK(VIRTIO_NET_F_GUEST_CSUM == 1);
    CHECK(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS == 2);
    CHECK(VIRTIO_NET_F_MTU == 3);
    CHECK(VIRTIO_NET_F_MAC == 5);
    CHECK(VIRTIO_NET_F_GUEST_TSO4 == 7);
    CHECK(VIRTIO_NET_F_GUEST_TSO6 == 8);
    CHECK(VIRTIO_NET_F_GUEST_ECN == 9);
    CHECK(VIRTIO_NET_F_GUEST_UFO == 10);
    CHECK(VIRTIO_NET_F_HOST_TSO4 == 11);
    CHECK(VIRTIO_NET_F_HOST_TSO6 == 12);
    CHECK(VIRTIO_NET_F_HOST_ECN == 13);
    CHECK(VIRTIO_NET_F_HOST_UFO == 14);
    CHECK(VIRTIO_NET_F_MRG_RXBUF == 15);
    CHECK(VIRTIO_NET_F_STATUS == 16);
    CHECK(VIRTIO_NET_F_CTRL_VQ == 17);
    CHECK(VIRTIO_NET_F_CTRL_RX == 18);
    CHECK(VIRTIO_NET_F_CTRL_VLAN == 19);
    CHECK(VIRTIO_NET_F_CTRL_RX_EXTRA == 20);
    CHECK(VIRTIO_NET_F_GUEST_ANNOUNCE == 21);
    CHECK(VIRTIO_NET_F_MQ == 22);
    CHECK(VIRTIO_NET_F_CTRL_MAC_ADDR == 23);
    CHECK(VIRTIO_NET_F_GUEST_USO4 == 54);
    CHECK(VIRTIO_NET_F_GUEST_USO6 == 55);
    CHECK(VIRTIO_NET_F_HOST_USO == 56);
    CHECK(VIRTIO_NET_F_HASH_REPORT == 57);
    CHECK(VIRTIO_NET_F_GUEST_HDRLEN == 59);
    CHECK(VIRTIO_NET_F_RSS == 60);
    CHECK(VIRTIO_NET_F_RSC_EXT == 61);
    CHECK(VIRTIO_NET_F_STANDBY == 62);
    CHECK(VIRTIO_NET_F_SPEED_DUPLEX == 63);
    // None of them is in the range the transports interpret (§6).
    for (const unsigned bit : { VIRTIO_NET_F_CSUM, VIRTIO_NET_F_CTRL_MAC_ADDR, VIRTIO_NET_F_GUEST_USO4,
             VIRTIO_NET_F_SPEED_DUPLEX }) {
        CHECK((feature_bit(bit) & TRANSPORT_FEATURES_MASK) == 0);
    }
}

TEST_CASE("net spec: header, status and control values", "[net][spec]")
{
    CHECK(sizeof(VirtioNetHdrV1) == 12);
    CHECK(sizeof(VirtioNetHdrV1Hash) == 20);
    CHECK(sizeof(VirtioNetConfig) == 24);
    CHECK(VIRTIO_NET_HDR_F_NEEDS_CSUM == 1);
    CHECK(VIRTIO_NET_HDR_F_DATA_VALID == 2);
    CHECK(VIRTIO_NET_HDR_F_RSC_INFO == 4);
    CHECK(VIRTIO_NET_HDR_GSO_NONE == 0);
    CHECK(VIRTIO_NET_HDR_GSO_TCPV4 == 1);
    CHECK(VIRTIO_NET_HDR_GSO_UDP == 3);
    CHECK(VIRTIO_NET_HDR_GSO_TCPV6 == 4);
    CHECK(VIRTIO_NET_HDR_GSO_UDP_L4 == 5);
    CHECK(VIRTIO_NET_HDR_GSO_ECN == 0x80);
    CHECK(VIRTIO_NET_S_LINK_UP == 1);
    CHECK(VIRTIO_NET_S_ANNOUNCE == 2);
    CHECK(VIRTIO_NET_OK == 0);
    CHECK(VIRTIO_NET_ERR == 1);
    CHECK(VIRTIO_NET_CTRL_RX == 0);
    CHECK(VIRTIO_NET_CTRL_RX_NOBCAST == 5);
    CHECK(VIRTIO_NET_CTRL_MAC == 1);
    CHECK(VIRTIO_NET_CTRL_MAC_ADDR_SET == 1);
    CHECK(VIRTIO_NET_CTRL_VLAN == 2);
    CHECK(VIRTIO_NET_CTRL_VLAN_DEL == 1);
    CHECK(VIRTIO_NET_CTRL_ANNOUNCE == 3);
    CHECK(VIRTIO_NET_CTRL_ANNOUNCE_ACK == 0);
    CHECK(VIRTIO_NET_CTRL_MQ == 4);
    CHECK(VIRTIO_NET_CTRL_MQ_RSS_CONFIG == 1);
    CHECK(VIRTIO_NET_CTRL_MQ_HASH_CONFIG == 2);
    CHECK(VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN == 1);
    CHECK(VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX == 0x8000);
    CHECK(VIRTIO_NET_CTRL_GUEST_OFFLOADS == 5);
    CHECK(VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET == 0);
}

TEST_CASE("net spec: hash type bit = 1 << (report - 1) (§5.1.6.4.4)", "[net][spec]")
{
    const std::array<std::pair<std::uint32_t, std::uint16_t>, 9> pairs { {
        { VIRTIO_NET_RSS_HASH_TYPE_IPv4, VIRTIO_NET_HASH_REPORT_IPv4 },
        { VIRTIO_NET_RSS_HASH_TYPE_TCPv4, VIRTIO_NET_HASH_REPORT_TCPv4 },
        { VIRTIO_NET_RSS_HASH_TYPE_UDPv4, VIRTIO_NET_HASH_REPORT_UDPv4 },
        { VIRTIO_NET_RSS_HASH_TYPE_IPv6, VIRTIO_NET_HASH_REPORT_IPv6 },
        { VIRTIO_NET_RSS_HASH_TYPE_TCPv6, VIRTIO_NET_HASH_REPORT_TCPv6 },
        { VIRTIO_NET_RSS_HASH_TYPE_UDPv6, VIRTIO_NET_HASH_REPORT_UDPv6 },
        { VIRTIO_NET_RSS_HASH_TYPE_IP_EX, VIRTIO_NET_HASH_REPORT_IPv6_EX },
        { VIRTIO_NET_RSS_HASH_TYPE_TCP_EX, VIRTIO_NET_HASH_REPORT_TCPv6_EX },
        { VIRTIO_NET_RSS_HASH_TYPE_UDP_EX, VIRTIO_NET_HASH_REPORT_UDPv6_EX },
    } };
    std::uint32_t all = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        CHECK(std::size_t { pairs[i].second } == i + 1);
        CHECK(pairs[i].first == 1U << (pairs[i].second - 1));
        all |= pairs[i].first;
    }
    CHECK(all == VIRTIO_NET_RSS_HASH_TYPE_ALL);
    CHECK(VIRTIO_NET_HASH_REPORT_NONE == 0);
}
