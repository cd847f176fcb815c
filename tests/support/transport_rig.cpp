// SPDX-License-Identifier: Apache-2.0
// TransportRig for each transport.
#include "tests/support/transport_rig.hpp"

#include <cstdlib>

#include "tests/support/mmio_driver.hpp"
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

std::string_view to_string(RigTransport t) noexcept
{
    return t == RigTransport::mmio ? "virtio-mmio" : "virtio-pci";
}

std::vector<RigTransport> all_transports()
{
    return { RigTransport::mmio };
}

std::unique_ptr<TransportRig> make_rig(RigTransport transport, std::unique_ptr<Device> device, TransportOptions options)
{
    switch (transport) {
    case RigTransport::mmio:
        return std::make_unique<MmioRig>(std::move(device), std::move(options));
    case RigTransport::pci:
        break;
    }
    std::abort();
}

} // namespace vmm::virtio::test
