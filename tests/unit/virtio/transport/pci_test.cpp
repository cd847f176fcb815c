// SPDX-License-Identifier: Apache-2.0
// virtio-pci specifics: identity, capabilities, BARs and ioeventfds, MSI-X, INTx, the PCI_CFG
// window, and what a hostile driver writes.
#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/echo_device.hpp"
#include "tests/support/pci_rig.hpp"
#include "virtio/spec/pci.hpp"
#include "vmm/pci/pci_regs.hpp"

namespace vmm::virtio::test {
namespace {

using namespace pci_spec;
namespace regs = vmm::pci;

constexpr std::uint8_t ACK_DRIVER = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

std::unique_ptr<PciRig> rig(PciRigOptions o = {}, TransportOptions t = {})
{
    return make_pci_rig(std::make_unique<EchoDevice>(), std::move(t), std::move(o));
}

// Two split queues of 8, running.
struct Running {
    explicit Running(PciRig& r, std::uint64_t wanted = 0)
        : q0(r.guest, 8)
        , q1(r.guest, 8)
    {
        accepted = r.driver().negotiate(wanted);
        REQUIRE(accepted);
        r.driver().setup_queue(0, q0);
        r.driver().setup_queue(1, q1);
        r.driver().driver_ok();
        REQUIRE_FALSE(r.driver().needs_reset());
    }
    DriverSplitQueue q0;
    DriverSplitQueue q1;
    std::optional<std::uint64_t> accepted;
};

// A chain of 4 readable and 4 writable bytes on `q`, not notified.
void offer(PciRig& r, DriverSplitQueue& q)
{
    const std::uint64_t in = r.guest.alloc(4);
    const std::uint64_t out = r.guest.alloc(4);
    r.guest.write(in, bytes_of("ping"));
    q.add({ readable(in, 4), writable(out, 4) });
}

std::uint32_t cap_field(PciDriver& d, std::uint32_t pos, std::uint32_t off, std::size_t width)
{
    return d.config_read(pos + off, width);
}

} // namespace

TEST_CASE("virtio-pci is a modern, non-transitional function: 0x1AF4:0x1040+type, revision 1", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();

    CHECK(d.config_read(regs::VENDOR_ID, 2) == 0x1af4);
    CHECK(d.config_read(regs::DEVICE_ID, 2) == 0x1044); // rng
    CHECK(d.config_read(regs::REVISION_ID, 1) >= 1);
    CHECK(d.config_read(regs::SUBSYSTEM_ID, 2) >= 0x40);
    CHECK(d.config_read(regs::REVISION_ID, 4) >> 8 == 0xff0000); // class code above the revision
    CHECK(d.config_read(regs::HEADER_TYPE, 1) == 0);
    CHECK(d.config_read(regs::INTERRUPT_PIN, 1) == 1);
}

TEST_CASE("device types map to PCI class codes", "[virtio][pci]")
{
    CHECK(pci_class_code(DeviceType::net) == 0x020000);
    CHECK(pci_class_code(DeviceType::block) == 0x018000);
    CHECK(pci_class_code(DeviceType::console) == 0x078000);
    CHECK(pci_class_code(DeviceType::rng) == 0xff0000);
}

TEST_CASE("the capability list is well formed and has every structure the driver needs", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    std::set<std::uint32_t> types;
    std::set<std::uint32_t> seen;
    int vendor_caps = 0;

    std::uint32_t pos = d.config_read(regs::CAPABILITIES_POINTER, 1);
    while (pos != 0) {
        INFO("capability at " << pos);
        REQUIRE(pos >= regs::CAPABILITIES_START);
        REQUIRE(pos % 4 == 0);
        REQUIRE(seen.insert(pos).second); // no loop
        const std::uint32_t id = d.config_read(pos, 1);
        if (id == regs::CAP_ID_VENDOR) {
            const std::uint32_t len = d.config_read(pos + 2, 1);
            REQUIRE(pos + len <= regs::CONVENTIONAL_CONFIG_SIZE);
            const std::uint32_t type = d.config_read(pos + 3, 1);
            types.insert(type);
            ++vendor_caps;
            if (type == VIRTIO_PCI_CAP_VENDOR_CFG) {
                CHECK(len % 4 == 0);
                CHECK(d.config_read(pos + 4, 2) != 0x1af4);
            } else if (type != VIRTIO_PCI_CAP_PCI_CFG) {
                const std::uint32_t bar = cap_field(d, pos, CAP_BAR, 1);
                const std::uint32_t off = cap_field(d, pos, CAP_OFFSET, 4);
                const std::uint32_t length = cap_field(d, pos, CAP_LENGTH, 4);
                REQUIRE(bar == 0);
                CHECK(std::uint64_t { off } + length <= r->pci_transport().bars()[0].size);
            }
        } else {
            CHECK(id == regs::CAP_ID_MSIX);
        }
        pos = d.config_read(pos + 1, 1);
    }

    CHECK(types
        == std::set<std::uint32_t> { VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_CAP_ISR_CFG,
            VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_PCI_CFG, VIRTIO_PCI_CAP_VENDOR_CFG });
    CHECK(vendor_caps == 6);
    CHECK(d.msix_cap() != 0);
}

TEST_CASE("the structures sit where the spec wants them: aligned, long enough for every queue", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();

    CHECK(d.common_cap()->offset % 4 == 0);
    CHECK(d.common_cap()->length >= common::SIZE);
    CHECK(d.device_cap()->offset % 4 == 0);
    CHECK(d.device_cap()->length == sizeof(EchoDevice::Config));
    CHECK(d.isr_cap()->length >= 1);
    // §4.1.4.4.1 with VIRTIO_F_NOTIFICATION_DATA: offset 4-aligned, multiplier a power of two
    // that is a multiple of 4, length >= queue_notify_off * multiplier + 4 for every queue.
    CHECK(d.notify_cap()->offset % 4 == 0);
    CHECK(d.notify_multiplier() == 4);
    CHECK(d.notify_cap()->length >= 1 * 4 + 4);
}

TEST_CASE("the vendor data capability names the VMM version", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    std::uint32_t pos = d.config_read(regs::CAPABILITIES_POINTER, 1);
    while (pos != 0
        && !(d.config_read(pos, 1) == regs::CAP_ID_VENDOR && d.config_read(pos + 3, 1) == VIRTIO_PCI_CAP_VENDOR_CFG)) {
        pos = d.config_read(pos + 1, 1);
    }
    REQUIRE(pos != 0);

    std::string version;
    for (std::uint32_t i = 6; i < d.config_read(pos + 2, 1); ++i) {
        const auto c = static_cast<char>(d.config_read(pos + i, 1));
        if (c != 0) {
            version.push_back(c);
        }
    }

    CHECK(d.config_read(pos + 4, 2) == PciTransport::VENDOR_CAP_VENDOR_ID);
    CHECK(version == VIREO_VERSION);
}

TEST_CASE("shared memory regions get a cap64 each, inside a 64-bit prefetchable BAR 2", "[virtio][pci]")
{
    PciRigOptions o;
    o.shm = { { 0, 0x10'0000 }, { 1, std::uint64_t { 1 } << 32 } };
    auto r = rig(o);
    auto& d = r->pci_driver();
    std::vector<std::uint32_t> caps;
    for (std::uint32_t pos = d.config_read(regs::CAPABILITIES_POINTER, 1); pos != 0; pos = d.config_read(pos + 1, 1)) {
        if (d.config_read(pos, 1) == regs::CAP_ID_VENDOR
            && d.config_read(pos + 3, 1) == VIRTIO_PCI_CAP_SHARED_MEMORY_CFG) {
            caps.push_back(pos);
        }
    }
    REQUIRE(caps.size() == 2);
    const auto bar2 = r->pci_transport().bars()[2];

    CHECK(bar2.kind == vmm::pci::BarKind::mem64);
    CHECK(bar2.prefetchable);
    CHECK(d.config_read(caps[0] + 2, 1) == sizeof(VirtioPciCap64));
    CHECK(d.config_read(caps[0] + 4, 1) == 2);
    CHECK(d.config_read(caps[1] + 5, 1) == 1); // id
    const std::uint64_t off1 = d.config_read(caps[1] + 8, 4) | std::uint64_t { d.config_read(caps[1] + 16, 4) } << 32;
    const std::uint64_t len1 = d.config_read(caps[1] + 12, 4) | std::uint64_t { d.config_read(caps[1] + 20, 4) } << 32;
    CHECK(len1 == std::uint64_t { 1 } << 32);
    CHECK(off1 % len1 == 0);
    CHECK(off1 + len1 <= bar2.size);
    CHECK(r->pci_driver().bar_read(2, off1, 4) == 0); // no memory behind it yet
}

TEST_CASE("duplicate shared memory ids or empty regions are refused", "[virtio][pci]")
{
    FakeGuest guest;
    TestHost host;
    FakeMsiRouter msi;
    LineState line;
    PciTransportOptions o;
    o.transport.dma.direct = &guest.dma();
    o.shm = { { 3, 0x1000 }, { 3, 0x1000 } };

    auto dup
        = PciTransport::create(std::make_unique<EchoDevice>(), host, msi, std::make_unique<FakeLevelLine>(&line), o);
    o.shm = { { 3, 0 } };
    auto empty
        = PciTransport::create(std::make_unique<EchoDevice>(), host, msi, std::make_unique<FakeLevelLine>(&line), o);

    CHECK_FALSE(dup);
    CHECK_FALSE(empty);
}

TEST_CASE("BAR 0 is a 64-bit memory BAR whose size the guest finds by writing all-ones", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    const std::uint32_t low = d.config_read(regs::BAR0, 4);
    const std::uint32_t high = d.config_read(regs::BAR0 + 4, 4);
    d.config_write(regs::COMMAND, 2, 0); // as Linux sizes: decoding off

    d.config_write(regs::BAR0, 4, 0xffff'ffff);
    d.config_write(regs::BAR0 + 4, 4, 0xffff'ffff);
    const std::uint64_t mask
        = (d.config_read(regs::BAR0, 4) & ~0xfULL) | std::uint64_t { d.config_read(regs::BAR0 + 4, 4) } << 32;
    d.config_write(regs::BAR0, 4, low);
    d.config_write(regs::BAR0 + 4, 4, high);

    CHECK((low & 0x7U) == regs::BAR_MEM_TYPE_64);
    CHECK(~mask + 1 == r->pci_transport().bars()[0].size);
    CHECK(r->pci_transport().bar_address(0) == r->pci_driver().bar_address(0));
}

TEST_CASE("the firmware placed BAR 0 in the 64-bit window", "[virtio][pci]")
{
    auto r = rig();

    CHECK(r->pci_driver().bar_address(0) >= PciRig::MMIO64.base);
    CHECK(r->pci_driver().bar_address(0) % r->pci_transport().bars()[0].size == 0);
}

TEST_CASE("a notify ioeventfd per queue, len 0 and no datamatch, at cap.offset + index * 4", "[virtio][pci]")
{
    auto r = rig();
    const std::uint64_t base = r->pci_driver().bar_address(0) + r->pci_driver().notify_cap()->offset;

    const auto& b = r->host.bindings();

    REQUIRE(b.size() == 2);
    CHECK(b[0].addr == base);
    CHECK(b[1].addr == base + 4);
    CHECK(b[0].len == 0);
    CHECK_FALSE(b[0].match);
}

TEST_CASE("turning memory decoding off takes BAR 0 off the bus and unbinds the ioeventfds", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    const std::uint64_t common = d.bar_address(0) + d.common_cap()->offset;

    d.config_write(regs::COMMAND, 2, d.config_read(regs::COMMAND, 2) & ~std::uint32_t { regs::COMMAND_MEMORY });

    std::uint32_t v = 0;
    CHECK_FALSE(r->mmio.read(common, std::as_writable_bytes(std::span(&v, 1))));
    CHECK(r->host.bindings().empty());

    d.config_write(regs::COMMAND, 2, d.config_read(regs::COMMAND, 2) | regs::COMMAND_MEMORY);
    CHECK(r->mmio.read(common, std::as_writable_bytes(std::span(&v, 1))));
    CHECK(r->host.bindings().size() == 2);
}

TEST_CASE("a surprise unplug resets the device, unbinds its notifies and leaves a function that reads all ones",
    "[virtio][pci][faults]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);
    offer(*r, run.q0);
    d.notify(0);
    REQUIRE(run.q0.pop_used());
    REQUIRE(r->device<EchoDevice>().active());
    const std::uint32_t interrupts = d.queue_interrupts(0);

    r->pci_transport().unplug([] { });

    CHECK(r->pci_transport().unplugged());
    CHECK_FALSE(r->device<EchoDevice>().active());
    CHECK(r->core().status() == 0);
    CHECK(r->host.bindings().empty());
    // Gone: the header, the common configuration and the ISR read all ones; writes do nothing.
    CHECK(d.config_read(regs::VENDOR_ID, 2) == 0xffff);
    CHECK(d.config_read(regs::COMMAND, 4) == 0xffff'ffff);
    CHECK(d.status() == 0xff);
    d.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    CHECK(r->core().status() == 0);
    offer(*r, run.q0);
    d.notify(0);
    CHECK_FALSE(run.q0.pop_used());
    CHECK(d.queue_interrupts(0) == interrupts);
    CHECK(r->pci_transport().accesses_after_unplug() >= 5);
    // Once gone, for good: a second unplug changes nothing.
    r->pci_transport().unplug([] { });
    CHECK(r->pci_transport().unplugged());
}

TEST_CASE("a relocated BAR 0 decodes at its new address, its ioeventfds with it, and the device works", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    const std::uint64_t old_base = d.bar_address(0);
    const std::uint64_t new_base = 0x20'0000'0000;

    d.config_write(regs::BAR0, 4, static_cast<std::uint32_t>(new_base));
    d.config_write(regs::BAR0 + 4, 4, static_cast<std::uint32_t>(new_base >> 32));
    d.reread_bars();

    std::uint32_t v = 0;
    CHECK_FALSE(r->mmio.read(old_base, std::as_writable_bytes(std::span(&v, 1))));
    CHECK(d.bar_address(0) == new_base);
    CHECK(r->pci_transport().current_bar_address(0) == new_base);
    REQUIRE(r->host.bindings().size() == 2);
    CHECK(r->host.bindings()[0].addr == new_base + d.notify_cap()->offset);
    Running run(*r);
    offer(*r, run.q0);
    d.notify(0);
    CHECK(run.q0.pop_used());
    CHECK(r->core().trapped_notifies() == 0);
}

TEST_CASE("a BAR moved over another device's range is not decoded; moved back, it works", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    const std::uint64_t base = d.bar_address(0);

    d.config_write(regs::BAR0, 4, static_cast<std::uint32_t>(PciRig::ECAM_BASE));
    d.config_write(regs::BAR0 + 4, 4, 0);
    const std::uint32_t vendor = d.config_read(regs::VENDOR_ID, 2); // ECAM still answers
    d.config_write(regs::BAR0, 4, static_cast<std::uint32_t>(base));
    d.config_write(regs::BAR0 + 4, 4, static_cast<std::uint32_t>(base >> 32));

    CHECK(vendor == 0x1af4);
    Running run(*r);
    offer(*r, run.q0);
    d.notify(0);
    CHECK(run.q0.pop_used());
}

TEST_CASE("a notify that no ioeventfd took still reaches the queue, named by its address", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);
    offer(*r, run.q1);
    const std::uint64_t addr = d.bar_address(0) + d.notify_cap()->offset + 4;
    const std::uint16_t wrong_index = 0;

    REQUIRE(r->mmio.write(addr, std::as_bytes(std::span(&wrong_index, 1)))); // bypasses the ioeventfds

    CHECK(r->core().trapped_notifies() == 1);
    CHECK(run.q1.pop_used());
}

TEST_CASE("notification data is offered by default on virtio-pci", "[virtio][pci]")
{
    auto r = rig();

    CHECK(has_feature(r->driver().device_features(), VIRTIO_F_NOTIFICATION_DATA));
}

TEST_CASE("with MSI-X each queue and configuration changes interrupt on their own vector", "[virtio][pci]")
{
    auto r = rig();
    Running run(*r);
    offer(*r, run.q1);

    r->driver().notify(1);
    r->device<EchoDevice>().change_magic(9);

    CHECK(r->msi.delivered(PciDriver::MSI_DATA_BASE + 2) == 1); // queue 1
    CHECK(r->msi.delivered(PciDriver::MSI_DATA_BASE + 1) == 0); // queue 0
    CHECK(r->msi.delivered(PciDriver::MSI_DATA_BASE) == 1);     // configuration
    CHECK(r->pci_transport().isr_status() == ISR_CONFIG);       // §4.1.4.5.1: set either way
}

TEST_CASE("the MSI-X table has a vector per queue plus one, and the PBA follows it in BAR 0", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();

    CHECK(d.msix_vectors() == 3);
    CHECK(r->msi.allocated() == 3);
    CHECK(d.msix_table() == r->pci_transport().msix_table_offset());
    CHECK((d.config_read(d.msix_cap() + 8, 4) & ~7U) == r->pci_transport().msix_pba_offset());
}

TEST_CASE("a masked vector's message waits in the PBA and is sent on unmask", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);
    d.mask_vector(1, true);
    offer(*r, run.q0);

    d.notify(0);
    const std::uint64_t pba = d.bar_read(0, r->pci_transport().msix_pba_offset(), 8);
    CHECK(d.queue_interrupts(0) == 0);
    d.mask_vector(1, false);

    CHECK(pba == 0x2);
    CHECK(d.queue_interrupts(0) == 1);
    CHECK(d.bar_read(0, r->pci_transport().msix_pba_offset(), 8) == 0);
}

TEST_CASE("the MSI-X function mask holds the messages of every vector", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);
    d.set_msix_control(true, true);
    offer(*r, run.q0);
    offer(*r, run.q1);

    d.notify(0);
    d.notify(1);
    CHECK(r->msi.delivered_total() == 0);
    d.set_msix_control(true, false);

    CHECK(d.queue_interrupts(0) == 1);
    CHECK(d.queue_interrupts(1) == 1);
}

TEST_CASE("a vector number past the MSI-X table reads back as NO_VECTOR, and that event sends nothing", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);

    d.common_write(common::CONFIG_MSIX_VECTOR, 2, 3);
    const std::uint64_t config_vector = d.common_read(common::CONFIG_MSIX_VECTOR, 2);
    d.common_write(common::QUEUE_SELECT, 2, 0);
    d.common_write(common::QUEUE_MSIX_VECTOR, 2, 0x7ff);
    const std::uint64_t queue_vector = d.common_read(common::QUEUE_MSIX_VECTOR, 2);
    offer(*r, run.q0);
    d.notify(0);
    r->device<EchoDevice>().change_magic(1);

    CHECK(config_vector == VIRTIO_MSI_NO_VECTOR);
    CHECK(queue_vector == VIRTIO_MSI_NO_VECTOR);
    CHECK(r->msi.delivered_total() == 0);
    CHECK(run.q0.pop_used()); // the queue works, it just does not interrupt
}

TEST_CASE("a device reset unmaps every event from its vector", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);

    d.common_write(common::DEVICE_STATUS, 1, 0);

    CHECK(d.common_read(common::CONFIG_MSIX_VECTOR, 2) == VIRTIO_MSI_NO_VECTOR);
    d.common_write(common::QUEUE_SELECT, 2, 1);
    CHECK(d.common_read(common::QUEUE_MSIX_VECTOR, 2) == VIRTIO_MSI_NO_VECTOR);
    CHECK(r->pci_transport().msix_enabled()); // MSI-X itself is PCI state, not the device's
}

TEST_CASE(
    "without MSI-X a used buffer sets ISR bit 0 and raises INTx; reading the ISR clears and lowers it", "[virtio][pci]")
{
    PciRigOptions o;
    o.msix = false;
    auto r = rig(o);
    auto& d = r->pci_driver();
    Running run(*r);
    offer(*r, run.q0);

    d.notify(0);
    REQUIRE(run.q0.pop_used());
    const bool raised = r->intx.level;
    const std::uint32_t status = d.config_read(regs::STATUS, 2);
    const std::uint8_t isr = d.read_isr();

    CHECK(raised);
    CHECK((status & regs::STATUS_INTERRUPT) != 0);
    CHECK(isr == ISR_QUEUE);
    CHECK_FALSE(r->intx.level);
    CHECK(d.read_isr() == 0);
    CHECK((d.config_read(regs::STATUS, 2) & regs::STATUS_INTERRUPT) == 0);
}

TEST_CASE("without MSI-X a configuration change sets ISR bit 1", "[virtio][pci]")
{
    PciRigOptions o;
    o.msix = false;
    auto r = rig(o);
    Running run(*r);

    r->device<EchoDevice>().change_magic(5);

    CHECK(r->intx.level);
    CHECK(r->driver().config_interrupts() == 1);
    CHECK_FALSE(r->intx.level);
}

TEST_CASE("INTx Disable in the command register keeps the line low; clearing it raises a pending ISR", "[virtio][pci]")
{
    PciRigOptions o;
    o.msix = false;
    auto r = rig(o);
    auto& d = r->pci_driver();
    Running run(*r);
    d.config_write(regs::COMMAND, 2, d.config_read(regs::COMMAND, 2) | regs::COMMAND_INTX_DISABLE);
    offer(*r, run.q0);

    d.notify(0);
    const bool while_disabled = r->intx.level;
    d.config_write(regs::COMMAND, 2, d.config_read(regs::COMMAND, 2) & ~std::uint32_t { regs::COMMAND_INTX_DISABLE });

    CHECK_FALSE(while_disabled);
    CHECK(r->intx.level);
}

TEST_CASE("enabling MSI-X lowers an INTx line left asserted", "[virtio][pci]")
{
    PciRigOptions o;
    o.msix = false;
    auto r = rig(o);
    Running run(*r);
    offer(*r, run.q0);
    r->driver().notify(0);
    REQUIRE(r->intx.level);

    r->pci_driver().set_msix_control(true, false);

    CHECK_FALSE(r->intx.level);
}

TEST_CASE("a queue_select past the queues reads zero in every per-queue field and ignores writes", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    REQUIRE(r->driver().negotiate(0));

    d.common_write(common::QUEUE_SELECT, 2, 0xffff);
    d.common_write(common::QUEUE_SIZE, 2, 4);
    d.common_write(common::QUEUE_DESC, 4, 0x1000);
    d.common_write(common::QUEUE_ENABLE, 2, 1);
    d.common_write(common::QUEUE_MSIX_VECTOR, 2, 1);
    d.common_write(common::QUEUE_RESET, 2, 1);

    CHECK(d.common_read(common::QUEUE_SELECT, 2) == 0xffff);
    CHECK(d.common_read(common::QUEUE_SIZE, 2) == 0);
    CHECK(d.common_read(common::QUEUE_ENABLE, 2) == 0);
    CHECK(d.common_read(common::QUEUE_NOTIFY_OFF, 2) == 0);
    CHECK(d.common_read(common::QUEUE_DESC, 4) == 0);
    CHECK(d.common_read(common::QUEUE_MSIX_VECTOR, 2) == 0);
    CHECK(r->core().queue(0)->size() == EchoDevice::MAX_QUEUE_SIZE);
    CHECK(r->core().queue(0)->desc_addr() == 0);
    CHECK_FALSE(r->core().queue(0)->ready());
}

TEST_CASE("each queue's notify offset is its index, and num_queues counts the device's queues", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();

    d.common_write(common::QUEUE_SELECT, 2, 1);

    CHECK(d.common_read(common::NUM_QUEUES, 2) == 2);
    CHECK(d.common_read(common::QUEUE_NOTIFY_OFF, 2) == 1);
    CHECK(d.common_read(common::QUEUE_NOTIFY_DATA, 2) == 1);
    CHECK(d.common_read(common::ADMIN_QUEUE_NUM, 2) == 0);
}

TEST_CASE("common configuration accesses of the wrong width are ignored", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();

    d.common_write(common::DEVICE_STATUS, 4, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    d.common_write(common::QUEUE_SELECT, 4, 1);
    const std::uint64_t wide_status = d.common_read(common::DEVICE_STATUS, 2);

    CHECK(r->driver().status() == 0);
    CHECK(d.common_read(common::QUEUE_SELECT, 2) == 0);
    CHECK(wide_status == 0);
}

TEST_CASE("read-only common configuration fields ignore writes", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();

    d.common_write(common::NUM_QUEUES, 2, 9);
    d.common_write(common::DEVICE_FEATURE, 4, 0);
    d.common_write(common::QUEUE_NOTIFY_OFF, 2, 7);

    CHECK(d.common_read(common::NUM_QUEUES, 2) == 2);
    CHECK(d.common_read(common::QUEUE_NOTIFY_OFF, 2) == 0);
    CHECK(r->driver().device_features() == r->core().offered_features());
}

TEST_CASE("queue addresses are written as two independent 32-bit halves, or as one 64-bit access", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    d.common_write(common::QUEUE_SELECT, 2, 0);

    d.common_write(common::QUEUE_DESC + 4, 4, 0x1);
    d.common_write(common::QUEUE_DESC, 4, 0x2000);
    d.common_write(common::QUEUE_DEVICE, 8, 0x3'0000'4000);

    CHECK(r->core().queue(0)->desc_addr() == 0x1'0000'2000);
    CHECK(d.common_read(common::QUEUE_DESC + 4, 4) == 1);
    CHECK(d.common_read(common::QUEUE_DEVICE, 8) == 0x3'0000'4000);
}

TEST_CASE("writing 0 to queue_enable does not stop a running queue", "[virtio][pci]")
{
    auto r = rig();
    Running run(*r);

    r->driver().set_queue_ready(0, false);

    CHECK(r->driver().queue_ready(0));
    offer(*r, run.q0);
    r->driver().notify(0);
    CHECK(run.q0.pop_used());
}

TEST_CASE("a queue reset reads 0 when done and unmaps the queue's vector", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r, feature_bit(VIRTIO_F_RING_RESET));

    d.reset_queue(1);

    CHECK_FALSE(d.queue_reset_pending(1));
    CHECK_FALSE(d.queue_ready(1));
    CHECK(d.common_read(common::QUEUE_MSIX_VECTOR, 2) == VIRTIO_MSI_NO_VECTOR);
}

TEST_CASE("config_generation is a byte that moves on whenever the device changed its configuration", "[virtio][pci]")
{
    auto r = rig();
    Running run(*r);
    const std::uint32_t before = r->driver().config_generation();

    r->device<EchoDevice>().change_magic(1);
    r->device<EchoDevice>().change_magic(2);
    const std::uint32_t after = r->driver().config_generation();

    CHECK(after == ((before + 1) & 0xff));
    CHECK(r->driver().config_generation() == after);
}

TEST_CASE("device configuration accesses that are not naturally aligned are ignored", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    const std::uint64_t device = d.device_cap()->offset;

    d.bar_write(0, device + 5, 2, 0xabcd);
    const std::uint64_t misaligned = d.bar_read(0, device + 1, 4);

    CHECK(misaligned == 0);
    CHECK(r->driver().read_config_obj<le32>(4).get() == 0);
}

TEST_CASE("the ISR reads through any width at its offset; bytes past it read zero", "[virtio][pci]")
{
    PciRigOptions o;
    o.msix = false;
    auto r = rig(o);
    auto& d = r->pci_driver();
    Running run(*r);
    r->device<EchoDevice>().change_magic(3);

    const std::uint64_t beyond = d.bar_read(0, d.isr_cap()->offset + 1, 1);
    const std::uint64_t isr = d.bar_read(0, d.isr_cap()->offset, 4);

    CHECK(beyond == 0);
    CHECK(isr == ISR_CONFIG);
}

// ---- VIRTIO_PCI_CAP_PCI_CFG ---------------------------------------------------------------

namespace {

struct CfgWindow {
    PciDriver& d;
    std::uint32_t pos;
    void set(std::uint32_t bar, std::uint32_t offset, std::uint32_t length)
    {
        d.config_write(pos + CAP_BAR, 1, bar);
        d.config_write(pos + CAP_OFFSET, 4, offset);
        d.config_write(pos + CAP_LENGTH, 4, length);
    }
    std::uint32_t read() { return d.config_read(pos + CFG_CAP_DATA, 4); }
    void write(std::uint32_t v) { d.config_write(pos + CFG_CAP_DATA, 4, v); }
};

} // namespace

TEST_CASE("the PCI_CFG window reads and writes BAR 0 through configuration space", "[virtio][pci]")
{
    auto r = rig();
    CfgWindow w { r->pci_driver(), r->pci_driver().pci_cfg_cap()->pos };

    w.set(0, static_cast<std::uint32_t>(PciTransport::DEVICE_OFFSET), 4);
    const std::uint32_t magic = w.read();
    w.set(0, static_cast<std::uint32_t>(PciTransport::COMMON_OFFSET + common::DEVICE_STATUS), 1);
    w.write(VIRTIO_CONFIG_S_ACKNOWLEDGE);

    CHECK(magic == EchoDevice::MAGIC);
    CHECK(r->driver().status() == VIRTIO_CONFIG_S_ACKNOWLEDGE);
}

TEST_CASE("a notify through the PCI_CFG window is a trapped notify of that queue", "[virtio][pci]")
{
    auto r = rig();
    Running run(*r);
    offer(*r, run.q0);
    CfgWindow w { r->pci_driver(), r->pci_driver().pci_cfg_cap()->pos };

    w.set(0, static_cast<std::uint32_t>(PciTransport::NOTIFY_OFFSET), 2);
    w.write(0);

    CHECK(r->core().trapped_notifies() == 1);
    CHECK(run.q0.pop_used());
}

TEST_CASE("bogus PCI_CFG bar, length or offset values are ignored and the window reads zero", "[virtio][pci]")
{
    auto r = rig();
    CfgWindow w { r->pci_driver(), r->pci_driver().pci_cfg_cap()->pos };
    const auto bar_size = static_cast<std::uint32_t>(r->pci_transport().bars()[0].size);
    const auto device = static_cast<std::uint32_t>(PciTransport::DEVICE_OFFSET);

    w.set(7, device, 4);
    CHECK(w.read() == 0);
    w.set(1, 0, 4); // the upper half of BAR 0: not a BAR of its own
    CHECK(w.read() == 0);
    w.set(0, device, 3);
    CHECK(w.read() == 0);
    w.set(0, device + 2, 4);
    CHECK(w.read() == 0);
    w.set(0, bar_size - 2, 4);
    CHECK(w.read() == 0);
    w.set(0, 0xffff'fffc, 4);
    CHECK(w.read() == 0);
    w.set(0, static_cast<std::uint32_t>(PciTransport::COMMON_OFFSET + common::DEVICE_STATUS), 0xffff'ffff);
    w.write(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    CHECK(r->driver().status() == 0);
}

TEST_CASE("a PCI_CFG read of the ISR clears it, as any read does", "[virtio][pci]")
{
    PciRigOptions o;
    o.msix = false;
    auto r = rig(o);
    Running run(*r);
    r->device<EchoDevice>().change_magic(3);
    CfgWindow w { r->pci_driver(), r->pci_driver().pci_cfg_cap()->pos };

    w.set(0, static_cast<std::uint32_t>(PciTransport::ISR_OFFSET), 1);

    CHECK(w.read() == ISR_CONFIG);
    CHECK(r->pci_transport().isr_status() == 0);
    CHECK_FALSE(r->intx.level);
}

// ---- Hostile register sequences -----------------------------------------------------------

TEST_CASE("queue registers and vectors written after DRIVER_OK leave the running queue as it was", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);

    d.common_write(common::QUEUE_SELECT, 2, 0);
    d.common_write(common::QUEUE_SIZE, 2, 2);
    d.common_write(common::QUEUE_DRIVER, 4, 0);
    d.common_write(common::QUEUE_DEVICE + 4, 4, 0xffff'ffff);

    CHECK(r->core().queue(0)->size() == 8);
    CHECK(r->core().queue(0)->device_addr() == run.q0.used_addr());
    offer(*r, run.q0);
    d.notify(0);
    CHECK(run.q0.pop_used());
    CHECK(d.queue_interrupts(0) == 1);
}

TEST_CASE("MSI-X table entries the platform cannot route keep their messages pending", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);
    r->msi.set_acceptor([](const vmm::pci::MsiMessage& m) { return m.address == PciDriver::MSI_ADDRESS; });
    d.mask_vector(1, true);
    d.bar_write(0, d.msix_table() + 16, 4, 0xdead'0000); // a bogus doorbell for queue 0's vector

    d.mask_vector(1, false);
    offer(*r, run.q0);
    d.notify(0);

    CHECK(d.queue_interrupts(0) == 0);
    CHECK((d.bar_read(0, r->pci_transport().msix_pba_offset(), 8) & 0x2) != 0);
    CHECK(run.q0.pop_used());
}

TEST_CASE("sub-DWORD writes to the MSI-X table and writes to the PBA change nothing", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    Running run(*r);

    d.bar_write(0, d.msix_table() + 16 + 12, 1, 1); // would mask queue 0's vector
    d.bar_write(0, r->pci_transport().msix_pba_offset(), 8, ~0ULL);
    offer(*r, run.q0);
    d.notify(0);

    CHECK(d.queue_interrupts(0) == 1);
    CHECK(d.bar_read(0, r->pci_transport().msix_pba_offset(), 8) == 0);
}

TEST_CASE("a notify before any ioeventfd binding, and accesses past BAR 0's structures, are harmless", "[virtio][pci]")
{
    PciRigOptions o;
    o.probe = false;
    auto r = rig(o);
    REQUIRE(r->host.bindings().empty()); // decoding is still off

    REQUIRE(r->pci_driver().probe());
    auto& d = r->pci_driver();
    d.bar_write(0, PciTransport::NOTIFY_OFFSET + 0x800, 4, 0);
    d.bar_write(0, PciTransport::ISR_OFFSET, 1, 0xff);
    d.bar_write(0, PciTransport::COMMON_OFFSET + 0x100, 4, 0xffff'ffff);

    CHECK(r->host.bindings().size() == 2);
    CHECK(r->core().trapped_notifies() == 0);
    CHECK(d.read_isr() == 0);
}

TEST_CASE("configuration space past the header reads zero; an absent function reads all ones", "[virtio][pci]")
{
    auto r = rig();
    auto& d = r->pci_driver();
    PciDriver absent(r->mmio, r->host, PciRig::ECAM_BASE, 2, r->msi, r->intx, {});

    CHECK(d.config_read(0x100, 4) == 0);
    CHECK(d.config_read(0xffc, 4) == 0);
    CHECK(absent.config_read(regs::VENDOR_ID, 4) == 0xffff'ffff);
    CHECK_FALSE(absent.probe());
}

TEST_CASE("the function is reachable through 0xCF8/0xCFC as well", "[virtio][pci]")
{
    auto r = rig();
    const std::uint32_t address = 0x8000'0000U | (1U << 11) | regs::VENDOR_ID;
    std::uint32_t id = 0;

    REQUIRE(r->pio.write(0xcf8, std::as_bytes(std::span(&address, 1))));
    REQUIRE(r->pio.read(0xcfc, std::as_writable_bytes(std::span(&id, 1))));

    CHECK(id == 0x1044'1af4);
}

TEST_CASE("FEATURES_OK on virtio-pci refuses what it refuses on virtio-mmio", "[virtio][pci]")
{
    auto r = rig();

    CHECK_FALSE(
        r->driver().negotiate_exactly(feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_NOTIF_CONFIG_DATA)));
    CHECK(r->driver().status() == ACK_DRIVER);
}

} // namespace vmm::virtio::test
