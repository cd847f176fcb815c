// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: a virtio-pci function behind the host bridge, driven by an arbitrary stream
// of configuration-space accesses (ECAM and 0xCF8/0xCFC) and BAR accesses (common config,
// notify, ISR, device config, MSI-X table and PBA), over rings and buffers that come from the
// input.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include <spdlog/spdlog.h>

#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/echo_device.hpp"
#include "tests/support/pci_rig.hpp"

using namespace vmm;
using namespace vmm::virtio;
using vmm::fuzz::invariant_failed;
using vmm::fuzz::width_of;

namespace {

// Input layout: [0, 2) the number of operations, then 8 bytes per operation (kind, two
// selector bytes, width, 32-bit value), then RAM contents for rings and buffers.
constexpr std::size_t MAX_OPS = 256;
constexpr std::uint64_t RING_AREA = 0x10000;
constexpr std::uint64_t BAR_SPAN = 0x5000; // common, ISR, device, notify pages and MSI-X

struct Op {
    std::uint8_t kind;
    std::uint8_t sel_lo;
    std::uint8_t sel_hi;
    std::uint8_t width;
    std::uint32_t value;
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2) {
        return 0;
    }
    const std::size_t ops = std::min<std::size_t>(static_cast<std::size_t>(data[0] | data[1] << 8), MAX_OPS);
    std::size_t pos = 2;

    test::PciRigOptions po;
    po.msix = (data[0] & 1) != 0;
    po.shm = { PciShmRegion { 1, 0x10000 } };
    auto device = std::make_unique<test::EchoDevice>();
    auto* echo = device.get();
    auto rig = test::make_pci_rig(std::move(device), TransportOptions {}, po);
    auto& driver = rig->pci_driver();
    // The firmware's BAR assignment, restored before the final check: a guest may move a BAR
    // outside the bridge's windows, where nothing can reach it.
    std::array<std::uint32_t, 6> firmware_bars {};
    for (std::uint32_t i = 0; i < firmware_bars.size(); ++i) {
        firmware_bars[i] = driver.config_read(0x10 + 4 * i, 4);
    }
    const std::size_t ops_end = std::min(size, pos + ops * sizeof(Op));
    if (ops_end < size) {
        rig->guest.write(0, std::as_bytes(std::span(data + ops_end, std::min<std::size_t>(size - ops_end, RING_AREA))));
    }

    for (std::size_t i = 0; i < ops && pos + sizeof(Op) <= size; ++i, pos += sizeof(Op)) {
        Op op {};
        std::memcpy(&op, data + pos, sizeof(op));
        const std::uint32_t sel = op.sel_lo | std::uint32_t { op.sel_hi } << 8;
        std::array<std::byte, 8> buf {};
        std::memcpy(buf.data(), &op.value, sizeof(op.value));
        const auto bytes = std::span(buf).first(width_of(op.width));
        const std::uint64_t bar = rig->pci_transport().current_bar_address(PciTransport::REGS_BAR);
        switch (op.kind % 9) {
        case 0: // ECAM write anywhere in the function's 4 KiB, or another function's
            (void)rig->host.mmio_write(rig->mmio, test::PciRig::ECAM_BASE + ((op.width & 0x80) != 0 ? 0x10000 : 0x8000)
                    + (sel % 0x1000), bytes);
            break;
        case 1:
            (void)rig->mmio.read(test::PciRig::ECAM_BASE + 0x8000 + (sel % 0x1000), bytes);
            break;
        case 2: // a BAR access at any offset (relocations included, through case 0)
            if (bar != 0) {
                (void)rig->host.mmio_write(rig->mmio, bar + (sel * 4 + (op.width >> 4)) % BAR_SPAN, bytes);
            }
            break;
        case 3:
            if (bar != 0) {
                (void)rig->mmio.read(bar + (sel * 4 + (op.width >> 4)) % BAR_SPAN, bytes);
            }
            break;
        case 4: { // a type-1 configuration cycle through the port pair
            const std::uint32_t address = 0x8000'0000U | (op.value & 0x00ff'fffcU);
            (void)rig->pio.write(0xcf8, std::as_bytes(std::span(&address, 1)));
            if ((op.width & 1) != 0) {
                (void)rig->pio.write(0xcfc + (sel % 4), std::span(buf).first(1));
            } else {
                (void)rig->pio.read(0xcfc, std::span(buf).first(4));
            }
            break;
        }
        case 5: // the usual way up: probe, features, DRIVER_OK
            if (driver.probe()) {
                (void)driver.negotiate(op.value | std::uint64_t { op.width } << 32);
                driver.driver_ok();
            }
            break;
        case 6: // a queue in the input-filled area
            if (driver.probe()) {
                const auto q = static_cast<std::uint16_t>(sel % 3);
                driver.set_queue(q, static_cast<std::uint16_t>(1U << (op.width % 9)), (op.value & 0xfff0) % RING_AREA,
                    ((op.value >> 8) & 0xfff0) % RING_AREA, ((op.value >> 16) & 0xfff0) % RING_AREA);
                driver.set_queue_ready(q, true);
            }
            break;
        case 7:
            driver.notify(static_cast<std::uint16_t>(sel % 3), (op.width & 1) != 0 ? std::optional(op.value) : std::nullopt);
            break;
        case 8:
            echo->set_hold((op.width & 1) != 0);
            echo->complete_held();
            break;
        }
    }

    // Whatever happened, a reset through the common configuration brings the device back.
    for (std::uint32_t i = 0; i < firmware_bars.size(); ++i) {
        driver.config_write(0x10 + 4 * i, 4, firmware_bars[i]);
    }
    if (driver.probe()) {
        driver.set_status(0);
        if (driver.status() != 0 || echo->active()) {
            invariant_failed("the device did not come back from a reset");
        }
    }
    echo->complete_held();
    return 0;
}
