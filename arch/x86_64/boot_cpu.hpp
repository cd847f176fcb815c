// SPDX-License-Identifier: Apache-2.0
// The boot vCPU's entry state for the Linux 64-bit boot protocol and for PVH.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "vmm/base/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::x86 {

// Where and how to enter the loaded kernel.
struct BootInfo {
    enum class Protocol {
        linux64, // boot.rst "64-bit Boot Protocol": long mode, %rsi = boot_params
        pvh,     // Xen docs/misc/pvh.pandoc: 32-bit protected mode, %ebx = hvm_start_info
    };
    Protocol protocol = Protocol::linux64;
    std::uint64_t entry = 0;
    std::uint64_t params_addr = 0; // RSI for linux64 (zero page), RBX for PVH (start_info)
};

// Selectors of the boot GDT at GDT_START. boot.rst requires __BOOT_CS = 0x10 and
// __BOOT_DS = 0x18; PVH leaves them open, so it uses the same slots.
inline constexpr std::uint16_t BOOT_TSS_SELECTOR = 0x08;
inline constexpr std::uint16_t BOOT_CS_SELECTOR = 0x10;
inline constexpr std::uint16_t BOOT_DS_SELECTOR = 0x18;
inline constexpr std::uint64_t BOOT_GDT_ENTRIES = 4;

// Control register and EFER bits (Intel SDM vol. 3A §2.5, §2.2.1).
inline constexpr std::uint64_t X86_CR0_PE = 1ULL << 0;
inline constexpr std::uint64_t X86_CR0_ET = 1ULL << 4;
inline constexpr std::uint64_t X86_CR0_PG = 1ULL << 31;
inline constexpr std::uint64_t X86_CR4_PAE = 1ULL << 5;
inline constexpr std::uint64_t EFER_LME = 1ULL << 8;
inline constexpr std::uint64_t EFER_LMA = 1ULL << 10;

// Paging-structure entry bits (Intel SDM vol. 3A §4.5).
inline constexpr std::uint64_t PTE_PRESENT = 1ULL << 0;
inline constexpr std::uint64_t PTE_WRITABLE = 1ULL << 1;
inline constexpr std::uint64_t PTE_PAGE_SIZE = 1ULL << 7; // a 2 MiB page in a PD entry

// A GDT descriptor (Intel SDM vol. 3A §3.4.5): access byte = P, DPL, S, type; flags = G, D/B, L, AVL.
[[nodiscard]] std::uint64_t gdt_entry(std::uint8_t access, std::uint8_t flags, std::uint32_t base, std::uint32_t limit) noexcept;
// The hidden part of a segment register as loaded from `entry` through `selector`.
[[nodiscard]] kvm_segment segment_from_gdt_entry(std::uint64_t entry, std::uint16_t selector) noexcept;

// Writes the boot GDT and an empty IDT; for linux64 also identity page tables for the first
// 4 GiB (2 MiB pages). Then sets the registers each protocol documents for its entry and
// leaves the rest of *sregs (APIC base, LDT, pending interrupts) as the caller read them.
// General-purpose registers the protocols leave unspecified are zeroed.
[[nodiscard]] Result<> setup_boot_cpu(const GuestMemory& mem, const BootInfo& info, kvm_regs* regs, kvm_sregs* sregs);

} // namespace vmm::x86
