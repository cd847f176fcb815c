// SPDX-License-Identifier: Apache-2.0
// ELF64 vmlinux parsing and PVH boot (Xen docs/misc/pvh.pandoc).
#include "firmware/loader/elf_pvh.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <span>

#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/pvh.hpp"
#include "firmware/loader/placement.hpp"

namespace vmm::x86 {
namespace {

constexpr std::array<char, 4> XEN_NOTE_NAME = { 'X', 'e', 'n', '\0' };

// Rounds n up to align (4 or 8) without overflow; nullopt when it would wrap.
std::optional<std::uint64_t> padded(std::uint64_t n, std::uint64_t align)
{
    std::uint64_t r = 0;
    if (__builtin_add_overflow(n, align - 1, &r)) {
        return std::nullopt;
    }
    return r & ~(align - 1);
}

// Walks one PT_NOTE segment's bytes (ELF gABI "Note Section": namesz, descsz, type, then the
// name and the descriptor, each padded to the segment's alignment).
Result<std::optional<std::uint64_t>> scan_notes(std::span<const std::byte> notes, std::uint64_t align,
    const loader::ImageFile& file)
{
    std::uint64_t pos = 0;
    while (notes.size() - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh {};
        std::memcpy(&nh, notes.data() + pos, sizeof(nh));
        pos += sizeof(nh);
        const auto name_len = padded(nh.n_namesz, align);
        const auto desc_len = padded(nh.n_descsz, align);
        if (!name_len || !desc_len || *name_len > notes.size() - pos || *desc_len > notes.size() - pos - *name_len) {
            return fail(Errc::bad_format, "{}: an ELF note runs past the end of its segment", file.name());
        }
        const auto name = notes.subspan(pos, nh.n_namesz);
        const auto desc = notes.subspan(pos + *name_len, nh.n_descsz);
        pos += *name_len + *desc_len;
        if (nh.n_type != XEN_ELFNOTE_PHYS32_ENTRY || name.size() != XEN_NOTE_NAME.size()
            || std::memcmp(name.data(), XEN_NOTE_NAME.data(), name.size()) != 0) {
            continue;
        }
        // Linux emits a 4-byte value (.long); accept an 8-byte one if it stays below 4 GiB.
        std::uint64_t entry = 0;
        if (desc.size() == 4) {
            std::uint32_t v = 0;
            std::memcpy(&v, desc.data(), sizeof(v));
            entry = v;
        } else if (desc.size() == 8) {
            std::memcpy(&entry, desc.data(), sizeof(entry));
        } else {
            return fail(Errc::bad_format, "{}: the PVH entry note holds {} bytes, not 4 or 8", file.name(), desc.size());
        }
        if (entry > std::numeric_limits<std::uint32_t>::max()) {
            return fail(Errc::bad_format, "{}: the PVH entry {:#x} is above 4 GiB", file.name(), entry);
        }
        return std::optional<std::uint64_t>(entry);
    }
    return std::optional<std::uint64_t>();
}

} // namespace

Result<ElfKernel> parse_elf_kernel(const loader::ImageFile& file)
{
    if (file.size() < sizeof(Elf64_Ehdr)) {
        return fail(Errc::bad_format, "{} is truncated: {} bytes is shorter than an ELF64 header", file.name(), file.size());
    }
    const auto eh = VMM_TRY(file.read_obj<Elf64_Ehdr>(0));
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        return fail(Errc::bad_format, "{} is not an ELF file", file.name());
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
        return fail(Errc::unsupported, "{} is a 32-bit ELF file; a 64-bit x86_64 vmlinux is needed", file.name());
    }
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64) {
        return fail(Errc::unsupported, "{} is an ELF file for another machine (e_machine {}); an x86_64 vmlinux is needed",
            file.name(), eh.e_machine);
    }
    if (eh.e_type != ET_EXEC) {
        return fail(Errc::unsupported, "{} is not an ELF executable (e_type {}); a vmlinux is needed", file.name(), eh.e_type);
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS) {
        return fail(Errc::bad_format, "{}: bad program header table ({} entries of {} bytes)", file.name(), eh.e_phnum,
            eh.e_phentsize);
    }
    ElfKernel elf;
    elf.phdrs.resize(eh.e_phnum);
    // Invariant: e_phnum <= ELF_MAX_PHDRS, so the table's size cannot overflow; read_at checks
    // e_phoff + size against the file.
    VMM_TRY(file.read_at(eh.e_phoff, std::as_writable_bytes(std::span(elf.phdrs))));
    return elf;
}

Result<std::optional<std::uint64_t>> find_pvh_entry(const loader::ImageFile& file, const ElfKernel& elf)
{
    for (const auto& ph : elf.phdrs) {
        if (ph.p_type != PT_NOTE) {
            continue;
        }
        if (ph.p_filesz > ELF_MAX_NOTES_SIZE) {
            return fail(Errc::bad_format, "{}: a PT_NOTE segment of {} bytes is too large", file.name(), ph.p_filesz);
        }
        std::vector<std::byte> notes(ph.p_filesz);
        VMM_TRY(file.read_at(ph.p_offset, notes));
        const auto entry = VMM_TRY(scan_notes(notes, ph.p_align == 8 ? 8 : 4, file));
        if (entry) {
            return entry;
        }
    }
    return std::optional<std::uint64_t>();
}

Result<KernelImage> load_elf_segments(const GuestMemory& mem, const loader::ImageFile& file, const ElfKernel& elf,
    std::uint64_t entry)
{
    KernelImage k;
    k.protocol = BootInfo::Protocol::pvh;
    k.load_start = std::numeric_limits<std::uint64_t>::max();
    bool entry_loaded = false;
    // Check every segment before writing any, so a bad file leaves guest memory untouched.
    for (const auto& ph : elf.phdrs) {
        if (ph.p_type != PT_LOAD) {
            continue;
        }
        std::uint64_t end = 0;
        if (ph.p_filesz > ph.p_memsz) {
            return fail(Errc::bad_format, "{}: a segment's file size {:#x} exceeds its memory size {:#x}", file.name(),
                ph.p_filesz, ph.p_memsz);
        }
        if (!file.covers(ph.p_offset, ph.p_filesz)) {
            return fail(Errc::bad_format, "{} is truncated: a segment at offset {:#x} of {:#x} bytes runs past its end ({} bytes)",
                file.name(), ph.p_offset, ph.p_filesz, file.size());
        }
        // The boot data (GDT, page tables, start info, command line) lives below 1 MiB.
        if (__builtin_add_overflow(ph.p_paddr, ph.p_memsz, &end) || ph.p_paddr < HIGH_MEMORY_START
            || !mem.contains(GuestAddress { ph.p_paddr }, ph.p_memsz)) {
            return fail(Errc::out_of_range, "{}: the segment at guest address {:#x} ({:#x} bytes) is not in guest RAM above 1 MiB; "
                                            "give the VM more memory if the address is plausible",
                file.name(), ph.p_paddr, ph.p_memsz);
        }
        k.load_start = std::min(k.load_start, ph.p_paddr);
        k.load_end = std::max(k.load_end, end);
        entry_loaded = entry_loaded || (entry >= ph.p_paddr && entry < end);
    }
    if (k.load_end == 0) {
        return fail(Errc::bad_format, "{} has no loadable segments", file.name());
    }
    if (!entry_loaded) {
        return fail(Errc::bad_format, "{}: the PVH entry {:#x} is outside every loaded segment", file.name(), entry);
    }
    for (const auto& ph : elf.phdrs) {
        if (ph.p_type != PT_LOAD) {
            continue;
        }
        VMM_TRY(file.read_into(mem, GuestAddress { ph.p_paddr }, ph.p_offset, ph.p_filesz));
        // Invariant: [p_paddr, p_paddr + p_memsz) was checked to lie in one RAM region.
        std::byte* bss = mem.host_ptr(GuestAddress { ph.p_paddr + ph.p_filesz }, ph.p_memsz - ph.p_filesz);
        std::memset(bss, 0, ph.p_memsz - ph.p_filesz);
    }
    k.entry = entry;
    k.initrd_limit = MEM_32BIT_HOLE_START;
    k.cmdline_limit = CMDLINE_MAX_SIZE - 1;
    return k;
}

Result<BootInfo> load_pvh_elf(const GuestMemory& mem, const loader::ImageFile& file, const BootRequest& req)
{
    const auto elf = VMM_TRY(parse_elf_kernel(file));
    const auto entry = VMM_TRY(find_pvh_entry(file, elf));
    if (!entry) {
        return fail(Errc::unsupported, "{} is an ELF kernel without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); "
                                       "build it with CONFIG_PVH=y or boot the bzImage",
            file.name());
    }
    if (req.memory_map.size() > PVH_MEMMAP_MAX_ENTRIES) {
        return fail(Errc::out_of_range, "the memory map has {} entries; PVH boot passes at most {}", req.memory_map.size(),
            PVH_MEMMAP_MAX_ENTRIES);
    }
    const auto kernel = VMM_TRY(load_elf_segments(mem, file, elf, *entry));
    VMM_TRY(write_cmdline(mem, req.cmdline, kernel));

    PvhStartSpec spec;
    spec.cmdline_paddr = CMDLINE_START;
    spec.memory_map = req.memory_map;
    spec.rsdp_paddr = req.rsdp_addr;
    if (req.initrd) {
        const auto initrd = VMM_TRY(load_initrd(mem, *req.initrd, kernel));
        spec.initrd = PvhModule { initrd.addr, initrd.size };
    }
    const auto info_addr = VMM_TRY(write_pvh_start_info(mem, spec));
    return BootInfo { BootInfo::Protocol::pvh, kernel.entry, info_addr };
}

} // namespace vmm::x86
