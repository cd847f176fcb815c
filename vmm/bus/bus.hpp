// SPDX-License-Identifier: Apache-2.0
// Address-range buses for MMIO and port I/O exits: address → device, offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>

#include "vmm/base/result.hpp"

namespace vmm {

// A device reachable through a bus. Called on vCPU threads, possibly several at once: an
// implementation guards its own state. `offset` is relative to the range's base; `data` is the
// access (1, 2, 4 or 8 bytes, guest byte order, which on x86 and arm64 is little-endian).
class BusDevice {
public:
    virtual ~BusDevice() = default;
    virtual void read(std::uint64_t offset, std::span<std::byte> data) noexcept = 0;
    virtual void write(std::uint64_t offset, std::span<const std::byte> data) noexcept = 0;
};

class Bus {
public:
    explicit Bus(std::string name) : name_(std::move(name)) {}

    // Ranges must not overlap. A device may be inserted at several ranges.
    [[nodiscard]] Result<> insert(std::shared_ptr<BusDevice> dev, std::uint64_t base, std::uint64_t len);
    // Remove the range starting at `base` (a PCI BAR being moved by the guest).
    bool remove(std::uint64_t base);

    // false: nothing there. Reads of nothing return all-ones bits, as on real buses (done by
    // the caller, which knows the access).
    bool read(std::uint64_t addr, std::span<std::byte> data) const noexcept;
    bool write(std::uint64_t addr, std::span<const std::byte> data) const noexcept;

    [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
    struct Range {
        std::uint64_t len;
        std::shared_ptr<BusDevice> dev;
    };
    // Looks up the device for [addr, addr+size); size must fit inside the range.
    std::shared_ptr<BusDevice> find(std::uint64_t addr, std::size_t size, std::uint64_t* offset) const;

    std::string name_;
    mutable std::shared_mutex mutex_;
    std::map<std::uint64_t, Range> ranges_; // key: base
};

} // namespace vmm
