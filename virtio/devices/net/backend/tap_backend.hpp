// SPDX-License-Identifier: Apache-2.0
// TapBackend: a Linux tap interface behind virtio-net, frames with virtio-net headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "virtio/devices/net/net_backend.hpp"

namespace vmm::virtio::net {

struct TapOptions {
    std::string name;       // the interface: attached when it exists, created otherwise
    std::size_t queues = 1; // > 1 needs (and sets) IFF_MULTI_QUEUE: one file descriptor per queue
};

// Frames cross with a 12-byte virtio_net_hdr_v1 (IFF_VNET_HDR, TUNSETVNETHDRSZ), so TSO, USO
// and partial-checksum frames pass unsegmented in both directions: the kernel takes them from
// us as they are, and TUNSETOFFLOAD tells it which ones the guest accepts on receive. Every
// descriptor is non-blocking; reads and writes happen on the loop thread, one frame per call.
class TapBackend final : public NetBackend {
public:
    // Opens /dev/net/tun once per queue and attaches to (or creates) the interface. The errors
    // say what to fix: no /dev/net/tun, no CAP_NET_ADMIN to create it, an existing interface
    // without multi_queue, a kernel without IFF_VNET_HDR.
    [[nodiscard]] static Result<std::unique_ptr<TapBackend>> create(boost::asio::io_context& io, const TapOptions& options);
    ~TapBackend() override;

    [[nodiscard]] std::size_t queues() const noexcept override;
    [[nodiscard]] bool vnet_hdr() const noexcept override { return true; }
    [[nodiscard]] Offloads offloads() const noexcept override { return supported_; }
    [[nodiscard]] Result<> set_receive_offloads(const Offloads& offloads) override;

    [[nodiscard]] IoResult send(std::size_t queue, std::span<const iovec> iov) noexcept override;
    [[nodiscard]] IoResult receive(std::size_t queue, std::span<const iovec> iov) noexcept override;
    void watch_readable(std::size_t queue, std::function<void()> ready) override;
    void watch_writable(std::size_t queue, std::function<void()> ready) override;
    void stop_watching() noexcept override;

    [[nodiscard]] bool link_up() const noexcept override { return link_up_; }
    void on_link_change(std::function<void(bool up)> changed) override { on_link_ = std::move(changed); }

    [[nodiscard]] std::string describe() const override;
    [[nodiscard]] nlohmann::json status() const override;
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    // The TUNSETOFFLOAD bits for what a guest accepts (exposed for tests).
    [[nodiscard]] static unsigned tun_offload_flags(const Offloads& offloads) noexcept;

private:
    struct Queue;
    TapBackend(boost::asio::io_context& io, std::string name);
    void lost(int error) noexcept;
    void watch(std::size_t queue, bool write, std::function<void()> ready);

    boost::asio::io_context* io_;
    std::string name_;
    std::vector<std::unique_ptr<Queue>> queues_;
    Offloads supported_;
    Offloads receive_;
    bool link_up_ = true;
    std::function<void(bool)> on_link_;
    // Watches armed before the last stop_watching() find a newer generation and do nothing.
    std::shared_ptr<std::uint64_t> generation_;
    std::uint64_t frames_sent_ = 0;
    std::uint64_t frames_received_ = 0;
    std::uint64_t send_errors_ = 0;
    std::uint64_t receive_errors_ = 0;
};

} // namespace vmm::virtio::net
