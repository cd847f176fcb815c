// SPDX-License-Identifier: Apache-2.0
// Spec constants and helpers: feature bits, device types, vring_need_event, notification data.
#include <catch2/catch.hpp>

#include "virtio/queue/notification_data.hpp"
#include "virtio/spec/device_types.hpp"
#include "virtio/spec/features.hpp"
#include "virtio/spec/ring.hpp"

using namespace vmm::virtio;

TEST_CASE("feature bit numbers match virtio 1.2 §6", "[virtio][spec]")
{
    CHECK(VIRTIO_F_INDIRECT_DESC == 28);
    CHECK(VIRTIO_F_EVENT_IDX == 29);
    CHECK(VIRTIO_F_VERSION_1 == 32);
    CHECK(VIRTIO_F_ACCESS_PLATFORM == 33);
    CHECK(VIRTIO_F_RING_PACKED == 34);
    CHECK(VIRTIO_F_IN_ORDER == 35);
    CHECK(VIRTIO_F_ORDER_PLATFORM == 36);
    CHECK(VIRTIO_F_SR_IOV == 37);
    CHECK(VIRTIO_F_NOTIFICATION_DATA == 38);
    CHECK(VIRTIO_F_NOTIF_CONFIG_DATA == 39);
    CHECK(VIRTIO_F_RING_RESET == 40);
    CHECK(feature_bit(VIRTIO_F_VERSION_1) == 0x1'0000'0000);
    CHECK(feature_bit(64) == 0);
    CHECK(has_feature(feature_bit(VIRTIO_F_RING_RESET), VIRTIO_F_RING_RESET));
    CHECK(TRANSPORT_FEATURES_MASK == 0x3ff'ff00'0000);
}

TEST_CASE("device status bits match virtio 1.2 §2.1", "[virtio][spec]")
{
    CHECK(VIRTIO_CONFIG_S_ACKNOWLEDGE == 1);
    CHECK(VIRTIO_CONFIG_S_DRIVER == 2);
    CHECK(VIRTIO_CONFIG_S_DRIVER_OK == 4);
    CHECK(VIRTIO_CONFIG_S_FEATURES_OK == 8);
    CHECK(VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET == 64);
    CHECK(VIRTIO_CONFIG_S_FAILED == 128);
}

TEST_CASE("device type IDs and names match virtio 1.2 §5", "[virtio][spec]")
{
    CHECK(static_cast<std::uint32_t>(DeviceType::net) == 1);
    CHECK(static_cast<std::uint32_t>(DeviceType::iommu) == 23);
    CHECK(static_cast<std::uint32_t>(DeviceType::gpio) == 41);
    CHECK(to_string(DeviceType::block) == "block");
    CHECK(to_string(static_cast<DeviceType>(14)) == "unknown");
}

TEST_CASE("split ring sizes follow the virtio 1.2 §2.7 table", "[virtio][spec]")
{
    CHECK(split_desc_table_size(256) == 4096);
    CHECK(split_avail_ring_size(256) == 6 + 512);
    CHECK(split_used_ring_size(256) == 6 + 2048);
    CHECK(split_used_event_offset(256) == 4 + 512);
    CHECK(split_avail_event_offset(256) == 4 + 2048);
    CHECK(packed_desc_ring_size(3) == 48);
}

TEST_CASE("vring_need_event fires exactly when the event index is in the published window", "[virtio][spec]")
{
    CHECK(vring_need_event(0, 1, 0));
    CHECK_FALSE(vring_need_event(1, 1, 0));
    CHECK(vring_need_event(4, 6, 2));
    CHECK_FALSE(vring_need_event(6, 6, 2));
    CHECK(vring_need_event(0xffff, 1, 0xfffe)); // across the 16-bit wrap
    CHECK_FALSE(vring_need_event(0x1000, 5, 0));
}

TEST_CASE("notification data decodes vqn, next_off and next_wrap (virtio 1.2 §2.9)", "[virtio][spec]")
{
    const auto d = decode_notification_data(0x8005'0003);

    CHECK(d.vqn == 3);
    CHECK(d.next_off == 5);
    CHECK(d.next_wrap);
    CHECK(d.split_avail_idx() == 0x8005);
    CHECK(encode_notification_data(d) == 0x8005'0003);
}
