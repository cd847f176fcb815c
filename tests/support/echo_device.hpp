// SPDX-License-Identifier: Apache-2.0
// EchoDevice: a trivial device for tests; copies each chain's readable bytes into its writable part.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "virtio/device_base.hpp"
#include "virtio/spec/wire.hpp"

namespace vmm::virtio::test {

// Device type "rng" (ID 4) is borrowed only so that transports have a valid ID to show; it
// implements the whole Device interface the way a real device would, with the canonical
// disable/pop/enable loop. For reset tests it can hold chains instead of completing them,
// standing in for asynchronous I/O that is still running.
class EchoDevice final : public DeviceBase {
public:
    static constexpr std::uint16_t MAX_QUEUE_SIZE = 256;
    static constexpr std::uint32_t MAGIC = 0x4f484345; // "ECHO"

    // virtio 1.2 §2.5: a small config space; `scratch` is writable by the driver.
    struct Config {
        le32 magic;
        le32 scratch;
    };
    static_assert(sizeof(Config) == 8 && WireType<Config>);

    // Offers the given transport features (VERSION_1 is always added).
    explicit EchoDevice(std::uint16_t queues = 2, std::uint64_t features = default_features());
    [[nodiscard]] static std::uint64_t default_features() noexcept;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    void reset_queue(std::uint16_t queue_index) noexcept override;
    [[nodiscard]] Result<> enable_queue(Queue queue) override;

    // Test controls.
    void set_hold(bool hold) noexcept { hold_ = hold; }
    [[nodiscard]] std::size_t held() const noexcept { return held_.size(); }
    // Echoes and completes the held chains on whatever queue now has their index.
    void complete_held();
    [[nodiscard]] Queue* queue(std::uint16_t index) noexcept;
    [[nodiscard]] bool active() const noexcept { return active_; }
    [[nodiscard]] std::uint64_t negotiated() const noexcept { return acked_features(); }
    // A configuration change made by the device (virtio 1.2 §2.5): new magic.
    void change_magic(std::uint32_t magic) noexcept { update_config_obj(0, le32(magic)); }

private:
    bool on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept override;
    static void echo(DescriptorChain& chain) noexcept;

    std::vector<std::optional<Queue>> queues_;
    std::vector<DescriptorChain> held_;
    bool hold_ = false;
    bool active_ = false;
};

} // namespace vmm::virtio::test
