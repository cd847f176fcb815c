// SPDX-License-Identifier: Apache-2.0
// CPUID filtering.
#include "arch/x86_64/cpu/cpuid.hpp"

#include <bit>

namespace vmm::x86 {
namespace {

constexpr std::uint32_t LEAF_FEATURES = 0x1;
constexpr std::uint32_t LEAF_CACHE_PARAMS = 0x4;
constexpr std::uint32_t LEAF_PMU = 0xa;
constexpr std::uint32_t LEAF_TOPOLOGY = 0xb;
constexpr std::uint32_t LEAF_TOPOLOGY_V2 = 0x1f;
constexpr std::uint32_t LEAF_AMD_SIZES = 0x80000008;
constexpr std::uint32_t LEAF_AMD_TOPOLOGY = 0x8000001e;

constexpr std::uint32_t ECX_TSC_DEADLINE = 1U << 24;
constexpr std::uint32_t ECX_HYPERVISOR = 1U << 31;
constexpr std::uint32_t EDX_HTT = 1U << 28;

// Bits needed to number `n` items (x2APIC ID fields are powers of two).
std::uint32_t id_bits(std::uint32_t n) noexcept
{
    return n <= 1 ? 0 : static_cast<std::uint32_t>(std::bit_width(n - 1));
}

void set_field(std::uint32_t& reg, unsigned shift, unsigned width, std::uint32_t value) noexcept
{
    const std::uint32_t mask = (width >= 32 ? ~0U : ((1U << width) - 1U)) << shift;
    reg = (reg & ~mask) | ((value << shift) & mask);
}

} // namespace

void filter_cpuid(kvm::CpuidList& cpuid, const CpuidTopology& topo) noexcept
{
    const std::uint32_t count = topo.cpu_count == 0 ? 1 : topo.cpu_count;
    const std::uint32_t core_bits = id_bits(count);
    for (auto& e : cpuid.entries()) {
        switch (e.function) {
        case LEAF_FEATURES:
            // Intel SDM vol. 2A, CPUID leaf 1: EBX[31:24] initial APIC ID, EBX[23:16] logical
            // processors per package (meaningful with HTT).
            set_field(e.ebx, 24, 8, topo.cpu_index);
            set_field(e.ebx, 16, 8, count > 255 ? 255 : count);
            if (count > 1) {
                e.edx |= EDX_HTT;
            } else {
                e.edx &= ~EDX_HTT;
            }
            e.ecx |= ECX_HYPERVISOR;
            if (topo.tsc_deadline) {
                e.ecx |= ECX_TSC_DEADLINE;
            }
            break;
        case LEAF_CACHE_PARAMS:
            // EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing this cache - 1.
            // One thread per core, every cache private except the last level, shared by all.
            if ((e.eax & 0x1f) != 0) {
                set_field(e.eax, 26, 6, (1U << core_bits) - 1U);
                const std::uint32_t level = (e.eax >> 5) & 0x7;
                set_field(e.eax, 14, 12, level >= 3 ? (1U << core_bits) - 1U : 0U);
            }
            break;
        case LEAF_PMU:
            e.eax = e.ebx = e.ecx = e.edx = 0;
            break;
        case LEAF_TOPOLOGY:
        case LEAF_TOPOLOGY_V2:
            // Intel SDM: sub-leaf 0 is the SMT level, sub-leaf 1 the core level; EDX is always
            // the x2APIC ID. EAX = bits to shift the ID to the next level, EBX = processors at
            // this level, ECX[15:8] = level type (1 SMT, 2 core), ECX[7:0] = the sub-leaf.
            e.edx = topo.cpu_index;
            if (e.index == 0) {
                e.eax = 0;
                e.ebx = 1;
                e.ecx = (1U << 8) | 0U;
            } else if (e.index == 1) {
                e.eax = core_bits;
                e.ebx = count;
                e.ecx = (2U << 8) | 1U;
            } else {
                e.eax = e.ebx = 0;
                e.ecx = e.index & 0xff;
            }
            break;
        case LEAF_AMD_SIZES:
            // AMD APM: ECX[7:0] number of cores - 1, ECX[15:12] APIC ID size in bits.
            set_field(e.ecx, 0, 8, count - 1);
            set_field(e.ecx, 12, 4, core_bits);
            break;
        case LEAF_AMD_TOPOLOGY:
            // EAX extended APIC ID, EBX[7:0] compute unit ID, EBX[15:8] threads per unit - 1.
            e.eax = topo.cpu_index;
            set_field(e.ebx, 0, 8, topo.cpu_index);
            set_field(e.ebx, 8, 8, 0);
            set_field(e.ecx, 0, 8, 0);
            break;
        default:
            break;
        }
    }
}

} // namespace vmm::x86
