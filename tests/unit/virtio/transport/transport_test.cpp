// SPDX-License-Identifier: Apache-2.0
// Both transports, driven through their registers: negotiation, status, queues, resets, faults.
#include <catch2/catch.hpp>

#include "tests/support/echo_device.hpp"
#include "tests/support/transport_rig.hpp"
#include "virtio/devices/balloon/balloon.hpp"

namespace vmm::virtio::test {
namespace {

constexpr std::uint8_t STATUS_ACK_DRIVER = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

std::unique_ptr<TransportRig> echo_rig(RigTransport t, TransportOptions options = {})
{
    return make_rig(t, std::make_unique<EchoDevice>(), std::move(options));
}

// Brings the echo device up with two split queues of 8 and returns them.
struct RunningDevice {
    explicit RunningDevice(TransportRig& rig, std::uint64_t wanted = 0)
        : q0(rig.guest, 8)
        , q1(rig.guest, 8)
    {
        accepted = rig.driver().negotiate(wanted);
        REQUIRE(accepted);
        rig.driver().setup_queue(0, q0);
        rig.driver().setup_queue(1, q1);
        rig.driver().driver_ok();
        REQUIRE(rig.driver().status() == (STATUS_ACK_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK));
    }
    DriverSplitQueue q0;
    DriverSplitQueue q1;
    std::optional<std::uint64_t> accepted;
};

// Sends "ping" through queue 0 and returns the used entry, if any.
std::optional<UsedEntry> ping(TransportRig& rig, DriverSplitQueue& q, std::uint16_t index = 0)
{
    const auto payload = bytes_of("ping");
    const std::uint64_t in = rig.guest.alloc(4);
    const std::uint64_t out = rig.guest.alloc(4);
    rig.guest.write(in, payload);
    q.add({ readable(in, 4), writable(out, 4) });
    rig.driver().notify(index);
    auto used = q.pop_used();
    if (used) {
        CHECK(rig.guest.read(out, 4) == payload);
    }
    return used;
}

} // namespace

TEST_CASE("the device offers VERSION_1 and the virtqueue features every device gets", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);

        const std::uint64_t f = rig->driver().device_features();

        CHECK(has_feature(f, VIRTIO_F_VERSION_1));
        CHECK(has_feature(f, VIRTIO_F_INDIRECT_DESC));
        CHECK(has_feature(f, VIRTIO_F_EVENT_IDX));
        CHECK(has_feature(f, VIRTIO_F_RING_PACKED));
        CHECK_FALSE(has_feature(f, VIRTIO_F_ACCESS_PLATFORM));
        CHECK(rig->driver().device_id() == static_cast<std::uint32_t>(DeviceType::rng));
    }
}

TEST_CASE("FEATURES_OK does not stick when the driver accepts a feature that was not offered", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);

        const bool ok = rig->driver().negotiate_exactly(feature_bit(VIRTIO_F_VERSION_1) | feature_bit(5));

        CHECK_FALSE(ok);
        CHECK(rig->driver().status() == STATUS_ACK_DRIVER);
    }
}

TEST_CASE("an injected refusal makes FEATURES_OK fail until it is lifted", "[virtio][transport][faults]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        rig->core().set_refuse_features_ok(true);
        CHECK_FALSE(rig->driver().negotiate(0));
        CHECK(rig->driver().status() == STATUS_ACK_DRIVER);
        rig->driver().set_status(0);
        rig->core().set_refuse_features_ok(false);
        RunningDevice running(*rig);
        CHECK(ping(*rig, running.q0));
    }
}

TEST_CASE("an injected DEVICE_NEEDS_RESET on a running device goes away with a reset", "[virtio][transport][faults]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        {
            RunningDevice running(*rig);
            rig->core().signal_needs_reset();
            CHECK(rig->driver().needs_reset());
            rig->driver().set_status(0);
            CHECK_FALSE(rig->driver().needs_reset());
        }
        RunningDevice again(*rig);
        CHECK(ping(*rig, again.q0));
    }
}

TEST_CASE("FEATURES_OK does not stick without VERSION_1", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);

        CHECK_FALSE(rig->driver().negotiate_exactly(feature_bit(VIRTIO_F_EVENT_IDX)));
    }
}

TEST_CASE("a device behind the IOMMU offers ACCESS_PLATFORM and refuses FEATURES_OK without it", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        FakeGuest other;
        TransportOptions options;
        options.dma.translated = &other.dma();
        auto rig = echo_rig(t, options);

        CHECK(has_feature(rig->driver().device_features(), VIRTIO_F_ACCESS_PLATFORM));
        CHECK_FALSE(rig->driver().negotiate_exactly(feature_bit(VIRTIO_F_VERSION_1)));
        CHECK(rig->driver().negotiate_exactly(feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_ACCESS_PLATFORM)));
    }
}

TEST_CASE("behind the IOMMU a balloon driver may decline ACCESS_PLATFORM and use guest-physical addresses",
    "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        FakeGuest other;
        TransportOptions options;
        options.dma.translated = &other.dma();
        auto rig = make_rig(t, std::make_unique<balloon::BalloonDevice>(other.memory(), balloon::BalloonOptions {}),
            std::move(options));

        CHECK(has_feature(rig->driver().device_features(), VIRTIO_F_ACCESS_PLATFORM));
        // What Linux's virtballoon_validate() leaves: no ACCESS_PLATFORM.
        CHECK(rig->driver().negotiate_exactly(feature_bit(VIRTIO_F_VERSION_1)));
        CHECK(rig->core().negotiated_features() == feature_bit(VIRTIO_F_VERSION_1));
    }
}

TEST_CASE("driver features written after FEATURES_OK are ignored", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        REQUIRE(rig->driver().negotiate(0));

        rig->driver().set_driver_features(feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_EVENT_IDX));

        CHECK(rig->core().negotiated_features() == feature_bit(VIRTIO_F_VERSION_1));
    }
}

TEST_CASE("a request goes through a split queue and raises a used-buffer interrupt", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);

        auto used = ping(*rig, run.q0);

        REQUIRE(used);
        CHECK(used->len == 4);
        CHECK(rig->driver().queue_interrupts(0) == 1);
    }
}

TEST_CASE("a request goes through a packed queue", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        REQUIRE(rig->driver().negotiate(feature_bit(VIRTIO_F_RING_PACKED)));
        DriverPackedQueue q0(rig->guest, 8);
        DriverPackedQueue q1(rig->guest, 8);
        rig->driver().setup_queue(0, q0);
        rig->driver().setup_queue(1, q1);
        rig->driver().driver_ok();
        const std::uint64_t in = rig->guest.alloc(4);
        const std::uint64_t out = rig->guest.alloc(4);
        rig->guest.write(in, bytes_of("pong"));
        q1.add({ readable(in, 4), writable(out, 4) });

        rig->driver().notify(1);

        auto used = q1.pop_used();
        REQUIRE(used);
        CHECK(used->len == 4);
        CHECK(rig->guest.read(out, 4) == bytes_of("pong"));
    }
}

TEST_CASE("queue notifies reach the device through the ioeventfd, not as trapped writes", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);

        REQUIRE(ping(*rig, run.q0));
        REQUIRE(ping(*rig, run.q1, 1));

        CHECK(rig->core().trapped_notifies() == 0);
        CHECK(rig->core().kicked_notifies() == 2);
    }
}

TEST_CASE("buffers made available before DRIVER_OK are used once the device starts", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        REQUIRE(rig->driver().negotiate(0));
        DriverSplitQueue q0(rig->guest, 8);
        DriverSplitQueue q1(rig->guest, 8);
        rig->driver().setup_queue(0, q0);
        rig->driver().setup_queue(1, q1);
        const std::uint64_t in = rig->guest.alloc(4);
        const std::uint64_t out = rig->guest.alloc(4);
        q0.add({ readable(in, 4), writable(out, 4) });
        rig->driver().notify(0); // before DRIVER_OK: nothing runs yet
        REQUIRE_FALSE(q0.pop_used());

        rig->driver().driver_ok();

        CHECK(q0.pop_used());
    }
}

TEST_CASE("a notify for a queue that does not exist is ignored", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);

        rig->driver().notify(7);
        rig->driver().notify(0xffff);

        CHECK_FALSE(rig->driver().needs_reset());
        CHECK(ping(*rig, run.q0));
    }
}

TEST_CASE("DRIVER_OK without FEATURES_OK sets DEVICE_NEEDS_RESET and notifies a config change", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        rig->driver().set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
        rig->driver().set_status(STATUS_ACK_DRIVER);

        rig->driver().set_status(STATUS_ACK_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);

        CHECK(rig->driver().needs_reset());
        CHECK(rig->driver().config_interrupts() == 1);
        CHECK_FALSE(rig->device<EchoDevice>().active());
    }
}

TEST_CASE("a queue the driver misconfigured fails activation with DEVICE_NEEDS_RESET", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        REQUIRE(rig->driver().negotiate(0));
        DriverSplitQueue q0(rig->guest, 8);
        // The used ring must be 4-byte aligned (virtio 1.2 §2.7).
        rig->driver().set_queue(0, 8, q0.desc_addr(), q0.avail_addr(), q0.used_addr() + 2);
        rig->driver().set_queue_ready(0, true);

        rig->driver().driver_ok();

        CHECK(rig->driver().needs_reset());
        CHECK(rig->driver().config_interrupts() == 1);
    }
}

TEST_CASE("a queue outside guest RAM fails activation instead of being touched", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        REQUIRE(rig->driver().negotiate(0));
        rig->driver().set_queue(0, 8, FakeGuest::HOLE_BASE, FakeGuest::HOLE_BASE + 0x1000, FakeGuest::HOLE_BASE + 0x2000);
        rig->driver().set_queue_ready(0, true);

        rig->driver().driver_ok();

        CHECK(rig->driver().needs_reset());
    }
}

TEST_CASE("a queue fault at run time sets DEVICE_NEEDS_RESET; reset and re-init make the device work again",
    "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        {
            RunningDevice run(*rig);
            // The avail index runs 9 ahead of an 8-entry ring.
            run.q0.set_avail_idx(9);
            rig->driver().notify(0);
            REQUIRE(rig->driver().needs_reset());
            CHECK(rig->driver().config_interrupts() == 1);
        }

        RunningDevice again(*rig);

        CHECK_FALSE(rig->driver().needs_reset());
        CHECK(ping(*rig, again.q0));
    }
}

TEST_CASE("a reset returns status, queues and features to their initial values", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);

        rig->driver().set_status(0);

        CHECK(rig->driver().status() == 0);
        CHECK_FALSE(rig->driver().queue_ready(0));
        CHECK_FALSE(rig->driver().queue_ready(1));
        CHECK(rig->driver().queue_max(0) == EchoDevice::MAX_QUEUE_SIZE);
        CHECK(rig->core().negotiated_features() == 0);
        CHECK_FALSE(rig->device<EchoDevice>().active());
    }
}

TEST_CASE("after a reset nothing the device held is written back into guest memory", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);
        rig->device<EchoDevice>().set_hold(true);
        const std::uint64_t in = rig->guest.alloc(4);
        const std::uint64_t out = rig->guest.alloc(4);
        rig->guest.write(in, bytes_of("late"));
        run.q0.add({ readable(in, 4), writable(out, 4) });
        rig->driver().notify(0);
        REQUIRE(rig->device<EchoDevice>().held() == 1);

        rig->driver().set_status(0);
        rig->device<EchoDevice>().complete_held();

        CHECK(rig->guest.read(out, 4) == std::vector<std::byte>(4));
        CHECK(run.q0.used_idx() == 0);
    }
}

TEST_CASE("clearing status bits without a reset is ignored", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);

        rig->driver().set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);

        CHECK(rig->driver().status() == (STATUS_ACK_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK));
        CHECK(ping(*rig, run.q0));
    }
}

TEST_CASE("queue registers written through the transport while the queue is enabled are ignored", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);

        rig->driver().set_queue(0, 4, 0, 0, 0);

        const QueueConfig* q = rig->core().queue(0);
        CHECK(q->size() == 8);
        CHECK(q->desc_addr() == run.q0.desc_addr());
        CHECK(ping(*rig, run.q0));
    }
}

TEST_CASE("a queue reset stops one queue, reads back as done, and the queue restarts with new rings",
    "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig, feature_bit(VIRTIO_F_RING_RESET));
        REQUIRE(has_feature(*run.accepted, VIRTIO_F_RING_RESET));

        rig->driver().reset_queue(0);

        CHECK_FALSE(rig->driver().queue_reset_pending(0));
        CHECK_FALSE(rig->driver().queue_ready(0));
        CHECK(ping(*rig, run.q1, 1));
        DriverSplitQueue fresh(rig->guest, 4);
        rig->driver().setup_queue(0, fresh);
        CHECK(rig->driver().queue_ready(0));
        CHECK(ping(*rig, fresh));
    }
}

TEST_CASE("a queue reset without VIRTIO_F_RING_RESET negotiated is ignored", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);

        rig->driver().reset_queue(0);

        CHECK(rig->driver().queue_ready(0));
        CHECK(ping(*rig, run.q0));
    }
}

TEST_CASE("config space reads past the end are zero and writes reach the device", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        const std::uint32_t scratch = 0x1234'5678;

        rig->driver().write_config(4, std::as_bytes(std::span(&scratch, 1)));

        CHECK(rig->driver().read_config_obj<le32>(0).get() == EchoDevice::MAGIC);
        CHECK(rig->driver().read_config_obj<le32>(4).get() == scratch);
        CHECK(rig->driver().read_config_obj<le32>(8).get() == 0);
        CHECK(rig->driver().read_config_obj<le32>(0x200).get() == 0);
        CHECK(rig->core().conformance().total() == 0); // scratch is writable
    }
}

TEST_CASE("a config change by the device bumps the generation and raises a config interrupt",
    "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        RunningDevice run(*rig);
        const std::uint32_t before = rig->driver().config_generation();

        rig->device<EchoDevice>().change_magic(7);

        CHECK(rig->driver().config_generation() != before);
        CHECK(rig->driver().read_config_obj<le32>(0).get() == 7);
        CHECK(rig->driver().config_interrupts() == 1);
    }
}

TEST_CASE("notification data is accepted when negotiated and names the queue", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        TransportOptions options;
        options.notification_data = true;
        auto rig = echo_rig(t, options);
        RunningDevice run(*rig, feature_bit(VIRTIO_F_NOTIFICATION_DATA));
        REQUIRE(has_feature(*run.accepted, VIRTIO_F_NOTIFICATION_DATA));
        const std::uint64_t in = rig->guest.alloc(4);
        const std::uint64_t out = rig->guest.alloc(4);
        run.q1.add({ readable(in, 4), writable(out, 4) });

        // vqn 1, next_off 1 (the avail index after this chain), no wrap.
        rig->driver().notify(1, 1U | 1U << 16);

        CHECK(run.q1.pop_used());
    }
}

TEST_CASE("many reset and re-init cycles leave a working device", "[virtio][transport]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        for (int i = 0; i < 20; ++i) {
            RunningDevice run(*rig, i % 2 == 0 ? 0 : feature_bit(VIRTIO_F_EVENT_IDX));
            REQUIRE(ping(*rig, run.q0));
        }
        CHECK(rig->core().activations() == 20);
    }
}

} // namespace vmm::virtio::test

namespace vmm::virtio::test {

TEST_CASE("a driver that follows the spec leaves the conformance log empty", "[virtio][transport][conformance]")
{
    for (auto t : all_transports()) {
        INFO(to_string(t));
        auto rig = echo_rig(t);
        {
            RunningDevice running(*rig);
            CHECK(ping(*rig, running.q0));
            rig->driver().set_status(0);
        }
        RunningDevice again(*rig);
        CHECK(ping(*rig, again.q1, 1));
        CHECK(rig->core().conformance().total() == 0);
        CHECK(rig->core().conformance().to_json().empty());
    }
}

TEST_CASE("each driver-requirement check fires for the violation it names", "[virtio][transport][conformance]")
{
    constexpr std::uint8_t FEATURES_OK = VIRTIO_CONFIG_S_FEATURES_OK;
    struct Case {
        const char* what;
        DriverRule rule;
        std::function<void(TransportRig&)> act;
    };
    const std::vector<Case> cases {
        { "accepts a feature not offered", DriverRule::feature_not_offered,
            [](TransportRig& r) { (void)r.driver().negotiate_exactly(feature_bit(VIRTIO_F_VERSION_1) | feature_bit(5)); } },
        { "leaves out VERSION_1", DriverRule::version_1_not_accepted,
            [](TransportRig& r) { (void)r.driver().negotiate_exactly(feature_bit(VIRTIO_F_EVENT_IDX)); } },
        { "writes features after FEATURES_OK", DriverRule::features_after_features_ok,
            [](TransportRig& r) {
                REQUIRE(r.driver().negotiate(0));
                r.driver().set_driver_features(feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_EVENT_IDX));
            } },
        { "clears a status bit", DriverRule::status_bit_cleared,
            [](TransportRig& r) {
                r.driver().set_status(STATUS_ACK_DRIVER);
                r.driver().set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
            } },
        { "sets DRIVER_OK without FEATURES_OK", DriverRule::driver_ok_without_features_ok,
            [](TransportRig& r) { r.driver().set_status(STATUS_ACK_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK); } },
        { "goes on after FAILED without a reset", DriverRule::reinit_after_failed,
            [](TransportRig& r) {
                r.driver().set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_FAILED);
                r.driver().set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_FAILED | VIRTIO_CONFIG_S_DRIVER);
            } },
        { "notifies before DRIVER_OK", DriverRule::notify_before_driver_ok,
            [](TransportRig& r) {
                REQUIRE(r.driver().negotiate(0));
                REQUIRE((r.driver().status() & FEATURES_OK) != 0);
                r.driver().notify(0);
            } },
        { "notifies a queue that does not exist", DriverRule::notify_unknown_queue,
            [](TransportRig& r) {
                RunningDevice running(r);
                r.driver().notify(7);
            } },
        { "moves an enabled queue", DriverRule::queue_changed_while_enabled,
            [](TransportRig& r) {
                RunningDevice running(r);
                r.driver().set_queue(0, 8, 0x10000, 0x11000, 0x12000);
            } },
        { "starts again without waiting for the reset", DriverRule::reset_not_awaited,
            [](TransportRig& r) {
                r.driver().set_status(0);
                r.driver().set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
            } },
        { "writes a read-only configuration field", DriverRule::config_write_read_only,
            [](TransportRig& r) {
                const std::uint32_t magic = 0;
                r.driver().write_config(0, std::as_bytes(std::span(&magic, 1)));
                CHECK(r.driver().read_config_obj<le32>(0).get() == EchoDevice::MAGIC);
            } },
        { "makes more buffers available than the queue holds", DriverRule::more_buffers_than_queue_size,
            [](TransportRig& r) {
                RunningDevice running(r);
                running.q0.set_avail_idx(9);
                r.driver().notify(0);
            } },
        { "makes a buffer available again before the device used it", DriverRule::buffer_reused_before_used,
            [](TransportRig& r) {
                RunningDevice running(r);
                r.device<EchoDevice>().set_hold(true); // the first one stays the device's
                const auto head = running.q0.add({ writable(r.guest.alloc(4), 4) });
                r.driver().notify(0);
                running.q0.push_avail(head);
                r.driver().notify(0);
            } },
        { "puts a device-readable buffer after a writable one", DriverRule::writable_before_readable,
            [](TransportRig& r) {
                RunningDevice running(r);
                running.q0.add({ writable(r.guest.alloc(4), 4), readable(r.guest.alloc(4), 4) });
                r.driver().notify(0);
            } },
    };
    for (auto t : all_transports()) {
        for (const auto& c : cases) {
            INFO(to_string(t) << ": " << c.what);
            auto rig = echo_rig(t);
            c.act(*rig);
            if (c.rule == DriverRule::notify_before_driver_ok && rig->core().trapped_notifies() == 0) {
                // Seen only on a notify that reaches the VMM as a register write; this rig's
                // virtio-mmio notify went to its kick as an ioeventfd would take it.
                CHECK(rig->core().conformance().total() == 0);
                continue;
            }
            if (c.rule == DriverRule::reset_not_awaited && t == RigTransport::mmio) {
                // A virtio-pci rule: virtio-mmio asks for no read-back (Linux does none).
                CHECK(rig->core().conformance().total() == 0);
                continue;
            }
            if (c.rule == DriverRule::notify_unknown_queue && t == RigTransport::pci) {
                // virtio-pci has notify addresses only for the queues that exist: a write past
                // them is a write to no register, not a notify.
                CHECK(rig->core().conformance().total() == 0);
                continue;
            }
            CHECK(rig->core().conformance().count(c.rule) >= 1);
            CHECK(rig->core().conformance().total() == rig->core().conformance().count(c.rule));
            const auto j = rig->core().conformance().to_json();
            REQUIRE(j.size() == 1);
            CHECK(j[0]["rule"] == std::string(rule_info(c.rule).name));
            CHECK_FALSE(j[0]["section"].get<std::string>().empty());
        }
    }
}

} // namespace vmm::virtio::test
