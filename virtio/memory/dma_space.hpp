// SPDX-License-Identifier: Apache-2.0
// DmaSpace: the address space a device's DMA goes through (identity or virtio-iommu), and pins.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "virtio/memory/guest_slice.hpp"
#include "vmm/base/result.hpp"

namespace vmm::virtio {

// The direction of a DMA access, from the device's point of view: a device-readable buffer is
// resolved for read, a device-writable one for write.
enum class Access : std::uint8_t {
    read = 1,
    write = 2,
    read_write = 3,
};

[[nodiscard]] constexpr bool access_allows(Access granted, Access wanted) noexcept
{
    return (static_cast<unsigned>(granted) & static_cast<unsigned>(wanted)) == static_cast<unsigned>(wanted);
}

class DmaGenerations;

// Holds one DMA generation in use: while a pin on generation g exists, a mapping change that
// started generation g+1 is not reported complete (an IOMMU delays its UNMAP reply), so that
// host I/O still writing into slices resolved under g cannot land in memory the guest has
// already reused. Move-only; releasing is destruction or reset().
class DmaPin {
public:
    DmaPin() noexcept = default;
    DmaPin(DmaPin&& o) noexcept = default;
    DmaPin& operator=(DmaPin&& o) noexcept;
    DmaPin(const DmaPin&) = delete;
    DmaPin& operator=(const DmaPin&) = delete;
    ~DmaPin();

    [[nodiscard]] bool active() const noexcept { return state_ != nullptr; }
    [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
    void reset() noexcept;

private:
    friend class DmaGenerations;
    struct State;
    DmaPin(std::shared_ptr<State> state, std::uint64_t generation) noexcept;

    std::shared_ptr<State> state_;
    std::uint64_t generation_ = 0;
};

// The generation counter a DmaSpace implementation keeps, plus the pins taken on it.
// Loop thread only: asynchronous I/O posts its completion (and so its pin release) back to the
// loop, and virtio-iommu requests run there too.
class DmaGenerations {
public:
    DmaGenerations();

    [[nodiscard]] std::uint64_t current() const noexcept;
    // A mapping changed: ring and buffer translations resolved before now are stale.
    std::uint64_t advance() noexcept;
    [[nodiscard]] DmaPin pin() const;
    // Pins held on generations older than `generation`.
    [[nodiscard]] std::size_t pins_before(std::uint64_t generation) const noexcept;
    // Runs `done` once no pin older than `generation` remains: at once if there is none, else
    // when the last such pin is released.
    void when_released(std::uint64_t generation, std::function<void()> done);

private:
    std::shared_ptr<DmaPin::State> state_;
};

// What a device (and its queues) sees of memory. DirectDma: identity onto guest RAM, used when
// VIRTIO_F_ACCESS_PLATFORM is not negotiated. An IOMMU implementation translates one
// endpoint's IOVAs. Devices and queues hold a const DmaSpace& picked by the transport at
// FEATURES_OK and never see which one it is.
//
// Lifetime: a SliceList is valid until the current loop handler returns. Anything that keeps
// slices across loop turns (io_uring, AIO) must hold a pin() until its I/O completes.
class DmaSpace {
public:
    DmaSpace() = default;
    DmaSpace(const DmaSpace&) = delete;
    DmaSpace& operator=(const DmaSpace&) = delete;
    virtual ~DmaSpace() = default;

    // All of [addr, addr+len) as host slices in address order, or an error (unmapped, no
    // permission for `access`, or addr+len wraps). len 0 gives an empty list.
    [[nodiscard]] virtual Result<SliceList> resolve(std::uint64_t addr, std::uint64_t len,
        Access access) const = 0;
    // The same, appended to `out`: true on success; on failure false, with `out` as it was.
    // The per-descriptor path of chain validation, so it builds no Result and no temporary
    // list where an implementation can avoid it; this default goes through resolve().
    [[nodiscard]] virtual bool append(std::uint64_t addr, std::uint64_t len, Access access,
        SliceListBase& out) const;
    // Changes whenever a translation may have changed; cached translations tagged with an
    // older value must be resolved again.
    [[nodiscard]] virtual std::uint64_t generation() const noexcept = 0;
    [[nodiscard]] virtual DmaPin pin() const = 0;
};

} // namespace vmm::virtio
