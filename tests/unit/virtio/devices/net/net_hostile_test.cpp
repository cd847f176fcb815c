// SPDX-License-Identifier: Apache-2.0
// Mutated and truncated frames with random virtio_net_hdr fields through every entry point:
// no read or write outside the buffers (ASan/UBSan builds), and whatever is emitted is valid.
#include <memory>
#include <random>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/net/net_frames.hpp"
#include "virtio/devices/net/offload.hpp"
#include "virtio/devices/net/rss.hpp"
#include "virtio/devices/net/rx_filter.hpp"
#include "virtio/spec/net.hpp"

using namespace vmm::virtio;
using namespace vmm::virtio::net;
using namespace net_test;

namespace {

std::vector<Bytes> seed_frames()
{
    const Bytes payload = payload_pattern(2500, 1);
    const Bytes t = tcp(1, 2, 3, 0x18, { 2, 4, 5, 0xb4 });
    const Bytes u = udp(3, 4, payload.size());
    const Bytes ext = concat({ hop_by_hop(43), routing_type2(60, IP6_RH2), dstopts_home(6, IP6_HOME) });
    return {
        concat({ ethernet(MAC_B, MAC_A, 0x0800), ipv4(IP4_A, IP4_B, 6, t.size() + payload.size()), t, payload }),
        concat({ ethernet(MAC_B, MAC_A, 0x8100), vlan_tag(5, 0x0800), ipv4(IP4_A, IP4_B, 17, 8 + payload.size()), u,
            payload }),
        concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 0, ext.size() + t.size() + payload.size()), ext, t,
            payload }),
        concat({ ethernet(MAC_B, MAC_A, 0x86dd), ipv6(IP6_A, IP6_B, 0, 8 + 8 + payload.size()), hop_by_hop(17), u,
            payload }),
    };
}

// An exact-size heap copy, so that ASan reports any access past its end.
struct HeapBytes {
    explicit HeapBytes(std::span<const std::uint8_t> b)
        : size(b.size()), data(std::make_unique<std::uint8_t[]>(std::max<std::size_t>(b.size(), 1)))
    {
        std::copy(b.begin(), b.end(), data.get());
    }
    [[nodiscard]] std::span<std::uint8_t> span() const { return { data.get(), size }; }
    std::size_t size;
    std::unique_ptr<std::uint8_t[]> data;
};

} // namespace

TEST_CASE("hostile: mutated GSO frames are refused or segmented into valid frames", "[net][hostile]")
{
    std::mt19937 rng(20240611);
    const auto pick = [&rng](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n)(rng); };
    const std::array<std::uint8_t, 8> types { 1, 3, 4, 5, 0x81, 0x84, 0x85, 2 };
    std::size_t emitted = 0;
    std::size_t refused = 0;
    for (const Bytes& seed : seed_frames()) {
        for (int iter = 0; iter < 1500; ++iter) {
            Bytes f = seed;
            for (std::size_t n = pick(3); n > 0; --n) {
                f[pick(std::min<std::size_t>(f.size() - 1, 140))] = static_cast<std::uint8_t>(pick(255));
            }
            if (pick(4) == 0) {
                f.resize(pick(f.size()));
            }
            GsoRequest r;
            r.gso_type = types[pick(types.size() - 1)];
            r.gso_size = static_cast<std::uint16_t>(pick(3) == 0 ? pick(16) : pick(2000));
            r.hdr_len = static_cast<std::uint16_t>(pick(200));
            r.hdr_len_exact = pick(1) == 0;
            r.max_segments = 256;
            const HeapBytes frame(f);
            const HeapBytes scratch(Bytes(pick(3000)));
            std::size_t count = 0;
            const auto result = segment(frame.span(), r, scratch.span(), [&](std::span<const std::uint8_t> out) {
                ++count;
                REQUIRE(out.size() <= scratch.size);
                const FrameInfo i = parse_frame(out);
                REQUIRE(i.l3 != L3::unknown);
                CHECK(i.ip_end == out.size());
                if (i.l3 == L3::ipv4) {
                    CHECK(ref_checksum(out.subspan(i.l3_offset, i.l3_len)) == 0);
                }
            });
            if (result) {
                CHECK(*result == count);
                emitted += count;
            } else {
                CHECK(count == 0);
                ++refused;
            }
        }
    }
    // Both outcomes were exercised.
    CHECK(emitted > 1000);
    CHECK(refused > 1000);
}

TEST_CASE("hostile: random bytes through parsing, hashing, filtering and checksum completion",
    "[net][hostile]")
{
    std::mt19937 rng(7);
    const auto pick = [&rng](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n)(rng); };
    const std::array<std::uint8_t, 40> key {};
    RxFilter filter(MAC_A);
    filter.set_promiscuous(false);
    filter.set_vlan_filtering(true);
    const std::vector<Bytes> seeds = seed_frames();
    for (int iter = 0; iter < 6000; ++iter) {
        Bytes f = seeds[pick(seeds.size() - 1)];
        f.resize(std::min<std::size_t>(f.size(), 256)); // the prefix a device copies
        for (std::size_t n = pick(6); n > 0; --n) {
            f[pick(f.size() - 1)] = static_cast<std::uint8_t>(pick(255));
        }
        f.resize(pick(f.size()));
        const HeapBytes b(f);
        const FrameInfo i = parse_frame(b.span(), b.size + pick(3000));
        const HashResult h = compute_hash(b.span(), i, static_cast<std::uint32_t>(pick(0x1ff)), key);
        CHECK(h.report <= VIRTIO_NET_HASH_REPORT_UDPv6_EX);
        (void)filter.accept(b.span());
        (void)complete_checksum(b.span(), static_cast<std::uint16_t>(pick(300)), static_cast<std::uint16_t>(pick(300)));
    }
}
