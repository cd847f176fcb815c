// SPDX-License-Identifier: Apache-2.0
#include <cstring>

#include <catch2/catch.hpp>

#include "vmm/vcpu/vcpu_report.hpp"

using namespace vmm;

namespace {

void set_reg(kvm_lapic_state& s, std::size_t off, std::uint32_t v)
{
    std::memcpy(s.regs + off, &v, sizeof(v));
}

kvm_lapic_state lapic_with(std::initializer_list<std::pair<std::size_t, std::uint32_t>> regs)
{
    kvm_lapic_state s {};
    for (auto [off, v] : regs) {
        set_reg(s, off, v);
    }
    return s;
}

VcpuReport halted_report()
{
    VcpuReport r;
    r.index = 1;
    r.phase = VcpuPhase::in_guest;
    r.exits = 42;
    r.seconds_since_exit = 12.5;
    r.last_exit = ExitSite { KVM_EXIT_MMIO, 0xd0000050, 4, true };
    VcpuGuestState g;
    g.regs.rip = 0xffffffff81234567;
    g.regs.rflags = 0x246;
    g.mp_state = KVM_MP_STATE_HALTED;
    // TSC-deadline timer, vector 0xec, armed 1000 ticks in the past; 0xec pending in the IRR.
    g.lapic = summarize_lapic(lapic_with({ { 0x20, 1U << 24 }, { 0xf0, 0x1ff }, { 0x320, (2U << 17) | 0xec },
        { 0x200 + 7 * 0x10, 1U << (0xec - 224) } }));
    g.tsc = 5000;
    g.tsc_deadline = 4000;
    r.guest = g;
    return r;
}

} // namespace

TEST_CASE("the local APIC's vector registers decode to the vectors whose bits are set", "[vcpu-report]")
{
    // IRR word 1 bit 0 = vector 32, word 7 bit 31 = vector 255; ISR word 2 bit 3 = vector 67.
    const auto s = summarize_lapic(lapic_with({ { 0x200 + 1 * 0x10, 1U }, { 0x200 + 7 * 0x10, 1U << 31 },
        { 0x100 + 2 * 0x10, 1U << 3 }, { 0x80, 0x20 }, { 0xa0, 0x40 }, { 0x20, 3U << 24 } }));
    CHECK(s.irr == std::vector<std::uint8_t> { 32, 255 });
    CHECK(s.isr == std::vector<std::uint8_t> { 67 });
    CHECK(s.tpr == 0x20);
    CHECK(s.ppr == 0x40);
    CHECK(s.id == 3);
    CHECK_FALSE(s.software_enabled);
}

TEST_CASE("the LVT timer's mode field names the timer mode", "[vcpu-report]")
{
    CHECK(std::string(lapic_timer_mode(0)) == "one-shot");
    CHECK(std::string(lapic_timer_mode(1U << 17)) == "periodic");
    CHECK(std::string(lapic_timer_mode(2U << 17)) == "tsc-deadline");
    CHECK(std::string(lapic_timer_mode(3U << 17)) == "reserved");
}

TEST_CASE("a report line says where the thread is and what is pending", "[vcpu-report]")
{
    const std::string line = describe(halted_report());
    CHECK_THAT(line, Catch::Contains("vCPU 1: in-guest for 12.500 s after 42 exits"));
    CHECK_THAT(line, Catch::Contains("mmio write of 4 bytes at 0xd0000050"));
    CHECK_THAT(line, Catch::Contains("rip 0xffffffff81234567"));
    CHECK_THAT(line, Catch::Contains("(interrupts on)"));
    CHECK_THAT(line, Catch::Contains("mp_state halted"));
    CHECK_THAT(line, Catch::Contains("irr [0xec] isr []"));
    CHECK_THAT(line, Catch::Contains("timer tsc-deadline vector 0xec deadline 1000 TSC ticks ago"));
}

TEST_CASE("a report of a thread held in the VMM carries the note and no guest state", "[vcpu-report]")
{
    VcpuReport r;
    r.phase = VcpuPhase::in_vmm;
    r.last_exit = ExitSite { KVM_EXIT_IO, 0x3f8, 1, true };
    r.seconds_since_exit = 3.0;
    r.note = "held";
    const std::string line = describe(r);
    CHECK_THAT(line, Catch::Contains("in-vmm for 3.000 s"));
    CHECK_THAT(line, Catch::Contains("port write of 1 bytes at 0x3f8"));
    CHECK_THAT(line, Catch::EndsWith("; held"));
    const auto j = to_json(r);
    CHECK(j["thread"] == "in-vmm");
    CHECK(j["note"] == "held");
    CHECK_FALSE(j.contains("regs"));
}

TEST_CASE("the JSON report has the registers, MP state, APIC and timer", "[vcpu-report]")
{
    const auto j = to_json(halted_report());
    CHECK(j["index"] == 1);
    CHECK(j["thread"] == "in-guest");
    CHECK(j["last_exit"]["reason"] == "mmio");
    CHECK(j["last_exit"]["address"] == "0xd0000050");
    CHECK(j["regs"]["rip"] == "0xffffffff81234567");
    CHECK(j["interrupts_enabled"] == true);
    CHECK(j["mp_state"] == "halted");
    CHECK(j["lapic"]["irr"] == nlohmann::json::array({ "0xec" }));
    CHECK(j["lapic"]["enabled"] == true);
    CHECK(j["lapic"]["timer"]["mode"] == "tsc-deadline");
    CHECK(j["lapic"]["timer"]["tsc_deadline"] == 4000);
    CHECK(j["tsc"] == 5000);
}

TEST_CASE("exit reasons have names, and unknown ones their number", "[vcpu-report]")
{
    CHECK(exit_reason_name(KVM_EXIT_IO) == "io");
    CHECK(exit_reason_name(KVM_EXIT_HLT) == "hlt");
    CHECK(exit_reason_name(250) == "exit 250");
}
