// SPDX-License-Identifier: Apache-2.0
// IommuDomains: the request semantics of virtio 1.2 §5.13.6, including the spec's UNMAP
// examples, and translation.
#include <memory>

#include <catch2/catch.hpp>

#include "virtio/devices/iommu/iommu_domains.hpp"
#include "virtio/spec/iommu.hpp"

namespace vmm::virtio::test {
namespace {

constexpr std::uint32_t EP = 8;
constexpr std::uint32_t RW = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE;
constexpr std::uint64_t PAGE = 0x1000;

// Byte granularity, so that the spec's examples (map(0, 4), ...) can be written as they are.
std::unique_ptr<IommuDomains> byte_domains()
{
    IommuDomains::Limits limits;
    limits.granule = 1;
    auto d = std::make_unique<IommuDomains>(limits);
    d->add_endpoint(EP);
    REQUIRE(d->attach(1, EP, false) == VIRTIO_IOMMU_S_OK);
    return d;
}

std::unique_ptr<IommuDomains> page_domains(IommuDomains::Limits limits = {})
{
    auto d = std::make_unique<IommuDomains>(std::move(limits));
    d->add_endpoint(EP);
    d->add_endpoint(EP + 1);
    REQUIRE(d->attach(1, EP, false) == VIRTIO_IOMMU_S_OK);
    return d;
}

bool mapped(const std::unique_ptr<IommuDomains>& d, std::uint64_t iova)
{
    IommuFault f;
    return d->translate(EP, iova, 1, Access::read, &f).has_value();
}

} // namespace

// virtio 1.2 §5.13.6.5, the seven UNMAP examples, each on a blank address space.
TEST_CASE("UNMAP example 1: unmapping nothing succeeds", "[virtio][iommu]")
{
    auto d = byte_domains();
    CHECK(d->unmap(1, 0, 4) == VIRTIO_IOMMU_S_OK);
}

TEST_CASE("UNMAP example 2: unmapping exactly one mapping removes it", "[virtio][iommu]")
{
    auto d = byte_domains();
    REQUIRE(d->map(1, 0, 9, 0x1000, RW) == VIRTIO_IOMMU_S_OK);
    CHECK(d->unmap(1, 0, 9) == VIRTIO_IOMMU_S_OK);
    CHECK_FALSE(mapped(d, 0));
    CHECK(d->mapping_count() == 0);
}

TEST_CASE("UNMAP example 3: one range removes two adjacent mappings", "[virtio][iommu]")
{
    auto d = byte_domains();
    REQUIRE(d->map(1, 0, 4, 0x1000, RW) == VIRTIO_IOMMU_S_OK);
    REQUIRE(d->map(1, 5, 9, 0x2000, RW) == VIRTIO_IOMMU_S_OK);
    CHECK(d->unmap(1, 0, 9) == VIRTIO_IOMMU_S_OK);
    CHECK(d->mapping_count() == 0);
}

TEST_CASE("UNMAP example 4: splitting a mapping fails and removes nothing", "[virtio][iommu]")
{
    auto d = byte_domains();
    REQUIRE(d->map(1, 0, 9, 0x1000, RW) == VIRTIO_IOMMU_S_OK);
    CHECK(d->unmap(1, 0, 4) == VIRTIO_IOMMU_S_RANGE);
    CHECK(mapped(d, 0));
    CHECK(mapped(d, 9));
}

TEST_CASE("UNMAP example 5: one of two mappings is removed", "[virtio][iommu]")
{
    auto d = byte_domains();
    REQUIRE(d->map(1, 0, 4, 0x1000, RW) == VIRTIO_IOMMU_S_OK);
    REQUIRE(d->map(1, 5, 9, 0x2000, RW) == VIRTIO_IOMMU_S_OK);
    CHECK(d->unmap(1, 0, 4) == VIRTIO_IOMMU_S_OK);
    CHECK_FALSE(mapped(d, 0));
    CHECK(mapped(d, 5));
}

TEST_CASE("UNMAP example 6: a range spilling past the mapping removes it", "[virtio][iommu]")
{
    auto d = byte_domains();
    REQUIRE(d->map(1, 0, 4, 0x1000, RW) == VIRTIO_IOMMU_S_OK);
    CHECK(d->unmap(1, 0, 9) == VIRTIO_IOMMU_S_OK);
    CHECK(d->mapping_count() == 0);
}

TEST_CASE("UNMAP example 7: a range over a gap removes the mappings on both sides", "[virtio][iommu]")
{
    auto d = byte_domains();
    REQUIRE(d->map(1, 0, 4, 0x1000, RW) == VIRTIO_IOMMU_S_OK);
    REQUIRE(d->map(1, 10, 14, 0x2000, RW) == VIRTIO_IOMMU_S_OK);
    CHECK(d->unmap(1, 0, 14) == VIRTIO_IOMMU_S_OK);
    CHECK(d->mapping_count() == 0);
}

TEST_CASE("an UNMAP whose end splits the last mapping fails and removes nothing", "[virtio][iommu]")
{
    auto d = byte_domains();
    REQUIRE(d->map(1, 0, 4, 0x1000, RW) == VIRTIO_IOMMU_S_OK);
    REQUIRE(d->map(1, 5, 9, 0x2000, RW) == VIRTIO_IOMMU_S_OK);
    CHECK(d->unmap(1, 0, 7) == VIRTIO_IOMMU_S_RANGE);
    CHECK(d->mapping_count() == 2);
}

TEST_CASE("MAP refuses overlaps, misalignment, inverted and out-of-range ranges", "[virtio][iommu]")
{
    auto d = page_domains();
    REQUIRE(d->map(1, 0x10000, 0x1ffff, 0x100000, RW) == VIRTIO_IOMMU_S_OK);

    CHECK(d->map(1, 0x1f000, 0x2ffff, 0x200000, RW) == VIRTIO_IOMMU_S_INVAL); // overlaps the end
    CHECK(d->map(1, 0x0f000, 0x10fff, 0x200000, RW) == VIRTIO_IOMMU_S_INVAL); // overlaps the start
    CHECK(d->map(1, 0x00000, 0xfffff, 0x200000, RW) == VIRTIO_IOMMU_S_INVAL); // covers it
    CHECK(d->map(1, 0x20800, 0x20fff, 0x200000, RW) == VIRTIO_IOMMU_S_RANGE); // start not page aligned
    CHECK(d->map(1, 0x20000, 0x207ff, 0x200000, RW) == VIRTIO_IOMMU_S_RANGE); // end + 1 not aligned
    CHECK(d->map(1, 0x20000, 0x20fff, 0x200800, RW) == VIRTIO_IOMMU_S_RANGE); // phys not aligned
    CHECK(d->map(1, 0x30000, 0x2ffff, 0x200000, RW) == VIRTIO_IOMMU_S_INVAL); // virt_end < virt_start
    CHECK(d->map(1, 0x20000, ~std::uint64_t { 0 }, 0, RW) == VIRTIO_IOMMU_S_RANGE); // past input_range
    CHECK(d->map(1, 0x20000, 0x21fff, ~std::uint64_t { 0 } & ~(PAGE - 1), RW) == VIRTIO_IOMMU_S_RANGE); // phys wraps
    CHECK(d->map(7, 0x20000, 0x20fff, 0x200000, RW) == VIRTIO_IOMMU_S_NOENT); // no such domain
    CHECK(d->mapping_count() == 1);
}

TEST_CASE("MAP refuses a range over a reserved region", "[virtio][iommu]")
{
    IommuDomains::Limits limits;
    limits.reserved.push_back({ VIRTIO_IOMMU_RESV_MEM_T_MSI, 0xfee00000, 0xfeefffff });
    auto d = page_domains(limits);

    CHECK(d->map(1, 0xfe000000, 0xfeffffff, 0x100000, RW) == VIRTIO_IOMMU_S_INVAL);
    CHECK(d->map(1, 0xfd000000, 0xfdffffff, 0x100000, RW) == VIRTIO_IOMMU_S_OK);
}

TEST_CASE("MAP beyond the mapping budget reports NOMEM", "[virtio][iommu]")
{
    IommuDomains::Limits limits;
    limits.max_mappings = 2;
    auto d = page_domains(limits);
    REQUIRE(d->map(1, 0x0000, 0x0fff, 0, RW) == VIRTIO_IOMMU_S_OK);
    REQUIRE(d->map(1, 0x1000, 0x1fff, 0, RW) == VIRTIO_IOMMU_S_OK);

    CHECK(d->map(1, 0x2000, 0x2fff, 0, RW) == VIRTIO_IOMMU_S_NOMEM);
}

TEST_CASE("ATTACH checks the endpoint, the domain range and the bypass kind", "[virtio][iommu]")
{
    IommuDomains::Limits limits;
    limits.domain_start = 1;
    limits.domain_end = 10;
    auto d = page_domains(limits);

    CHECK(d->attach(1, 99, false) == VIRTIO_IOMMU_S_NOENT);
    CHECK(d->attach(11, EP + 1, false) == VIRTIO_IOMMU_S_RANGE);
    CHECK(d->attach(0, EP + 1, false) == VIRTIO_IOMMU_S_RANGE);
    CHECK(d->attach(1, EP + 1, true) == VIRTIO_IOMMU_S_INVAL); // domain 1 is not a bypass domain
    CHECK(d->attach(1, EP + 1, false) == VIRTIO_IOMMU_S_OK);   // two endpoints share a domain
}

TEST_CASE("attaching an attached endpoint elsewhere detaches it first: old mappings are gone", "[virtio][iommu]")
{
    auto d = page_domains();
    REQUIRE(d->map(1, 0x10000, 0x10fff, 0x100000, RW) == VIRTIO_IOMMU_S_OK);
    REQUIRE(mapped(d, 0x10000));
    const auto before = d->generations().current();

    REQUIRE(d->attach(2, EP, false) == VIRTIO_IOMMU_S_OK);

    CHECK_FALSE(mapped(d, 0x10000));
    CHECK(d->generations().current() > before);
    // Domain 1 lost its only endpoint and ceased to exist.
    CHECK(d->map(1, 0x20000, 0x20fff, 0, RW) == VIRTIO_IOMMU_S_NOENT);
}

TEST_CASE("DETACH checks the endpoint and the domain it is attached to", "[virtio][iommu]")
{
    auto d = page_domains();

    CHECK(d->detach(1, 99) == VIRTIO_IOMMU_S_NOENT);
    CHECK(d->detach(2, EP) == VIRTIO_IOMMU_S_INVAL);
    CHECK(d->detach(1, EP + 1) == VIRTIO_IOMMU_S_INVAL); // known, but not attached
    CHECK(d->detach(1, EP) == VIRTIO_IOMMU_S_OK);
    IommuFault f;
    CHECK_FALSE(d->translate(EP, 0, 1, Access::read, &f));
    CHECK(f.reason == VIRTIO_IOMMU_FAULT_R_DOMAIN);
}

TEST_CASE("a bypass domain translates by identity and takes no mappings", "[virtio][iommu]")
{
    auto d = page_domains();
    REQUIRE(d->attach(5, EP + 1, true) == VIRTIO_IOMMU_S_OK);

    CHECK(d->map(5, 0, 0xfff, 0, RW) == VIRTIO_IOMMU_S_INVAL);
    CHECK(d->unmap(5, 0, 0xfff) == VIRTIO_IOMMU_S_INVAL);
    IommuFault f;
    auto p = d->translate(EP + 1, 0x1234'5000, 64, Access::write, &f);
    REQUIRE(p);
    CHECK(p->bypass);
}

TEST_CASE("an unattached endpoint faults unless unattached endpoints bypass", "[virtio][iommu]")
{
    auto d = page_domains();
    IommuFault f;

    CHECK_FALSE(d->translate(EP + 1, 0x5000, 8, Access::read, &f));
    CHECK(f.reason == VIRTIO_IOMMU_FAULT_R_DOMAIN);
    CHECK(f.endpoint == EP + 1);
    d->set_unattached_bypass(true);
    CHECK(d->translate(EP + 1, 0x5000, 8, Access::read, &f));
    // An attached endpoint is translated, bypass or not.
    CHECK_FALSE(d->translate(EP, 0x5000, 8, Access::read, &f));
}

TEST_CASE("translation checks permissions and reports the faulting address and access", "[virtio][iommu]")
{
    auto d = page_domains();
    REQUIRE(d->map(1, 0x10000, 0x10fff, 0x100000, VIRTIO_IOMMU_MAP_F_READ) == VIRTIO_IOMMU_S_OK);
    REQUIRE(d->map(1, 0x11000, 0x11fff, 0x200000, VIRTIO_IOMMU_MAP_F_WRITE) == VIRTIO_IOMMU_S_OK);
    IommuFault f;

    CHECK(d->translate(EP, 0x10010, 16, Access::read, &f));
    CHECK_FALSE(d->translate(EP, 0x10010, 16, Access::write, &f));
    CHECK(f.reason == VIRTIO_IOMMU_FAULT_R_MAPPING);
    CHECK(f.address == 0x10010);
    CHECK(f.flags == (VIRTIO_IOMMU_FAULT_F_WRITE | VIRTIO_IOMMU_FAULT_F_ADDRESS));
    // Write-only really is write-only.
    CHECK_FALSE(d->translate(EP, 0x11000, 16, Access::read, &f));
    CHECK(d->translate(EP, 0x11000, 16, Access::write, &f));
}

TEST_CASE("translation stops at the end of a mapping and gives the offset into it", "[virtio][iommu]")
{
    auto d = page_domains();
    REQUIRE(d->map(1, 0x10000, 0x10fff, 0x300000, RW) == VIRTIO_IOMMU_S_OK);
    IommuFault f;

    auto p = d->translate(EP, 0x10f00, 0x400, Access::read, &f);

    REQUIRE(p);
    CHECK(p->gpa == 0x300f00);
    CHECK(p->len == 0x100);
}

TEST_CASE("detach_all leaves no endpoint attached", "[virtio][iommu]")
{
    auto d = page_domains();
    REQUIRE(d->map(1, 0x10000, 0x10fff, 0x300000, RW) == VIRTIO_IOMMU_S_OK);

    d->detach_all();

    CHECK_FALSE(mapped(d, 0x10000));
    CHECK(d->mapping_count() == 0);
    CHECK(d->attach(1, EP, false) == VIRTIO_IOMMU_S_OK);
    CHECK_FALSE(mapped(d, 0x10000));
}

} // namespace vmm::virtio::test
