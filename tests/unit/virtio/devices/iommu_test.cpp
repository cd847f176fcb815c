// SPDX-License-Identifier: Apache-2.0
// virtio-iommu as a device: requests through its queue, and a device behind it whose rings and
// buffers are translated (faults, permissions, scattered pages, UNMAP against in-flight I/O,
// bypass modes).
#include <algorithm>
#include <cstring>
#include <set>

#include <catch2/catch.hpp>

#include "tests/support/echo_device.hpp"
#include "tests/support/mmio_driver.hpp"
#include "virtio/devices/iommu/iommu.hpp"
#include "virtio/devices/iommu/iommu_fault_rules.hpp"
#include "virtio/status_faults.hpp"
#include "virtio/spec/iommu.hpp"
#include "virtio/transport/mmio_transport.hpp"

namespace vmm::virtio::test {
namespace {

constexpr std::uint64_t IOMMU_BASE = 0xd000'0000;
constexpr std::uint64_t ECHO_BASE = 0xd000'1000;
constexpr std::uint32_t IOMMU_EP = 0x10000;
constexpr std::uint32_t IOMMU_RW = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE;
constexpr std::uint64_t IOMMU_PAGE = 0x1000;
constexpr std::uint64_t IOMMU_FEATURES = feature_bit(VIRTIO_IOMMU_F_MAP_UNMAP) | feature_bit(VIRTIO_IOMMU_F_PROBE)
    | feature_bit(VIRTIO_IOMMU_F_INPUT_RANGE) | feature_bit(VIRTIO_IOMMU_F_DOMAIN_RANGE)
    | feature_bit(VIRTIO_IOMMU_F_BYPASS_CONFIG) | feature_bit(VIRTIO_IOMMU_F_MMIO);

template <class T>
void put(std::vector<std::byte>& v, std::size_t off, T value)
{
    if (v.size() < off + sizeof(T)) {
        v.resize(off + sizeof(T));
    }
    std::memcpy(v.data() + off, &value, sizeof(T));
}

std::vector<std::byte> head(std::uint8_t type, std::size_t size)
{
    std::vector<std::byte> v(size);
    v[0] = std::byte { type };
    return v;
}

std::vector<std::byte> attach_req(std::uint32_t domain, std::uint32_t ep, std::uint32_t flags = 0)
{
    auto v = head(VIRTIO_IOMMU_T_ATTACH, iommu_req::ATTACH_SIZE);
    put(v, iommu_req::DOMAIN, domain);
    put(v, iommu_req::ENDPOINT, ep);
    put(v, iommu_req::ATTACH_FLAGS, flags);
    return v;
}

std::vector<std::byte> map_req(std::uint32_t domain, std::uint64_t vs, std::uint64_t ve, std::uint64_t ps,
    std::uint32_t flags = IOMMU_RW)
{
    auto v = head(VIRTIO_IOMMU_T_MAP, iommu_req::MAP_SIZE);
    put(v, iommu_req::DOMAIN, domain);
    put(v, iommu_req::VIRT_START, vs);
    put(v, iommu_req::VIRT_END, ve);
    put(v, iommu_req::PHYS_START, ps);
    put(v, iommu_req::MAP_FLAGS, flags);
    return v;
}

std::vector<std::byte> unmap_req(std::uint32_t domain, std::uint64_t vs, std::uint64_t ve)
{
    auto v = head(VIRTIO_IOMMU_T_UNMAP, iommu_req::UNMAP_SIZE);
    put(v, iommu_req::DOMAIN, domain);
    put(v, iommu_req::VIRT_START, vs);
    put(v, iommu_req::VIRT_END, ve);
    return v;
}

std::vector<std::byte> probe_req(std::uint32_t ep)
{
    auto v = head(VIRTIO_IOMMU_T_PROBE, iommu_req::PROBE_SIZE);
    put(v, iommu_req::PROBE_ENDPOINT, ep);
    return v;
}

struct Answer {
    std::uint32_t used_len = 0;
    std::uint8_t status = 0xff;
    std::vector<std::byte> written;
};

// An IOMMU and an echo device (endpoint IOMMU_EP, behind the IOMMU) on one virtio-mmio bus over one
// fake guest, each with its register-level driver.
struct Fixture {
    explicit Fixture(IommuDevice::Options options = default_options())
    {
        auto iommu_dev = std::make_unique<IommuDevice>(std::move(options));
        iommu = iommu_dev.get();
        translated = &iommu->add_endpoint(IOMMU_EP, guest.dma());
        iommu_t = make(std::move(iommu_dev), IOMMU_BASE, &iommu_edges, DmaSpaces { &guest.dma(), nullptr });
        auto echo_dev = std::make_unique<EchoDevice>(1);
        echo = echo_dev.get();
        echo_t = make(std::move(echo_dev), ECHO_BASE, &echo_edges, DmaSpaces { &guest.dma(), translated });

        REQUIRE(iommu_drv.negotiate(IOMMU_FEATURES));
        iommu_drv.setup_queue(0, req_q);
        iommu_drv.setup_queue(1, event_q);
        iommu_drv.driver_ok();
        REQUIRE(iommu_drv.status() == 0xf);
    }

    static IommuDevice::Options default_options()
    {
        IommuDevice::Options o;
        o.limits.reserved.push_back(msi_doorbell_range());
        return o;
    }

    std::shared_ptr<MmioTransport> make(std::unique_ptr<Device> dev, std::uint64_t base, std::uint32_t* edges, DmaSpaces dma)
    {
        MmioOptions o;
        o.base = base;
        o.transport.dma = dma;
        auto t = MmioTransport::create(std::move(dev), host, std::make_unique<CountingIrqLine>(edges), o);
        REQUIRE(t);
        REQUIRE(bus.insert(*t, base, MmioTransport::SIZE));
        return std::move(t).value();
    }

    Answer send(const std::vector<std::byte>& readable, std::uint32_t writable_len = 4)
    {
        const std::uint64_t in = guest.alloc(readable.size());
        guest.write(in, readable);
        const std::uint64_t out = guest.alloc(writable_len);
        guest.fill(out, std::byte { 0xaa }, writable_len);
        req_q.add({ test::readable(in, static_cast<std::uint32_t>(readable.size())), test::writable(out, writable_len) });
        iommu_drv.notify(0);
        return collect(out, writable_len);
    }

    Answer collect(std::uint64_t out, std::uint32_t writable_len)
    {
        Answer a;
        auto used = req_q.pop_used();
        if (!used) {
            a.used_len = ~0U; // not completed
            return a;
        }
        a.used_len = used->len;
        a.written = guest.read(out, writable_len);
        a.status = std::to_integer<std::uint8_t>(a.written[writable_len - 4]);
        return a;
    }

    std::uint8_t ok(const std::vector<std::byte>& req) { return send(req).status; }

    // Identity-maps the pages of [gpa, gpa+len) for the echo device's domain 1, one mapping
    // per page, skipping pages mapped already (rings share pages).
    void map_identity(std::uint64_t gpa, std::uint64_t len, std::uint32_t flags = IOMMU_RW)
    {
        for (std::uint64_t p = gpa & ~(IOMMU_PAGE - 1); p < gpa + len; p += IOMMU_PAGE) {
            if (mapped_pages.insert(p).second) {
                REQUIRE(ok(map_req(1, p, p + IOMMU_PAGE - 1, p, flags)) == VIRTIO_IOMMU_S_OK);
            }
        }
    }
    std::set<std::uint64_t> mapped_pages;

    // The echo device's driver, with rings identity-mapped, up to DRIVER_OK.
    void start_echo()
    {
        REQUIRE(ok(attach_req(1, IOMMU_EP)) == VIRTIO_IOMMU_S_OK);
        map_identity(echo_q.desc_addr(), split_desc_table_size(8));
        map_identity(echo_q.avail_addr(), split_avail_ring_size(8));
        map_identity(echo_q.used_addr(), split_used_ring_size(8));
        REQUIRE(echo_drv.negotiate(feature_bit(VIRTIO_F_ACCESS_PLATFORM)));
        echo_drv.setup_queue(0, echo_q);
        echo_drv.driver_ok();
        REQUIRE(echo_drv.status() == 0xf);
    }

    // After the echo device needed a reset: a fresh ring, every old mapping gone, `pages`
    // (each one page) and the new rings mapped, and the driver up again.
    void restart_echo(std::initializer_list<std::uint64_t> pages)
    {
        echo_q = DriverSplitQueue(guest, 8);
        REQUIRE(ok(unmap_req(1, 0, 0xffff'ffff)) == VIRTIO_IOMMU_S_OK);
        mapped_pages.clear();
        for (std::uint64_t p : pages) {
            map_identity(p, IOMMU_PAGE);
        }
        map_identity(echo_q.desc_addr(), split_desc_table_size(8));
        map_identity(echo_q.avail_addr(), split_avail_ring_size(8));
        map_identity(echo_q.used_addr(), split_used_ring_size(8));
        REQUIRE(echo_drv.negotiate(feature_bit(VIRTIO_F_ACCESS_PLATFORM)));
        echo_drv.setup_queue(0, echo_q);
        echo_drv.driver_ok();
    }

    // Posts an event buffer for fault reports.
    std::uint64_t post_event_buffer()
    {
        const std::uint64_t at = guest.alloc(sizeof(VirtioIommuFault));
        event_q.add({ test::writable(at, sizeof(VirtioIommuFault)) });
        iommu_drv.notify(1);
        return at;
    }

    // Echo through the device: `in` holds the payload, `out` receives it.
    std::optional<UsedEntry> echo_through(std::uint64_t in, std::uint64_t out, std::uint32_t len)
    {
        echo_q.add({ test::readable(in, len), test::writable(out, len) });
        echo_drv.notify(0);
        return echo_q.pop_used();
    }

    FakeGuest guest;
    TestHost host;
    Bus bus { "mmio" };
    std::uint32_t iommu_edges = 0;
    std::uint32_t echo_edges = 0;
    IommuDevice* iommu = nullptr;
    EchoDevice* echo = nullptr;
    const DmaSpace* translated = nullptr;
    std::shared_ptr<MmioTransport> iommu_t;
    std::shared_ptr<MmioTransport> echo_t;
    MmioDriver iommu_drv { bus, host, IOMMU_BASE, iommu_edges };
    MmioDriver echo_drv { bus, host, ECHO_BASE, echo_edges };
    DriverSplitQueue req_q { guest, 16 };
    DriverSplitQueue event_q { guest, 8 };
    DriverSplitQueue echo_q { guest, 8 };
};

VirtioIommuFault read_fault(const FakeGuest& g, std::uint64_t at)
{
    return g.read_obj<VirtioIommuFault>(at);
}

} // namespace

TEST_CASE("virtio-iommu offers map/unmap, probe, ranges, MMIO and BYPASS_CONFIG, not legacy BYPASS", "[virtio][iommu]")
{
    Fixture f;

    const std::uint64_t offered = f.iommu_t->core().offered_features();

    CHECK((offered & IOMMU_FEATURES) == IOMMU_FEATURES);
    CHECK_FALSE(has_feature(offered, VIRTIO_IOMMU_F_BYPASS));
    const auto cfg = f.iommu_drv.read_config_obj<VirtioIommuConfig>(0);
    CHECK(cfg.page_size_mask.get() == ~std::uint64_t { 0xfff });
    CHECK(cfg.probe_size.get() == IommuDevice::PROBE_SIZE);
    CHECK(cfg.bypass == 0);
}

TEST_CASE("a device behind the IOMMU works through mappings of its rings and buffers", "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t in = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    const std::uint64_t out = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.guest.write(in, bytes_of("through the iommu"));
    f.map_identity(in, IOMMU_PAGE, VIRTIO_IOMMU_MAP_F_READ);
    f.map_identity(out, IOMMU_PAGE, VIRTIO_IOMMU_MAP_F_WRITE);

    auto used = f.echo_through(in, out, 17);

    REQUIRE(used);
    CHECK(used->len == 17);
    CHECK(f.guest.read(out, 17) == bytes_of("through the iommu"));
    CHECK(f.iommu->faults_reported() == 0);
}

TEST_CASE("translations within one mapping are served from the cache until the mapping changes",
    "[virtio][iommu]")
{
    Fixture f;
    REQUIRE(f.ok(attach_req(1, IOMMU_EP)) == VIRTIO_IOMMU_S_OK);
    const std::uint64_t buf = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.map_identity(buf, IOMMU_PAGE);
    const auto& dma = *f.translated;
    const auto* iommu_dma = dynamic_cast<const IommuDma*>(&dma);
    REQUIRE(iommu_dma != nullptr);

    REQUIRE(dma.resolve(buf, 64, Access::read));
    REQUIRE(dma.resolve(buf + 64, 64, Access::write));
    CHECK(iommu_dma->cache_hits() == 1);
    REQUIRE(f.ok(map_req(1, 0x9000'0000, 0x9000'0fff, buf)) == VIRTIO_IOMMU_S_OK);
    REQUIRE(dma.resolve(buf + 128, 64, Access::read)); // MAP adds, takes nothing away
    CHECK(iommu_dma->cache_hits() == 2);
    REQUIRE(f.ok(unmap_req(1, buf, buf + IOMMU_PAGE - 1)) == VIRTIO_IOMMU_S_OK);
    CHECK_FALSE(dma.resolve(buf, 64, Access::read));
    CHECK(iommu_dma->cache_hits() == 2);
}

TEST_CASE("an IOVA range over two mappings reaches two scattered guest pages", "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t in = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.guest.write(in, pattern(2 * 1024));
    f.map_identity(in, IOMMU_PAGE);
    // IOVA 0x4000'0000..0x4000'1fff: the first page onto one buffer, the second onto a page
    // far away in the other RAM region.
    const std::uint64_t first = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    const std::uint64_t second = FakeGuest::RAM1_BASE + 5 * IOMMU_PAGE;
    REQUIRE(f.ok(map_req(1, 0x4000'0000, 0x4000'0fff, first)) == VIRTIO_IOMMU_S_OK);
    REQUIRE(f.ok(map_req(1, 0x4000'1000, 0x4000'1fff, second)) == VIRTIO_IOMMU_S_OK);

    // 2 KiB written at IOVA 0x4000'0c00: 1 KiB into each page.
    auto used = f.echo_through(in, 0x4000'0c00, 2 * 1024);

    REQUIRE(used);
    const auto p = pattern(2 * 1024);
    CHECK(f.guest.read(first + 0xc00, 1024) == std::vector<std::byte>(p.begin(), p.begin() + 1024));
    CHECK(f.guest.read(second, 1024) == std::vector<std::byte>(p.begin() + 1024, p.end()));
}

TEST_CASE("DMA to an unmapped IOVA fails the request, and the fault is reported on the event queue",
    "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t event = f.post_event_buffer();
    const std::uint64_t in = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.map_identity(in, IOMMU_PAGE);

    auto used = f.echo_through(in, 0x7000'0000, 16);

    CHECK_FALSE(used);
    CHECK(f.echo_drv.needs_reset());
    CHECK(f.iommu->faults_reported() == 1);
    const auto fault = read_fault(f.guest, event);
    CHECK(fault.reason == VIRTIO_IOMMU_FAULT_R_MAPPING);
    CHECK(fault.endpoint.get() == IOMMU_EP);
    CHECK(fault.address.get() == 0x7000'0000);
    CHECK(fault.flags.get() == (VIRTIO_IOMMU_FAULT_F_WRITE | VIRTIO_IOMMU_FAULT_F_ADDRESS));
    CHECK(f.iommu_drv.queue_interrupts(1) >= 1);
}

TEST_CASE("a read-only mapping refuses the device's writes", "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t in = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    const std::uint64_t out = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.map_identity(in, IOMMU_PAGE);
    f.map_identity(out, IOMMU_PAGE, VIRTIO_IOMMU_MAP_F_READ);

    CHECK_FALSE(f.echo_through(in, out, 16));
    CHECK(f.iommu->faults_reported() == 1);
    CHECK(f.guest.read(out, 16) == std::vector<std::byte>(16));
}

TEST_CASE("the VMM keeps working after the guest drives a device to bad DMA; reset and remap recover it",
    "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t in = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    const std::uint64_t out = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.map_identity(in, IOMMU_PAGE);
    REQUIRE_FALSE(f.echo_through(in, out, 8));
    REQUIRE(f.echo_drv.needs_reset());

    f.map_identity(out, IOMMU_PAGE);
    f.restart_echo({ in, out });

    CHECK(f.echo_through(in, out, 8));
}

TEST_CASE("an UNMAP is not completed while I/O under the old mapping is in flight", "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t buf = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.map_identity(buf, IOMMU_PAGE);
    // Stands in for a device's asynchronous I/O that resolved the buffer and is still running.
    DmaPin in_flight = f.translated->pin();
    const std::uint64_t out = f.guest.alloc(4);
    const auto req = unmap_req(1, buf, buf + IOMMU_PAGE - 1);
    const std::uint64_t in = f.guest.alloc(req.size());
    f.guest.write(in, req);
    f.req_q.add({ readable(in, static_cast<std::uint32_t>(req.size())), writable(out, 4) });
    f.iommu_drv.notify(0);

    CHECK(f.collect(out, 4).used_len == ~0U);
    CHECK(f.iommu->requests_waiting_for_pins() == 1);
    in_flight.reset();

    const Answer a = f.collect(out, 4);
    CHECK(a.used_len == 4);
    CHECK(a.status == VIRTIO_IOMMU_S_OK);
    CHECK(f.iommu->requests_waiting_for_pins() == 0);
}

TEST_CASE("a cached translation does not outlive its UNMAP", "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t in = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    const std::uint64_t out = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.map_identity(in, IOMMU_PAGE);
    f.map_identity(out, IOMMU_PAGE);
    REQUIRE(f.echo_through(in, out, 8));
    REQUIRE(f.echo_through(in, out, 8));

    REQUIRE(f.ok(unmap_req(1, out, out + IOMMU_PAGE - 1)) == VIRTIO_IOMMU_S_OK);
    f.mapped_pages.erase(out);

    CHECK_FALSE(f.echo_through(in, out, 8));
    CHECK(f.iommu->faults_reported() == 1);
}

TEST_CASE("unmapping a running device's ring stops the queue with DEVICE_NEEDS_RESET and a fault",
    "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t in = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.map_identity(in, IOMMU_PAGE);
    REQUIRE(f.echo_through(in, in, 8));
    const std::uint64_t ring_page = f.echo_q.used_addr() & ~(IOMMU_PAGE - 1);

    REQUIRE(f.ok(unmap_req(1, ring_page, ring_page + IOMMU_PAGE - 1)) == VIRTIO_IOMMU_S_OK);
    f.echo_q.add({ readable(in, 8), writable(in, 8) });
    f.echo_drv.notify(0);

    CHECK(f.echo_drv.needs_reset());
    CHECK(f.iommu->faults_reported() >= 1);
}

TEST_CASE("PROBE reports the MSI doorbell window as a reserved MSI region", "[virtio][iommu]")
{
    Fixture f;

    const Answer a = f.send(probe_req(IOMMU_EP), IommuDevice::PROBE_SIZE + 4);

    CHECK(a.status == VIRTIO_IOMMU_S_OK);
    CHECK(a.used_len == IommuDevice::PROBE_SIZE + 4);
    VirtioIommuProbeResvMem p {};
    std::memcpy(&p, a.written.data(), sizeof(p));
    CHECK(p.type.get() == VIRTIO_IOMMU_PROBE_T_RESV_MEM);
    CHECK(p.length.get() == 20);
    CHECK(p.subtype == VIRTIO_IOMMU_RESV_MEM_T_MSI);
    CHECK(p.start.get() == 0xfee0'0000);
    CHECK(p.end.get() == 0xfeef'ffff);
    // The rest of the properties area is zero: a type-0 property ends the list.
    CHECK(std::all_of(a.written.begin() + sizeof(p), a.written.end() - 4, [](std::byte b) { return b == std::byte { 0 }; }));
}

TEST_CASE("PROBE with a properties area smaller than probe_size is refused without properties", "[virtio][iommu]")
{
    Fixture f;

    const Answer a = f.send(probe_req(IOMMU_EP), 16 + 4);

    CHECK(a.status == VIRTIO_IOMMU_S_INVAL);
    CHECK(std::all_of(a.written.begin(), a.written.begin() + 16, [](std::byte b) { return b == std::byte { 0xaa }; }));
}

TEST_CASE("PROBE of an unknown endpoint reports NOENT", "[virtio][iommu]")
{
    Fixture f;
    CHECK(f.send(probe_req(IOMMU_EP + 1), IommuDevice::PROBE_SIZE + 4).status == VIRTIO_IOMMU_S_NOENT);
}

TEST_CASE("an unknown request type and a request without a head come back unwritten", "[virtio][iommu]")
{
    Fixture f;

    const Answer unknown = f.send(head(9, 8));
    const Answer headless = f.send(std::vector<std::byte>(2));

    CHECK(unknown.used_len == 0);
    CHECK(unknown.status == 0xaa);
    CHECK(headless.used_len == 0);
}

TEST_CASE("a request shorter than its type is refused with INVAL", "[virtio][iommu]")
{
    Fixture f;
    auto req = map_req(1, 0, 0xfff, 0);
    req.resize(20);

    CHECK(f.ok(req) == VIRTIO_IOMMU_S_INVAL);
}

TEST_CASE("ATTACH with reserved bytes or unknown flags is refused with INVAL", "[virtio][iommu]")
{
    Fixture f;
    auto reserved = attach_req(1, IOMMU_EP);
    reserved[iommu_req::ATTACH_RESERVED + 2] = std::byte { 1 };

    CHECK(f.ok(reserved) == VIRTIO_IOMMU_S_INVAL);
    CHECK(f.ok(attach_req(1, IOMMU_EP, 1U << 5)) == VIRTIO_IOMMU_S_INVAL);
    CHECK(f.ok(attach_req(1, IOMMU_EP)) == VIRTIO_IOMMU_S_OK);
}

TEST_CASE("MAP with MMIO needs the MMIO feature, and unknown flags are refused", "[virtio][iommu]")
{
    Fixture f;
    REQUIRE(f.ok(attach_req(1, IOMMU_EP)) == VIRTIO_IOMMU_S_OK);

    CHECK(f.ok(map_req(1, 0x1000, 0x1fff, 0xfe00'0000, IOMMU_RW | VIRTIO_IOMMU_MAP_F_MMIO)) == VIRTIO_IOMMU_S_OK);
    CHECK(f.ok(map_req(1, 0x2000, 0x2fff, 0x1000, IOMMU_RW | (1U << 7))) == VIRTIO_IOMMU_S_INVAL);
}

TEST_CASE("with bypass on, an unattached endpoint works without mappings until the driver turns it off",
    "[virtio][iommu]")
{
    auto options = Fixture::default_options();
    options.bypass = true;
    Fixture f(options);
    REQUIRE(f.echo_drv.negotiate(feature_bit(VIRTIO_F_ACCESS_PLATFORM)));
    f.echo_drv.setup_queue(0, f.echo_q);
    f.echo_drv.driver_ok();
    const std::uint64_t in = f.guest.alloc(16);
    const std::uint64_t out = f.guest.alloc(16);
    REQUIRE(f.echo_through(in, out, 16));

    const std::uint8_t off = 0;
    f.iommu_drv.write_config(IOMMU_CONFIG_BYPASS_OFFSET, std::as_bytes(std::span(&off, 1)));

    CHECK(f.iommu_drv.read_config_obj<VirtioIommuConfig>(0).bypass == 0);
    CHECK_FALSE(f.echo_through(in, out, 16));
    CHECK(f.iommu->faults_reported() >= 1);
}

TEST_CASE("ATTACH with the bypass flag puts the endpoint in identity mode", "[virtio][iommu]")
{
    Fixture f;
    REQUIRE(f.ok(attach_req(3, IOMMU_EP, VIRTIO_IOMMU_ATTACH_F_BYPASS)) == VIRTIO_IOMMU_S_OK);
    REQUIRE(f.echo_drv.negotiate(feature_bit(VIRTIO_F_ACCESS_PLATFORM)));
    f.echo_drv.setup_queue(0, f.echo_q);
    f.echo_drv.driver_ok();

    CHECK(f.echo_through(f.guest.alloc(16), f.guest.alloc(16), 16));
    CHECK(f.ok(map_req(3, 0, 0xfff, 0)) == VIRTIO_IOMMU_S_INVAL);
}

TEST_CASE("with legacy bypass, unattached endpoints bypass once the driver accepts VIRTIO_IOMMU_F_BYPASS",
    "[virtio][iommu]")
{
    auto options = Fixture::default_options();
    options.legacy_bypass = true;
    Fixture f(options);

    CHECK(has_feature(f.iommu_t->core().offered_features(), VIRTIO_IOMMU_F_BYPASS));
    CHECK_FALSE(has_feature(f.iommu_t->core().offered_features(), VIRTIO_IOMMU_F_BYPASS_CONFIG));
    CHECK_FALSE(f.iommu->domains().unattached_bypass());
    REQUIRE(f.iommu_drv.negotiate(IOMMU_FEATURES | feature_bit(VIRTIO_IOMMU_F_BYPASS)));
    CHECK(f.iommu->domains().unattached_bypass());
}

TEST_CASE("a device reset of the IOMMU detaches every endpoint but keeps the bypass setting", "[virtio][iommu]")
{
    auto options = Fixture::default_options();
    options.bypass = true;
    Fixture f(options);
    REQUIRE(f.ok(attach_req(1, IOMMU_EP)) == VIRTIO_IOMMU_S_OK);
    REQUIRE(f.ok(map_req(1, 0, 0xfff, 0)) == VIRTIO_IOMMU_S_OK);

    f.iommu_drv.set_status(0);

    CHECK(f.iommu->domains().mapping_count() == 0);
    CHECK(f.iommu_drv.read_config_obj<VirtioIommuConfig>(0).bypass == 1);
    CHECK(f.iommu->domains().unattached_bypass());
}

TEST_CASE("a fault without an event buffer waits for one, and floods beyond the bound are dropped",
    "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    IommuFault fault { VIRTIO_IOMMU_FAULT_R_MAPPING, VIRTIO_IOMMU_FAULT_F_ADDRESS, IOMMU_EP, 0x1234'0000 };
    for (std::size_t i = 0; i < IommuDevice::MAX_PENDING_FAULTS + 10; ++i) {
        f.iommu->report_fault(fault);
    }
    CHECK(f.iommu->faults_dropped() == 10);

    const std::uint64_t at = f.post_event_buffer();

    CHECK(read_fault(f.guest, at).address.get() == 0x1234'0000);
}

TEST_CASE("iommu-state shows domains, mappings and recent faults", "[virtio][iommu]")
{
    Fixture f;
    f.start_echo();
    (void)f.echo_through(f.guest.alloc(16), 0x5000'0000, 16);

    const auto s = f.iommu->state();

    CHECK(s["domains"].size() == 1);
    CHECK(s["domains"][0]["endpoints"][0] == IOMMU_EP);
    CHECK(s["mapping_count"].get<std::size_t>() >= 1);
    REQUIRE(s["faults"].size() >= 1);
    CHECK(s["faults"][0]["reason"] == "mapping");
}


TEST_CASE("an injected fault fails DMA to a mapped range, is reported, and runs out after its count",
    "[virtio][iommu][faults]")
{
    Fixture f;
    f.start_echo();
    const std::uint64_t event = f.post_event_buffer();
    const std::uint64_t in = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    const std::uint64_t out = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);
    f.guest.write(in, bytes_of("mapped, refused"));
    f.map_identity(in, IOMMU_PAGE);
    f.map_identity(out, IOMMU_PAGE);
    // Reads of the other endpoint and writes elsewhere do not match; the write to `out` does.
    const auto rules = parse_iommu_faults(nlohmann::json::parse(fmt::format(
        R"([{{"endpoint": {}, "access": "read"}},
            {{"access": "write", "first_iova": {}, "last_iova": {}, "count": 1}},
            {{"endpoint": {}, "access": "write", "first_iova": {}, "last_iova": {}}}])",
        IOMMU_EP + 1, out + 8, out + 8, IOMMU_EP, 0x7000'0000, 0x7000'ffff)), "faults");
    REQUIRE(rules.has_value());
    f.iommu->injected_faults().set(*rules);

    CHECK_FALSE(f.echo_through(in, out, 16));
    CHECK(f.echo_drv.needs_reset());
    CHECK(f.iommu->faults_reported() == 1);
    const auto fault = read_fault(f.guest, event);
    CHECK(fault.reason == VIRTIO_IOMMU_FAULT_R_MAPPING);
    CHECK(fault.endpoint.get() == IOMMU_EP);
    CHECK(fault.address.get() == out + 8); // the first byte of the access that the rule covers
    CHECK(fault.flags.get() == (VIRTIO_IOMMU_FAULT_F_WRITE | VIRTIO_IOMMU_FAULT_F_ADDRESS));
    const auto& hit = f.iommu->injected_faults().rules();
    CHECK(hit[0].hit == 0);
    CHECK(hit[1].hit == 1);
    CHECK(hit[2].hit == 0);
    const auto state = f.iommu->state();
    CHECK(state["injected_faults"][1]["hit"] == 1);

    // The rule's one hit is spent: after a reset the same DMA goes through.
    f.restart_echo({ in, out });
    auto used = f.echo_through(in, out, 15);
    REQUIRE(used);
    CHECK(f.guest.read(out, 15) == bytes_of("mapped, refused"));
}

TEST_CASE("injected IOMMU fault rules are checked before they replace the old ones", "[virtio][iommu][faults]")
{
    using nlohmann::json;
    auto error = [](const json& j) {
        auto r = parse_iommu_faults(j, "faults");
        REQUIRE_FALSE(r.has_value());
        return r.error().describe();
    };
    using Catch::Matchers::Contains;
    CHECK_THAT(error(json::parse(R"([{"first_iova": 5, "last_iova": 4}])")), Contains("last_iova 0x4 is below"));
    CHECK_THAT(error(json::parse(R"([{"access": "exec"}])")), Contains("faults[0].access"));
    CHECK_THAT(error(json::parse(R"([{"endpoint": -1}])")), Contains("faults[0].endpoint"));
    CHECK_THAT(error(json::parse(R"([{"iova": 1}])")), Contains("faults[0].iova: unknown key"));
    CHECK_THAT(error(json::parse(R"({"access": "read"})")), Contains("expected an array"));
    CHECK_THAT(error(json(std::vector<json>(17, json::object()))), Contains("at most 16"));
    const auto all = parse_iommu_faults(json::parse("[{}]"), "faults");
    REQUIRE(all.has_value());
    CHECK_FALSE((*all)[0].endpoint);
    CHECK((*all)[0].first == 0);
    CHECK((*all)[0].last == UINT64_MAX);
    CHECK((*all)[0].access == Access::read_write);
}

TEST_CASE("injected error statuses answer chosen requests without carrying them out", "[virtio][iommu][faults]")
{
    Fixture f;
    StatusFaults* faults = f.iommu->status_faults();
    REQUIRE(faults != nullptr);
    const auto rules = faults->parse(
        nlohmann::json::parse(R"([{"status": "nomem", "request": "map", "count": 1}, {"status": "ioerr", "request": "probe"}])"),
        "status_faults");
    REQUIRE(rules.has_value());
    faults->set(*rules);
    REQUIRE(f.ok(attach_req(1, IOMMU_EP)) == VIRTIO_IOMMU_S_OK);
    const std::uint64_t buf = f.guest.alloc(IOMMU_PAGE, IOMMU_PAGE);

    CHECK(f.ok(map_req(1, buf, buf + IOMMU_PAGE - 1, buf)) == VIRTIO_IOMMU_S_NOMEM);
    CHECK_FALSE(f.translated->resolve(buf, 64, Access::read)); // the MAP did not happen
    CHECK(f.ok(map_req(1, buf, buf + IOMMU_PAGE - 1, buf)) == VIRTIO_IOMMU_S_OK); // its one hit is spent
    CHECK(f.translated->resolve(buf, 64, Access::read));
    CHECK(f.ok(probe_req(IOMMU_EP)) == VIRTIO_IOMMU_S_IOERR);
    CHECK(faults->to_json()["rules"][1]["hit"] == 1);
}

} // namespace vmm::virtio::test
