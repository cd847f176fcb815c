// SPDX-License-Identifier: Apache-2.0
// DMA generations and pins.
#include "virtio/memory/dma_space.hpp"

#include <algorithm>
#include <utility>

namespace vmm::virtio {

struct DmaPin::State {
    std::uint64_t generation = 1;
    // (generation, pins held) in generation order, no zero counts. Pins are taken on the
    // current generation, so this holds one or two entries and a pin costs no allocation
    // once the vector has grown.
    std::vector<std::pair<std::uint64_t, std::size_t>> pins;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> waiters;

    [[nodiscard]] std::size_t pins_before(std::uint64_t g) const noexcept
    {
        std::size_t n = 0;
        for (auto it = pins.begin(); it != pins.end() && it->first < g; ++it) {
            n += it->second;
        }
        return n;
    }

    void take(std::uint64_t g)
    {
        // Invariant: g is the current generation, never below the last entry's.
        if (pins.empty() || pins.back().first != g) {
            pins.emplace_back(g, 0);
        }
        ++pins.back().second;
    }

    void release(std::uint64_t g)
    {
        auto it = std::find_if(pins.begin(), pins.end(), [g](const auto& p) { return p.first == g; });
        if (it == pins.end()) {
            return;
        }
        if (--it->second == 0) {
            pins.erase(it);
        }
        if (waiters.empty()) {
            return;
        }
        // Run the waiters that became free; a callback may add new waiters or pins, so take
        // the ready ones out first.
        std::vector<std::function<void()>> ready;
        for (auto w = waiters.begin(); w != waiters.end();) {
            if (pins_before(w->first) == 0) {
                ready.push_back(std::move(w->second));
                w = waiters.erase(w);
            } else {
                ++w;
            }
        }
        for (auto& f : ready) {
            f();
        }
    }
};

bool DmaSpace::append(std::uint64_t addr, std::uint64_t len, Access access, SliceListBase& out) const
{
    auto slices = resolve(addr, len, access);
    if (!slices) {
        return false;
    }
    out.insert(out.end(), slices->begin(), slices->end());
    return true;
}

DmaPin::DmaPin(std::shared_ptr<State> state, std::uint64_t generation) noexcept
    : state_(std::move(state))
    , generation_(generation)
{
}

DmaPin& DmaPin::operator=(DmaPin&& o) noexcept
{
    if (this != &o) {
        reset();
        state_ = std::move(o.state_);
        generation_ = o.generation_;
    }
    return *this;
}

DmaPin::~DmaPin()
{
    reset();
}

void DmaPin::reset() noexcept
{
    if (state_) {
        auto state = std::move(state_);
        state->release(generation_);
    }
}

DmaGenerations::DmaGenerations() : state_(std::make_shared<DmaPin::State>()) {}

std::uint64_t DmaGenerations::current() const noexcept
{
    return state_->generation;
}

std::uint64_t DmaGenerations::advance() noexcept
{
    return ++state_->generation;
}

DmaPin DmaGenerations::pin() const
{
    state_->take(state_->generation);
    return DmaPin(state_, state_->generation);
}

std::size_t DmaGenerations::pins_before(std::uint64_t generation) const noexcept
{
    return state_->pins_before(generation);
}

void DmaGenerations::when_released(std::uint64_t generation, std::function<void()> done)
{
    if (state_->pins_before(generation) == 0) {
        done();
        return;
    }
    state_->waiters.emplace_back(generation, std::move(done));
}

} // namespace vmm::virtio
