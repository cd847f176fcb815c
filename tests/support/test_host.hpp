// SPDX-License-Identifier: Apache-2.0
// TestHost: a TransportHost without KVM or threads, and a bus front end that acts like KVM.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "virtio/transport/transport_host.hpp"
#include "vmm/bus/bus.hpp"

namespace vmm::virtio::test {

// Runs "loop" work at once on the calling thread, and kick handlers as soon as they are
// signalled: a single-threaded stand-in for the event loop.
class TestHost final : public TransportHost {
public:
    struct Binding {
        QueueKick* kick = nullptr;
        std::uint64_t addr = 0;
        std::uint32_t len = 0;
        std::optional<std::uint64_t> match;
    };

    void run_on_loop(const std::function<void()>& f) override
    {
        ++loop_calls_;
        f();
    }
    [[nodiscard]] Result<std::unique_ptr<QueueKick>> make_kick(std::function<void()> handler) override;
    // No loop unless a test gives one (devices with host sockets need its io_context; the
    // test runs it).
    [[nodiscard]] EventLoop* loop() noexcept override { return loop_; }
    void set_loop(EventLoop* loop) noexcept { loop_ = loop; }

    [[nodiscard]] std::uint32_t loop_calls() const noexcept { return loop_calls_; }
    [[nodiscard]] const std::vector<Binding>& bindings() const noexcept { return bindings_; }

    // What KVM does with a guest MMIO write: an ioeventfd binding that matches signals its kick
    // without an exit; anything else is dispatched on the bus. Returns false when nothing
    // claimed the write.
    bool mmio_write(const Bus& bus, std::uint64_t addr, std::span<const std::byte> data);

private:
    friend class TestKick;
    void set_binding(QueueKick* kick, std::optional<Binding> binding);

    std::vector<Binding> bindings_;
    std::uint32_t loop_calls_ = 0;
    EventLoop* loop_ = nullptr;
};

// Counts edges.
class CountingIrqLine final : public IrqLine {
public:
    explicit CountingIrqLine(std::uint32_t* counter) : counter_(counter) {}
    void trigger() noexcept override { ++*counter_; }

private:
    std::uint32_t* counter_;
};

} // namespace vmm::virtio::test
