// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "arch/x86_64/cpu/cpuid.hpp"

using namespace vmm;

namespace {

kvm::CpuidList sample()
{
    kvm::CpuidList l;
    l.clear();
    kvm_cpuid_entry2 e {};
    e.function = 1;
    e.ebx = 0xff00'0000; // a host APIC ID that must be replaced
    l.push(e);
    e = {};
    e.function = 0xb;
    e.index = 0;
    l.push(e);
    e.index = 1;
    l.push(e);
    e = {};
    e.function = 0xa;
    e.eax = 0x12345678;
    l.push(e);
    return l;
}

} // namespace

TEST_CASE("CPUID reports the vCPU's own APIC ID and the VM's CPU count", "[cpuid]")
{
    auto l = sample();
    x86::filter_cpuid(l, { .cpu_index = 3, .cpu_count = 4, .tsc_deadline = true });
    const auto* leaf1 = l.find(1);
    REQUIRE(leaf1 != nullptr);
    CHECK((leaf1->ebx >> 24) == 3);
    CHECK(((leaf1->ebx >> 16) & 0xff) == 4);
    CHECK((leaf1->ecx & (1U << 31)) != 0); // hypervisor present
    CHECK((leaf1->ecx & (1U << 24)) != 0); // TSC deadline
    CHECK((leaf1->edx & (1U << 28)) != 0); // HTT: more than one logical CPU
}

TEST_CASE("CPUID leaf 0xB describes one thread per core and all cores in one package", "[cpuid]")
{
    auto l = sample();
    x86::filter_cpuid(l, { .cpu_index = 5, .cpu_count = 6 });
    const auto* smt = l.find(0xb, 0);
    const auto* core = l.find(0xb, 1);
    REQUIRE(smt != nullptr);
    REQUIRE(core != nullptr);
    CHECK(smt->ebx == 1);
    CHECK(smt->edx == 5);
    CHECK(core->eax == 3); // 6 cores need 3 ID bits
    CHECK(core->ebx == 6);
    CHECK(((core->ecx >> 8) & 0xff) == 2);
}

TEST_CASE("CPUID hides the PMU and does not claim HTT for one vCPU", "[cpuid]")
{
    auto l = sample();
    x86::filter_cpuid(l, { .cpu_index = 0, .cpu_count = 1 });
    CHECK(l.find(0xa)->eax == 0);
    CHECK((l.find(1)->edx & (1U << 28)) == 0);
    CHECK((l.find(1)->ecx & (1U << 24)) == 0);
}
