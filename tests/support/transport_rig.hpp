// SPDX-License-Identifier: Apache-2.0
// TransportRig: a device behind a real transport on a bus, with a register-level driver.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "tests/support/fake_guest.hpp"
#include "tests/support/test_host.hpp"
#include "tests/support/transport_driver.hpp"
#include "virtio/device.hpp"
#include "virtio/transport/transport_core.hpp"
#include "vmm/bus/bus.hpp"

namespace vmm::virtio::test {

enum class RigTransport { mmio, pci };

[[nodiscard]] std::string_view to_string(RigTransport t) noexcept;
// The transports every device and transport test runs on.
[[nodiscard]] std::vector<RigTransport> all_transports();

// Owns the fake guest, the test host, the bus and the transport. The device is reached only
// through the driver's register accesses, as a guest reaches it.
class TransportRig {
public:
    virtual ~TransportRig() = default;

    [[nodiscard]] virtual TransportDriver& driver() noexcept = 0;
    [[nodiscard]] virtual TransportCore& core() noexcept = 0;
    [[nodiscard]] virtual RigTransport transport() const noexcept = 0;

    // The device behind the transport, for checks on its state.
    template <class D>
    [[nodiscard]] D& device() noexcept
    {
        return static_cast<D&>(core().device());
    }

    FakeGuest guest;
    TestHost host;
    Bus mmio { "mmio" };
};

// `options.dma.direct` is filled in with the rig's guest when null.
[[nodiscard]] std::unique_ptr<TransportRig> make_rig(
    RigTransport transport, std::unique_ptr<Device> device, TransportOptions options = {});

} // namespace vmm::virtio::test
