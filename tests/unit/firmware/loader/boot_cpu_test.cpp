// SPDX-License-Identifier: Apache-2.0
// setup_boot_cpu(): GDT, page tables and register state for 64-bit and PVH entry.
#include <cstdint>

#include <catch2/catch.hpp>

#include "arch/x86_64/boot_cpu.hpp"
#include "arch/x86_64/layout.hpp"
#include "tests/unit/firmware/loader/loader_test_support.hpp"

using namespace vmm;
using namespace vmm::x86;
using namespace vmm::test;

namespace {

constexpr std::uint64_t APIC_BASE_MSR_VALUE = 0xfee0'0900; // enabled, BSP

struct Fixture {
    Fixture() : mem(make_memory(128 * MiB))
    {
        sregs.apic_base = APIC_BASE_MSR_VALUE;
        regs.rax = 0x1234; // stale state from the vCPU's reset
    }

    Result<> setup(BootInfo::Protocol protocol)
    {
        const BootInfo info { protocol, 0x100'0200, protocol == BootInfo::Protocol::pvh ? PVH_INFO_START : ZERO_PAGE_START };
        return setup_boot_cpu(mem, info, &regs, &sregs);
    }

    std::uint64_t guest_u64(std::uint64_t gpa) const
    {
        auto v = mem.read_obj<std::uint64_t>(GuestAddress { gpa });
        REQUIRE(v);
        return *v;
    }

    GuestMemory mem;
    kvm_regs regs {};
    kvm_sregs sregs {};
};

} // namespace

TEST_CASE("64-bit entry runs in long mode with paging on and RSI at the zero page", "[loader][boot_cpu]")
{
    Fixture f;

    REQUIRE(f.setup(BootInfo::Protocol::linux64));

    CHECK((f.sregs.cr0 & (X86_CR0_PE | X86_CR0_PG)) == (X86_CR0_PE | X86_CR0_PG));
    CHECK(f.sregs.cr4 == X86_CR4_PAE);
    CHECK(f.sregs.efer == (EFER_LME | EFER_LMA));
    CHECK(f.sregs.cr3 == PML4_START);
    CHECK(f.regs.rip == 0x100'0200);
    CHECK(f.regs.rsi == ZERO_PAGE_START);
    CHECK(f.regs.rflags == 0x2);
    CHECK(f.regs.rax == 0);
}

TEST_CASE("64-bit entry uses a flat 64-bit code segment at 0x10 and flat data at 0x18", "[loader][boot_cpu]")
{
    Fixture f;

    REQUIRE(f.setup(BootInfo::Protocol::linux64));

    CHECK(f.sregs.cs.selector == 0x10);
    CHECK(f.sregs.cs.l == 1);
    CHECK(f.sregs.cs.db == 0);
    CHECK(f.sregs.cs.type == 0xb);
    CHECK(f.sregs.cs.s == 1);
    CHECK(f.sregs.cs.present == 1);
    CHECK(f.sregs.cs.dpl == 0);
    CHECK(f.sregs.cs.g == 1);
    CHECK(f.sregs.cs.base == 0);
    CHECK(f.sregs.cs.limit == 0xffff'ffff);
    CHECK(f.sregs.ds.selector == 0x18);
    CHECK(f.sregs.ds.type == 0x3);
    CHECK(f.sregs.ds.db == 1);
    CHECK(f.sregs.ss.selector == 0x18);
    CHECK(f.sregs.es.selector == 0x18);
    CHECK(f.sregs.tr.type == 0xb);
    CHECK(f.sregs.tr.s == 0);
}

TEST_CASE("the GDT in guest memory holds the descriptors the segment registers were loaded from", "[loader][boot_cpu]")
{
    Fixture f;

    REQUIRE(f.setup(BootInfo::Protocol::linux64));

    CHECK(f.guest_u64(GDT_START) == 0);
    CHECK(f.guest_u64(GDT_START + 0x10) == 0x00af'9b00'0000'ffff);
    CHECK(f.guest_u64(GDT_START + 0x18) == 0x00cf'9300'0000'ffff);
    CHECK(f.sregs.gdt.base == GDT_START);
    CHECK(f.sregs.gdt.limit == 31);
    CHECK(f.sregs.idt.base == IDT_START);
}

TEST_CASE("64-bit entry identity-maps the first 4 GiB with 2 MiB pages", "[loader][boot_cpu]")
{
    Fixture f;

    REQUIRE(f.setup(BootInfo::Protocol::linux64));

    CHECK(f.guest_u64(PML4_START) == (PDPTE_START | 0x3));
    CHECK(f.guest_u64(PML4_START + 8) == 0);
    CHECK(f.guest_u64(PDPTE_START) == (PDE_START | 0x3));
    CHECK(f.guest_u64(PDPTE_START + 3 * 8) == ((PDE_START + 0x3000) | 0x3));
    CHECK(f.guest_u64(PDPTE_START + 4 * 8) == 0);
    CHECK(f.guest_u64(PDE_START) == 0x83);
    CHECK(f.guest_u64(PDE_START + 8 * 8) == (0x100'0000 | 0x83)); // 16 MiB: the kernel
    CHECK(f.guest_u64(PDE_START + 4 * 0x1000 - 8) == (0xffe0'0000 | 0x83));
}

TEST_CASE("PVH entry runs in 32-bit protected mode with paging off and RBX at the start info", "[loader][boot_cpu]")
{
    Fixture f;

    REQUIRE(f.setup(BootInfo::Protocol::pvh));

    CHECK((f.sregs.cr0 & X86_CR0_PE) != 0);
    CHECK((f.sregs.cr0 & X86_CR0_PG) == 0);
    CHECK(f.sregs.cr4 == 0);
    CHECK(f.sregs.efer == 0);
    CHECK(f.regs.rip == 0x100'0200);
    CHECK(f.regs.rbx == PVH_INFO_START);
    CHECK(f.regs.rflags == 0x2);
}

TEST_CASE("PVH entry uses a flat 32-bit code segment and a 0x67-byte TSS", "[loader][boot_cpu]")
{
    Fixture f;

    REQUIRE(f.setup(BootInfo::Protocol::pvh));

    CHECK(f.sregs.cs.l == 0);
    CHECK(f.sregs.cs.db == 1);
    CHECK(f.sregs.cs.type == 0xb);
    CHECK(f.sregs.cs.limit == 0xffff'ffff);
    CHECK(f.guest_u64(GDT_START + 0x10) == 0x00cf'9b00'0000'ffff);
    CHECK(f.sregs.ds.db == 1);
    CHECK(f.sregs.tr.limit == 0x67);
    CHECK(f.sregs.tr.base == 0);
    CHECK(f.sregs.tr.present == 1);
}

TEST_CASE("setup_boot_cpu keeps the APIC base the caller read from the vCPU", "[loader][boot_cpu]")
{
    Fixture f;

    REQUIRE(f.setup(BootInfo::Protocol::linux64));

    CHECK(f.sregs.apic_base == APIC_BASE_MSR_VALUE);
}

TEST_CASE("a PVH entry above 4 GiB is refused", "[loader][boot_cpu]")
{
    Fixture f;
    const BootInfo info { BootInfo::Protocol::pvh, 0x1'0000'0000, PVH_INFO_START };

    auto r = setup_boot_cpu(f.mem, info, &f.regs, &f.sregs);

    REQUIRE_FALSE(r);
    CHECK(r.error().code == make_error_code(Errc::out_of_range));
}

TEST_CASE("a GDT descriptor decodes back to the base, limit and attributes it was built from", "[loader][boot_cpu]")
{
    const auto entry = gdt_entry(0x93, 0xc, 0x1234'5678, 0xabcde);

    const auto seg = segment_from_gdt_entry(entry, 0x18);

    CHECK(seg.base == 0x1234'5678);
    CHECK(seg.limit == 0xabcd'efff);
    CHECK(seg.type == 0x3);
    CHECK(seg.s == 1);
    CHECK(seg.present == 1);
    CHECK(seg.db == 1);
    CHECK(seg.g == 1);
    CHECK(seg.l == 0);
}
