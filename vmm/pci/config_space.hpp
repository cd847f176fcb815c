// SPDX-License-Identifier: Apache-2.0
// ConfigSpace: a type-0 configuration header, its BARs and its capability list.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "vmm/pci/pci_device.hpp"

namespace vmm::pci {

// What a function reports about itself in its header.
struct PciIds {
    std::uint16_t vendor = 0;
    std::uint16_t device = 0;
    std::uint8_t revision = 0;
    std::uint32_t class_code = 0; // base class << 16 | subclass << 8 | programming interface
    std::uint16_t subsystem_vendor = 0;
    std::uint16_t subsystem = 0;
    std::uint8_t interrupt_pin = 0; // 0: none; 1..4: INTA#..INTD#
};

// The 4 KiB configuration space of one type-0 function (PCI 3.0 §6.1): the header bytes with
// the bits a driver may write, the BAR registers with their sizing behaviour, and a capability
// list in the conventional space. The extended space (0x100 and up) holds no capability and
// reads as zero, which PCIe defines as an empty extended capability list.
//
// Not thread-safe: the device that owns it serialises accesses (under its lock).
//
// BAR decoding: after attach(), every write that changes where a BAR decodes (a new address,
// the memory or I/O enable bit in the command register) moves the BAR's mapping through the
// BarMapper and then tells the device through `on_moved`, so that it can move whatever else
// depends on the address (ioeventfds).
class ConfigSpace {
public:
    using MovedHook = std::function<void(std::uint8_t index, std::optional<std::uint64_t> base)>;

    explicit ConfigSpace(const PciIds& ids) noexcept;

    // Declares BAR `index` (a 64-bit BAR also takes index + 1), before attach(). A spec that
    // breaks the rules (size not a power of two, too small, a 64-bit BAR in register 5) is a
    // VMM bug and aborts.
    void set_bar(std::uint8_t index, const BarSpec& spec);
    [[nodiscard]] const BarSpecs& bars() const noexcept { return bars_; }

    // Appends a capability: `cap` is the whole structure from its ID byte on (the next pointer
    // is filled in here); `writable` optionally gives, per byte of `cap`, the bits a driver may
    // write. Returns its offset, or nullopt when the conventional space has no room left.
    [[nodiscard]] std::optional<std::uint8_t> add_capability(
        std::span<const std::uint8_t> cap, std::span<const std::uint8_t> writable = {});

    // Guest accesses. Invariant: offset + data.size() <= CONFIG_SPACE_SIZE.
    void read(std::uint32_t offset, std::span<std::byte> data) const noexcept;
    void write(std::uint32_t offset, std::span<const std::byte> data) noexcept;

    // The device's own view of its bytes (little-endian, `width` 1, 2 or 4), without masks.
    [[nodiscard]] std::uint32_t get(std::uint32_t offset, std::size_t width) const noexcept;
    void set(std::uint32_t offset, std::size_t width, std::uint32_t value) noexcept;

    [[nodiscard]] std::uint16_t command() const noexcept { return static_cast<std::uint16_t>(get(COMMAND, 2)); }
    // Status bit 3: the function's INTx is pending (whether or not it is masked).
    void set_interrupt_status(bool pending) noexcept;

    // The address the BAR holds (0: unassigned); writable bits only.
    [[nodiscard]] std::uint64_t bar_address(std::uint8_t index) const noexcept;
    // Firmware-time placement; the address is masked as a guest write would be.
    void set_bar_address(std::uint8_t index, std::uint64_t address) noexcept;
    // Where BAR `index` should decode now: nullopt when it is not implemented, its space is
    // disabled in the command register, or it holds address 0.
    [[nodiscard]] std::optional<std::uint64_t> decoded_bar(std::uint8_t index) const noexcept;
    // Where it does decode: as decoded_bar(), unless the mapper refused the range.
    [[nodiscard]] std::optional<std::uint64_t> mapped_bar(std::uint8_t index) const noexcept { return mapped_[index]; }

    // Starts decode tracking (maps whatever already decodes).
    void attach(BarMapper& mapper, MovedHook on_moved);

private:
    // The BAR register `reg` (0..5) belongs to: its own index, index - 1 for the upper half of a
    // 64-bit BAR, or nullopt when unimplemented.
    [[nodiscard]] std::optional<std::uint8_t> bar_of_register(std::uint32_t reg) const noexcept;
    [[nodiscard]] std::uint32_t read_bar_register(std::uint32_t reg) const noexcept;
    void write_bar_register(std::uint32_t reg, std::uint32_t value) noexcept;
    [[nodiscard]] std::uint64_t bar_mask(std::uint8_t index) const noexcept;
    void sync_bars() noexcept;

    std::array<std::uint8_t, CONFIG_SPACE_SIZE> bytes_ {};
    std::array<std::uint8_t, CONFIG_SPACE_SIZE> writable_ {};
    BarSpecs bars_ {};
    std::array<std::uint64_t, BAR_COUNT> bar_address_ {};
    std::array<std::optional<std::uint64_t>, BAR_COUNT> mapped_ {};
    BarMapper* mapper_ = nullptr;
    MovedHook on_moved_;
    std::uint32_t last_cap_ = 0; // offset of the last capability; 0: none yet
    std::uint32_t next_cap_ = CAPABILITIES_START;
};

} // namespace vmm::pci
