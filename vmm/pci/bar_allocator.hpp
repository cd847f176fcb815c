// SPDX-License-Identifier: Apache-2.0
// BarAllocator: assigns BAR addresses before the guest runs, the way firmware would.
#pragma once

#include <cstdint>

#include "vmm/base/result.hpp"
#include "vmm/pci/pci_device.hpp"

namespace vmm::pci {

// An address window the host bridge forwards to its bus.
struct Window {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
};

// Places memory BARs at natural alignment: 32-bit BARs in the 32-bit window, 64-bit BARs in the
// 64-bit window above RAM (the guest may move them later; this is only the initial layout).
// Addresses are handed out upwards and never reused: devices are not unplugged.
class BarAllocator {
public:
    BarAllocator(Window mmio32, Window mmio64) noexcept;

    [[nodiscard]] Result<std::uint64_t> allocate(const BarSpec& bar);
    // Every BAR of `device`, largest first (the least alignment padding), via set_bar_address().
    [[nodiscard]] Result<> assign(PciDevice& device);

    [[nodiscard]] const Window& mmio32() const noexcept { return mmio32_; }
    [[nodiscard]] const Window& mmio64() const noexcept { return mmio64_; }

private:
    struct Cursor {
        Window window;
        std::uint64_t next;
    };
    [[nodiscard]] static Result<std::uint64_t> take(Cursor& c, std::uint64_t size, const char* what);

    Window mmio32_;
    Window mmio64_;
    Cursor low_;
    Cursor high_;
};

} // namespace vmm::pci
