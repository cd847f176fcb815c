// SPDX-License-Identifier: Apache-2.0
// PciRig: a device behind virtio-pci on a host bridge, with a PciDriver that probed it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tests/support/fake_msi.hpp"
#include "tests/support/pci_driver.hpp"
#include "tests/support/transport_rig.hpp"
#include "virtio/transport/pci_transport.hpp"
#include "vmm/pci/bar_allocator.hpp"
#include "vmm/pci/host_bridge.hpp"

namespace vmm::virtio::test {

struct PciRigOptions {
    bool msix = true;  // the driver enables MSI-X while probing
    bool probe = true; // the driver probes (else: the test does, or not at all)
    std::vector<PciShmRegion> shm;
    std::uint8_t slot = 1;
};

// The host bridge's ECAM is on the rig's MMIO bus and its 0xCF8 ports on `pio`; BARs come from
// a BarAllocator over the x86 windows, as the VM assigns them.
class PciRig final : public TransportRig {
public:
    static constexpr std::uint64_t ECAM_BASE = 0xe000'0000;
    static constexpr pci::Window MMIO32 { 0xc000'0000, 0x1000'0000 };
    static constexpr pci::Window MMIO64 { 0x10'0000'0000, 0x10'0000'0000 };

    PciRig(std::unique_ptr<Device> device, TransportOptions options, PciRigOptions pci_options);
    ~PciRig() override;

    [[nodiscard]] TransportDriver& driver() noexcept override { return *driver_; }
    [[nodiscard]] TransportCore& core() noexcept override { return transport_->core(); }
    [[nodiscard]] RigTransport transport() const noexcept override { return RigTransport::pci; }

    [[nodiscard]] PciDriver& pci_driver() noexcept { return *driver_; }
    [[nodiscard]] PciTransport& pci_transport() noexcept { return *transport_; }
    [[nodiscard]] pci::PciHostBridge& bridge() noexcept { return *bridge_; }

    Bus pio { "pio" };
    FakeMsiRouter msi;
    LineState intx;

private:
    pci::BarAllocator allocator_ { MMIO32, MMIO64 };
    std::unique_ptr<pci::PciHostBridge> bridge_;
    std::shared_ptr<PciTransport> transport_;
    std::unique_ptr<PciDriver> driver_;
};

[[nodiscard]] std::unique_ptr<PciRig> make_pci_rig(
    std::unique_ptr<Device> device, TransportOptions options = {}, PciRigOptions pci_options = {});

} // namespace vmm::virtio::test
