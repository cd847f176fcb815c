// SPDX-License-Identifier: Apache-2.0
// Boot GDT, IDT, identity page tables and the boot vCPU's registers.
#include "arch/x86_64/boot_cpu.hpp"

#include <array>
#include <limits>
#include <vector>

#include "arch/x86_64/layout.hpp"

namespace vmm::x86 {
namespace {

// Access bytes: present, DPL 0; code/data have S set and the accessed bit already set, so
// the CPU never writes back to this table (and VMX requires it of usable segments).
constexpr std::uint8_t ACCESS_CODE = 0x9b;   // execute/read, accessed
constexpr std::uint8_t ACCESS_DATA = 0x93;   // read/write, accessed
constexpr std::uint8_t ACCESS_TSS = 0x8b;    // system, busy TSS
constexpr std::uint8_t FLAGS_CODE64 = 0xa;   // G, L
constexpr std::uint8_t FLAGS_FLAT32 = 0xc;   // G, D/B
constexpr std::uint32_t FLAT_LIMIT = 0xfffff; // with G: 4 GiB
constexpr std::uint32_t TSS_LIMIT = 0x67;    // pvh.pandoc: "base 0 and limit 0x67"

constexpr std::uint64_t RFLAGS_RESERVED = 0x2; // bit 1 reads as 1; IF, TF and VM clear
constexpr std::uint64_t PAGE_SIZE = 0x1000;
constexpr std::uint64_t ENTRIES_PER_TABLE = 512;
constexpr std::uint64_t LARGE_PAGE_SIZE = 0x20'0000;

static_assert(GDT_START + BOOT_GDT_ENTRIES * 8 <= IDT_START);

Result<> write_gdt(const GuestMemory& mem, std::uint8_t code_flags, std::array<kvm_segment, 3>* segs)
{
    // Slot 1 describes the task register (the guest never loads TR from here before it has
    // its own GDT); slots 2 and 3 are the flat code and data segments.
    const std::array<std::uint64_t, BOOT_GDT_ENTRIES> gdt {
        0,
        gdt_entry(ACCESS_TSS, 0, 0, TSS_LIMIT),
        gdt_entry(ACCESS_CODE, code_flags, 0, FLAT_LIMIT),
        gdt_entry(ACCESS_DATA, FLAGS_FLAT32, 0, FLAT_LIMIT),
    };
    VMM_TRY(mem.write(GuestAddress { GDT_START }, std::as_bytes(std::span(gdt))));
    (*segs)[0] = segment_from_gdt_entry(gdt[1], BOOT_TSS_SELECTOR);
    (*segs)[1] = segment_from_gdt_entry(gdt[2], BOOT_CS_SELECTOR);
    (*segs)[2] = segment_from_gdt_entry(gdt[3], BOOT_DS_SELECTOR);
    return {};
}

Result<> write_idt(const GuestMemory& mem)
{
    // One empty 16-byte gate: an exception before the kernel loads its own IDT shuts the
    // guest down instead of jumping somewhere.
    const std::array<std::uint64_t, 2> idt {};
    return mem.write(GuestAddress { IDT_START }, std::as_bytes(std::span(idt)));
}

// One PML4 entry → one PDPT → PDE_COUNT page directories of 2 MiB pages: an identity map of
// the first 4 GiB, which holds the kernel, its init_size range, the zero page, the command
// line and the initrd (boot.rst, 64-bit boot protocol).
Result<> write_page_tables(const GuestMemory& mem)
{
    std::vector<std::uint64_t> pml4(ENTRIES_PER_TABLE, 0);
    pml4[0] = PDPTE_START | PTE_PRESENT | PTE_WRITABLE;
    std::vector<std::uint64_t> pdpt(ENTRIES_PER_TABLE, 0);
    for (std::uint64_t i = 0; i < PDE_COUNT; ++i) {
        pdpt[i] = (PDE_START + i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITABLE;
    }
    std::vector<std::uint64_t> pd(PDE_COUNT * ENTRIES_PER_TABLE);
    for (std::uint64_t i = 0; i < pd.size(); ++i) {
        pd[i] = (i * LARGE_PAGE_SIZE) | PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE;
    }
    VMM_TRY(mem.write(GuestAddress { PML4_START }, std::as_bytes(std::span(pml4))));
    VMM_TRY(mem.write(GuestAddress { PDPTE_START }, std::as_bytes(std::span(pdpt))));
    VMM_TRY(mem.write(GuestAddress { PDE_START }, std::as_bytes(std::span(pd))));
    return {};
}

void load_segments(const std::array<kvm_segment, 3>& segs, kvm_sregs* sregs)
{
    sregs->tr = segs[0];
    sregs->cs = segs[1];
    sregs->ds = segs[2];
    sregs->es = segs[2];
    sregs->fs = segs[2];
    sregs->gs = segs[2];
    sregs->ss = segs[2];
    sregs->gdt.base = GDT_START;
    sregs->gdt.limit = static_cast<std::uint16_t>(BOOT_GDT_ENTRIES * 8 - 1);
    sregs->idt.base = IDT_START;
    sregs->idt.limit = 15;
}

} // namespace

std::uint64_t gdt_entry(std::uint8_t access, std::uint8_t flags, std::uint32_t base, std::uint32_t limit) noexcept
{
    return (std::uint64_t { limit } & 0xffff) | ((std::uint64_t { base } & 0xff'ffff) << 16)
        | (std::uint64_t { access } << 40) | ((std::uint64_t { limit } >> 16 & 0xf) << 48)
        | (std::uint64_t { flags } & 0xf) << 52 | (std::uint64_t { base } >> 24 & 0xff) << 56;
}

kvm_segment segment_from_gdt_entry(std::uint64_t entry, std::uint16_t selector) noexcept
{
    const auto bit = [entry](unsigned n) { return static_cast<std::uint8_t>(entry >> n & 1); };
    const auto raw_limit = static_cast<std::uint32_t>((entry & 0xffff) | (entry >> 32 & 0xf'0000));
    kvm_segment s {};
    s.base = (entry >> 16 & 0xff'ffff) | (entry >> 32 & 0xff00'0000);
    s.g = bit(55);
    // With G set the limit counts 4 KiB pages; KVM takes it in bytes.
    s.limit = s.g != 0 ? (raw_limit << 12 | 0xfff) : raw_limit;
    s.selector = selector;
    s.type = static_cast<std::uint8_t>(entry >> 40 & 0xf);
    s.s = bit(44);
    s.dpl = static_cast<std::uint8_t>(entry >> 45 & 0x3);
    s.present = bit(47);
    s.avl = bit(52);
    s.l = bit(53);
    s.db = bit(54);
    s.unusable = 0;
    return s;
}

Result<> setup_boot_cpu(const GuestMemory& mem, const BootInfo& info, kvm_regs* regs, kvm_sregs* sregs)
{
    if (regs == nullptr || sregs == nullptr) {
        return fail(Errc::invalid_argument, "setup_boot_cpu: no register block given");
    }
    const bool pvh = info.protocol == BootInfo::Protocol::pvh;
    constexpr std::uint64_t max32 = std::numeric_limits<std::uint32_t>::max();
    if (pvh && (info.entry > max32 || info.params_addr > max32)) {
        return fail(Errc::out_of_range, "PVH entry {:#x} or start info {:#x} is above 4 GiB; the entry runs in 32-bit mode",
            info.entry, info.params_addr);
    }

    std::array<kvm_segment, 3> segs {};
    VMM_TRY(write_gdt(mem, pvh ? FLAGS_FLAT32 : FLAGS_CODE64, &segs));
    VMM_TRY(write_idt(mem));
    load_segments(segs, sregs);

    *regs = kvm_regs {};
    regs->rip = info.entry;
    regs->rflags = RFLAGS_RESERVED;
    regs->rsp = BOOT_STACK_POINTER;
    regs->rbp = BOOT_STACK_POINTER;
    if (pvh) {
        // pvh.pandoc: CR0.PE set and every other writable bit clear (ET is read-only, always 1
        // on CPUs with KVM), CR4 clear, paging and long mode off.
        regs->rbx = info.params_addr;
        sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
        sregs->cr3 = 0;
        sregs->cr4 = 0;
        sregs->efer = 0;
    } else {
        // boot.rst, 64-bit boot protocol: long mode, paging on, identity-mapped.
        VMM_TRY(write_page_tables(mem));
        regs->rsi = info.params_addr;
        sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
        sregs->cr3 = PML4_START;
        sregs->cr4 = X86_CR4_PAE;
        sregs->efer = EFER_LME | EFER_LMA;
    }
    return {};
}

} // namespace vmm::x86
