// SPDX-License-Identifier: Apache-2.0
// Writes the PVH start info, memory map and module list into guest memory.
#include "arch/x86_64/pvh.hpp"

#include <vector>

#include "arch/x86_64/layout.hpp"

namespace vmm::x86 {

static_assert(PVH_INFO_START + sizeof(HvmStartInfo) <= PVH_MEMMAP_START);
static_assert(PVH_MEMMAP_START + PVH_MEMMAP_MAX_ENTRIES * sizeof(HvmMemmapTableEntry) <= PVH_MODLIST_START);
static_assert(PVH_MODLIST_START + sizeof(HvmModlistEntry) <= ZERO_PAGE_START);

Result<std::uint64_t> write_pvh_start_info(const GuestMemory& mem, const PvhStartSpec& spec)
{
    if (spec.memory_map.size() > PVH_MEMMAP_MAX_ENTRIES) {
        return fail(Errc::out_of_range, "the memory map has {} entries; PVH boot passes at most {}",
            spec.memory_map.size(), PVH_MEMMAP_MAX_ENTRIES);
    }

    std::vector<HvmMemmapTableEntry> memmap;
    memmap.reserve(spec.memory_map.size());
    for (const auto& e : spec.memory_map) {
        memmap.push_back(HvmMemmapTableEntry { e.addr, e.size, e.type, 0 });
    }
    VMM_TRY(mem.write(GuestAddress { PVH_MEMMAP_START }, std::as_bytes(std::span(memmap))));

    HvmStartInfo info {};
    info.magic = HVM_START_MAGIC_VALUE;
    info.version = HVM_START_INFO_VERSION;
    info.cmdline_paddr = spec.cmdline_paddr;
    info.rsdp_paddr = spec.rsdp_paddr;
    info.memmap_paddr = PVH_MEMMAP_START;
    info.memmap_entries = static_cast<std::uint32_t>(memmap.size());
    if (spec.initrd) {
        const HvmModlistEntry module { spec.initrd->paddr, spec.initrd->size, 0, 0 };
        VMM_TRY(mem.write_obj(GuestAddress { PVH_MODLIST_START }, module));
        info.nr_modules = 1;
        info.modlist_paddr = PVH_MODLIST_START;
    }
    VMM_TRY(mem.write_obj(GuestAddress { PVH_INFO_START }, info));
    return PVH_INFO_START;
}

} // namespace vmm::x86
