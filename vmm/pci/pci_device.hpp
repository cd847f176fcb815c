// SPDX-License-Identifier: Apache-2.0
// PciDevice: a PCI function as the host bridge sees it (configuration space and BARs).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "vmm/base/result.hpp"
#include "vmm/pci/pci_regs.hpp"

namespace vmm::pci {

enum class BarKind : std::uint8_t {
    none,  // not implemented (or the upper half of a 64-bit BAR)
    mem32, // 32-bit memory BAR
    mem64, // 64-bit memory BAR: takes this BAR register and the next
    io,    // I/O space BAR
};

// A BAR as the device declares it. The size is a power of two: at least 16 bytes for memory
// (PCI 3.0 §6.2.5.1), 4 for I/O.
struct BarSpec {
    BarKind kind = BarKind::none;
    std::uint64_t size = 0;
    bool prefetchable = false;
};

using BarSpecs = std::array<BarSpec, BAR_COUNT>;

// What the host bridge gives a device so that its BARs decode where the guest puts them.
// Called by the device, under its own lock, whenever a BAR's decoded range changes (the guest
// moved it, or turned decoding off or on).
class BarMapper {
public:
    BarMapper() = default;
    BarMapper(const BarMapper&) = delete;
    BarMapper& operator=(const BarMapper&) = delete;
    virtual ~BarMapper() = default;

    // Route [base, base+size) of the memory or I/O space to BAR `index`. Fails when the range is
    // not usable (it overlaps another device's range): the BAR then does not decode.
    [[nodiscard]] virtual Result<> map_bar(std::uint8_t index, BarKind kind, std::uint64_t base, std::uint64_t size)
        = 0;
    virtual void unmap_bar(std::uint8_t index) noexcept = 0;
};

// One function on the bus. Configuration accesses come from the host bridge (ECAM or the
// 0xCF8/0xCFC ports), BAR accesses from the mappings the device asked its BarMapper for, both
// on vCPU threads, several at once: an implementation guards its own state.
class PciDevice {
public:
    PciDevice() = default;
    PciDevice(const PciDevice&) = delete;
    PciDevice& operator=(const PciDevice&) = delete;
    virtual ~PciDevice() = default;

    // Guest-controlled offset and width. Invariant (the host bridge checks it): the access is
    // 1, 2 or 4 bytes, naturally aligned, and inside the 4 KiB configuration space.
    virtual void config_read(std::uint32_t offset, std::span<std::byte> data) noexcept = 0;
    virtual void config_write(std::uint32_t offset, std::span<const std::byte> data) noexcept = 0;

    // Invariant (the mapping checks it): [offset, offset + size) lies inside BAR `index`.
    virtual void bar_read(std::uint8_t index, std::uint64_t offset, std::span<std::byte> data) noexcept = 0;
    virtual void bar_write(std::uint8_t index, std::uint64_t offset, std::span<const std::byte> data) noexcept = 0;

    // The BARs as declared; entry i is BAR register i.
    [[nodiscard]] virtual BarSpecs bars() const = 0;
    // The address BAR `index` holds now (0 when unassigned), decoding or not.
    [[nodiscard]] virtual std::uint64_t bar_address(std::uint8_t index) const = 0;
    // Firmware-time placement (what a BIOS does before the OS runs); before attach().
    virtual void set_bar_address(std::uint8_t index, std::uint64_t address) = 0;
    // The device is on the bus from now on: its BARs decode through `mapper`, which outlives it
    // on the bus.
    virtual void attach(BarMapper& mapper) = 0;
};

} // namespace vmm::pci
