// SPDX-License-Identifier: Apache-2.0
// TransportRig for each transport.
#include "tests/support/transport_rig.hpp"

#include <cstdlib>

#include "tests/support/mmio_driver.hpp"
#include "tests/support/pci_rig.hpp"
#include "virtio/transport/mmio_transport.hpp"

namespace vmm::virtio::test {
namespace {

constexpr std::uint64_t MMIO_BASE = 0xd000'0000;

class MmioRig final : public TransportRig {
public:
    MmioRig(std::unique_ptr<Device> device, TransportOptions options)
    {
        if (options.dma.direct == nullptr) {
            options.dma.direct = &guest.dma();
        }
        MmioOptions mo;
        mo.base = MMIO_BASE;
        mo.transport = std::move(options);
        auto t = MmioTransport::create(std::move(device), host, std::make_unique<CountingIrqLine>(&edges_), mo);
        if (!t || !mmio.insert(*t, MMIO_BASE, MmioTransport::SIZE)) {
            std::abort();
        }
        transport_ = std::move(t).value();
        driver_ = std::make_unique<MmioDriver>(mmio, host, MMIO_BASE, edges_);
    }

    [[nodiscard]] TransportDriver& driver() noexcept override { return *driver_; }
    [[nodiscard]] TransportCore& core() noexcept override { return transport_->core(); }
    [[nodiscard]] RigTransport transport() const noexcept override { return RigTransport::mmio; }

private:
    std::uint32_t edges_ = 0;
    std::shared_ptr<MmioTransport> transport_;
    std::unique_ptr<MmioDriver> driver_;
};

} // namespace

PciRig::PciRig(std::unique_ptr<Device> device, TransportOptions options, PciRigOptions pci_options)
{
    if (options.dma.direct == nullptr) {
        options.dma.direct = &guest.dma();
    }
    bridge_ = std::make_unique<pci::PciHostBridge>(mmio, pio);
    PciTransportOptions po;
    po.transport = std::move(options);
    po.shm = std::move(pci_options.shm);
    auto t = PciTransport::create(std::move(device), host, msi, std::make_unique<FakeLevelLine>(&intx), std::move(po));
    if (!t || !mmio.insert(bridge_->ecam(), ECAM_BASE, pci::PciHostBridge::ECAM_BUS_SIZE)
        || !pio.insert(bridge_->config_ports(), 0xcf8, pci::PciHostBridge::CONFIG_PORTS_SIZE)
        || !allocator_.assign(**t) || !bridge_->add(pci_options.slot, *t)) {
        std::abort();
    }
    transport_ = std::move(t).value();
    driver_ = std::make_unique<PciDriver>(mmio, host, ECAM_BASE, pci_options.slot, msi, intx,
        PciDriver::Options { .msix = pci_options.msix });
    if (pci_options.probe && !driver_->probe()) {
        std::abort();
    }
}

PciRig::~PciRig() = default;

std::unique_ptr<PciRig> make_pci_rig(
    std::unique_ptr<Device> device, TransportOptions options, PciRigOptions pci_options)
{
    return std::make_unique<PciRig>(std::move(device), std::move(options), std::move(pci_options));
}

std::string_view to_string(RigTransport t) noexcept
{
    return t == RigTransport::mmio ? "virtio-mmio" : "virtio-pci";
}

std::vector<RigTransport> all_transports()
{
    return { RigTransport::mmio, RigTransport::pci };
}

std::unique_ptr<TransportRig> make_rig(RigTransport transport, std::unique_ptr<Device> device, TransportOptions options)
{
    switch (transport) {
    case RigTransport::mmio:
        return std::make_unique<MmioRig>(std::move(device), std::move(options));
    case RigTransport::pci:
        return make_pci_rig(std::move(device), std::move(options));
    }
    std::abort();
}

} // namespace vmm::virtio::test
