// SPDX-License-Identifier: Apache-2.0
// FakeMsiRouter and FakeLevelLine: the platform's interrupt delivery, counted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "virtio/transport/transport_host.hpp"
#include "vmm/pci/msix.hpp"

namespace vmm::virtio::test {

// Vectors whose messages are counted by their data word: a driver that gives every vector
// distinct data (as the PciDriver does) reads per-vector counts back.
class FakeMsiRouter final : public pci::MsiRouter {
public:
    [[nodiscard]] Result<std::unique_ptr<pci::MsiVector>> allocate() override;

    // Messages delivered with data `data`, and in all.
    [[nodiscard]] std::uint32_t delivered(std::uint32_t data) const;
    [[nodiscard]] std::uint32_t delivered_total() const noexcept { return total_; }
    [[nodiscard]] std::size_t allocated() const noexcept { return allocated_; }
    // set_route() calls that reached the platform.
    [[nodiscard]] std::uint32_t route_changes() const noexcept { return route_changes_; }
    // Makes set_route() refuse messages for which this returns false (as KVM refuses some).
    void set_acceptor(std::function<bool(const pci::MsiMessage&)> accept) { accept_ = std::move(accept); }

private:
    friend class FakeMsiVector;
    std::map<std::uint32_t, std::uint32_t> delivered_;
    std::uint32_t total_ = 0;
    std::size_t allocated_ = 0;
    std::uint32_t route_changes_ = 0;
    std::function<bool(const pci::MsiMessage&)> accept_;
};

// A level-triggered line's state as the interrupt controller would see it.
struct LineState {
    bool level = false;
    std::uint32_t rising_edges = 0;
};

class FakeLevelLine final : public LevelIrqLine {
public:
    explicit FakeLevelLine(LineState* state)
        : state_(state)
    {
    }
    void set_level(bool asserted) noexcept override
    {
        if (asserted && !state_->level) {
            ++state_->rising_edges;
        }
        state_->level = asserted;
    }

private:
    LineState* state_;
};

} // namespace vmm::virtio::test
