// SPDX-License-Identifier: Apache-2.0
// PciHostBridge: PCI segment 0, bus 0, reached through ECAM and the 0xCF8/0xCFC port pair.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "vmm/bus/bus.hpp"
#include "vmm/pci/pci_device.hpp"

namespace vmm::pci {

// The root complex of a one-bus PCIe hierarchy: the host bridge function at 00:00.0, up to 31
// devices at 00:01.0 .. 00:1f.0 (single-function), and the two ways in to their configuration
// spaces:
// - ECAM (PCIe 6.0 §7.2.2), a memory window of 1 MiB per bus: bus << 20 | device << 15 |
//   function << 12 | register;
// - configuration mechanism #1 (PCI 3.0 §3.2.2.3.2): a 32-bit CONFIG_ADDRESS at 0xCF8 (enable
//   bit 31, bus, device, function, DWORD register) and a 4-byte data window at 0xCFC; this
//   reaches the first 256 bytes only.
// A function that is not there reads as all ones and ignores writes, as on real hardware.
//
// Devices are added while the VM is built, before any vCPU runs; the device table is read
// without a lock afterwards. Each device's BARs decode on the MMIO (or port) bus once the guest
// enables them: the bridge gives every device a BarMapper that inserts and removes its ranges.
// The buses must outlive the bridge, which takes its ranges off them when it goes.
class PciHostBridge {
public:
    // The IDs of the host bridge function: the ID Red Hat reserves for a generic PCIe host
    // bridge in virtual machines, which no guest OS applies chipset quirks to.
    static constexpr std::uint16_t VENDOR_ID = 0x1b36;
    static constexpr std::uint16_t DEVICE_ID = 0x0008;
    static constexpr std::uint64_t ECAM_BUS_SIZE = std::uint64_t { 1 } << 20;
    static constexpr std::uint64_t CONFIG_PORTS_SIZE = 8; // CONFIG_ADDRESS and CONFIG_DATA
    static constexpr std::uint8_t BUS = 0;

    PciHostBridge(Bus& mmio, Bus& pio);
    PciHostBridge(const PciHostBridge&) = delete;
    PciHostBridge& operator=(const PciHostBridge&) = delete;
    ~PciHostBridge();

    // Puts `device` at 00:slot.0 (slot 1..31) and connects its BARs.
    [[nodiscard]] Result<> add(std::uint8_t slot, std::shared_ptr<PciDevice> device);
    [[nodiscard]] PciDevice* device(std::uint8_t slot) const noexcept;

    // Insert at the ECAM base (ECAM_BUS_SIZE bytes: bus 0) on the MMIO bus, and at 0xCF8
    // (CONFIG_PORTS_SIZE ports) on the port bus.
    [[nodiscard]] std::shared_ptr<BusDevice> ecam() const noexcept { return ecam_; }
    [[nodiscard]] std::shared_ptr<BusDevice> config_ports() const noexcept { return ports_; }

    // One configuration access, as ECAM or CONFIG_DATA makes it. Guest-controlled: every
    // field; an access that is not 1, 2 or 4 bytes naturally aligned inside the 4 KiB space,
    // or that names a function that is not there, reads as all ones and writes nothing.
    void config_read(std::uint8_t bus, std::uint8_t device, std::uint8_t function, std::uint32_t reg,
        std::span<std::byte> data) const noexcept;
    void config_write(std::uint8_t bus, std::uint8_t device, std::uint8_t function, std::uint32_t reg,
        std::span<const std::byte> data) const noexcept;

private:
    class SlotMapper;
    [[nodiscard]] PciDevice* find(std::uint8_t bus, std::uint8_t device, std::uint8_t function, std::uint32_t reg,
        std::size_t size) const noexcept;

    Bus* mmio_;
    Bus* pio_;
    std::array<std::shared_ptr<PciDevice>, DEVICES_PER_BUS> devices_;
    std::array<std::unique_ptr<SlotMapper>, DEVICES_PER_BUS> mappers_;
    std::shared_ptr<BusDevice> ecam_;
    std::shared_ptr<BusDevice> ports_;
};

} // namespace vmm::pci
