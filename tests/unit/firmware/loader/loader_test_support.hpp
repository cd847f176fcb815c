// SPDX-License-Identifier: Apache-2.0
// Test helpers for the kernel loaders: temporary files, guest RAM, synthetic bzImage and ELF images.
#pragma once

#include <elf.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "arch/x86_64/boot_params.hpp"
#include "arch/x86_64/cpu/ram_layout.hpp"
#include "arch/x86_64/e820.hpp"
#include "firmware/loader/elf_pvh.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace Catch {
template <>
struct StringMaker<vmm::x86::E820Entry> {
    static std::string convert(const vmm::x86::E820Entry& e)
    {
        return fmt::format("{{addr {:#x}, size {:#x}, type {}}}", e.addr, e.size, e.type);
    }
};
} // namespace Catch

namespace vmm::test {

inline constexpr std::uint64_t MiB = 1ULL << 20;
inline constexpr std::uint64_t GiB = 1ULL << 30;

// A file in the temporary directory, removed when the object goes.
class TempFile {
public:
    explicit TempFile(const std::vector<std::byte>& bytes)
    {
        std::string name = (std::filesystem::temp_directory_path() / "vireo-loader-XXXXXX").string();
        const int fd = ::mkstemp(name.data());
        REQUIRE(fd >= 0);
        path_ = name;
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
            REQUIRE(n > 0);
            done += static_cast<std::size_t>(n);
        }
        ::close(fd);
    }
    explicit TempFile(const std::string& text) : TempFile(to_bytes(text)) {}
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile()
    {
        std::error_code ec;
        std::filesystem::remove(path_, ec);
    }

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

    static std::vector<std::byte> to_bytes(const std::string& text)
    {
        std::vector<std::byte> b(text.size());
        std::memcpy(b.data(), text.data(), text.size());
        return b;
    }

private:
    std::filesystem::path path_;
};

// Guest RAM laid out as the VMM lays it out (ram_layout()).
inline GuestMemory make_memory(std::uint64_t ram_size)
{
    auto mem = GuestMemory::create(x86::ram_layout(ram_size));
    REQUIRE(mem);
    return std::move(mem).value();
}

// A byte pattern that differs at every offset modulo 251, so misplaced copies show.
inline std::vector<std::byte> pattern(std::uint64_t size, std::uint8_t seed)
{
    std::vector<std::byte> b(size);
    for (std::uint64_t i = 0; i < size; ++i) {
        b[i] = static_cast<std::byte>((i % 251 + seed) & 0xff);
    }
    return b;
}

// Catch binds a reference to the values it checks, and a field of a packed wire struct
// (boot_params) may be misaligned: CHECK(val(bp.hdr.version) == ...) checks a copy.
template <class T>
T val(T v)
{
    return v;
}

inline std::vector<std::byte> read_guest(const GuestMemory& mem, std::uint64_t gpa, std::uint64_t len)
{
    std::vector<std::byte> out(len);
    REQUIRE(mem.read(GuestAddress { gpa }, out));
    return out;
}

template <class T>
void put(std::vector<std::byte>* buf, std::uint64_t offset, const T& v)
{
    REQUIRE(offset + sizeof(T) <= buf->size());
    std::memcpy(buf->data() + offset, &v, sizeof(T));
}

// ---- Synthetic bzImage ---------------------------------------------------------------------

struct BzImageSpec {
    std::uint8_t setup_sects = 4;
    std::uint8_t real_setup_sects = 4; // what the file really holds (setup_sects 0 means 4)
    std::uint16_t version = 0x020f;
    std::uint16_t kernel_version = 0x0345;
    std::uint16_t xloadflags = x86::XLF_KERNEL_64 | x86::XLF_CAN_BE_LOADED_ABOVE_4G;
    std::uint8_t relocatable = 1;
    std::uint32_t kernel_alignment = 0x20'0000;
    std::uint64_t pref_address = 0x100'0000;
    std::uint32_t init_size = 0x40'0000;
    std::uint32_t cmdline_size = 2047;
    std::uint32_t initrd_addr_max = 0x7fff'ffff;
    std::uint8_t header_jump = 0x6a;   // header ends at 0x202 + 0x6a = 0x26c
    std::uint64_t kernel_size = 0x3000; // protected-mode part
    std::uint32_t syssize_extra = 0;   // paragraphs declared beyond the real size
};

inline std::uint64_t bz_setup_size(const BzImageSpec& s)
{
    return (std::uint64_t { s.real_setup_sects } + 1) * 512;
}

inline std::vector<std::byte> make_bzimage(const BzImageSpec& s)
{
    const std::uint64_t setup = bz_setup_size(s);
    std::vector<std::byte> img(setup, std::byte { 0xcc }); // setup code: never copied
    x86::SetupHeader h {};
    h.setup_sects = s.setup_sects;
    h.syssize = static_cast<std::uint32_t>((s.kernel_size + 15) / 16) + s.syssize_extra;
    h.boot_flag = 0xaa55;
    h.jump = static_cast<std::uint16_t>(0xeb | (s.header_jump << 8));
    h.header = x86::SETUP_HEADER_MAGIC;
    h.version = s.version;
    h.kernel_version = s.kernel_version;
    h.loadflags = x86::LOADED_HIGH;
    h.code32_start = 0x10'0000;
    h.initrd_addr_max = s.initrd_addr_max;
    h.kernel_alignment = s.kernel_alignment;
    h.relocatable_kernel = s.relocatable;
    h.min_alignment = 21;
    h.xloadflags = s.xloadflags;
    h.cmdline_size = s.cmdline_size;
    h.pref_address = s.pref_address;
    h.init_size = s.init_size;
    put(&img, x86::SETUP_HEADER_OFFSET, h);
    const auto kernel = pattern(s.kernel_size, 7);
    img.insert(img.end(), kernel.begin(), kernel.end());
    return img;
}

// ---- Synthetic ELF vmlinux ------------------------------------------------------------------

struct ElfSegment {
    std::uint64_t paddr = 0;
    std::uint64_t filesz = 0;
    std::uint64_t memsz = 0;
    std::uint64_t offset = 0; // 0: placed after the previous segment's data
};

struct ElfSpec {
    std::vector<ElfSegment> segments { { 0x100'0000, 0x2000, 0x3000, 0 } };
    bool pvh_note = true;
    std::string note_name = std::string("Xen", 4); // with its NUL
    std::uint32_t note_type = x86::XEN_ELFNOTE_PHYS32_ENTRY;
    std::uint32_t note_namesz = 0; // 0: the real name size
    std::uint32_t note_descsz = 4; // 4 (.long) or 8 (as Linux 6.1 emits it)
    std::uint64_t entry = 0x100'0100;
    std::uint8_t elf_class = ELFCLASS64;
    std::uint16_t machine = EM_X86_64;
};

inline constexpr std::uint64_t ELF_DATA_START = 0x1000;

// The file offset of segment i's data, as make_elf() lays them out.
inline std::uint64_t elf_segment_offset(const ElfSpec& s, std::size_t i)
{
    std::uint64_t off = ELF_DATA_START;
    for (std::size_t j = 0; j < i; ++j) {
        off += s.segments[j].filesz;
    }
    return s.segments[i].offset != 0 ? s.segments[i].offset : off;
}

inline std::vector<std::byte> make_elf(const ElfSpec& s)
{
    std::uint64_t data_size = 0;
    for (const auto& seg : s.segments) {
        data_size += seg.filesz;
    }
    std::vector<std::byte> img(ELF_DATA_START + data_size);

    const std::size_t phnum = s.segments.size() + (s.pvh_note ? 1 : 0);
    Elf64_Ehdr eh {};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = s.elf_class;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = s.machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = 0xffff'ffff'8100'0000;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<std::uint16_t>(phnum);
    put(&img, 0, eh);

    std::uint64_t ph_off = sizeof(Elf64_Ehdr);
    for (std::size_t i = 0; i < s.segments.size(); ++i) {
        const auto& seg = s.segments[i];
        Elf64_Phdr ph {};
        ph.p_type = PT_LOAD;
        ph.p_flags = PF_R | PF_X;
        ph.p_offset = elf_segment_offset(s, i);
        ph.p_vaddr = seg.paddr + 0xffff'ffff'8000'0000;
        ph.p_paddr = seg.paddr;
        ph.p_filesz = seg.filesz;
        ph.p_memsz = seg.memsz;
        ph.p_align = 0x20'0000;
        put(&img, ph_off, ph);
        ph_off += sizeof(Elf64_Phdr);
        if (seg.offset == 0) {
            const auto data = pattern(seg.filesz, static_cast<std::uint8_t>(i + 1));
            std::memcpy(img.data() + ph.p_offset, data.data(), data.size());
        }
    }
    if (s.pvh_note) {
        // One note: Elf64_Nhdr, the name padded to 4, then the entry as the descriptor.
        const std::uint64_t note_off = ph_off + sizeof(Elf64_Phdr);
        const std::uint64_t name_padded = (s.note_name.size() + 3) & ~std::uint64_t { 3 };
        Elf64_Nhdr nh {};
        nh.n_namesz = s.note_namesz != 0 ? s.note_namesz : static_cast<std::uint32_t>(s.note_name.size());
        nh.n_descsz = s.note_descsz;
        nh.n_type = s.note_type;
        put(&img, note_off, nh);
        std::memcpy(img.data() + note_off + sizeof(nh), s.note_name.data(), s.note_name.size());
        if (s.note_descsz == 8) {
            put(&img, note_off + sizeof(nh) + name_padded, s.entry);
        } else {
            put(&img, note_off + sizeof(nh) + name_padded, static_cast<std::uint32_t>(s.entry));
        }

        Elf64_Phdr ph {};
        ph.p_type = PT_NOTE;
        ph.p_offset = note_off;
        ph.p_filesz = sizeof(nh) + name_padded + (s.note_descsz == 8 ? 8 : 4);
        ph.p_align = 4;
        put(&img, ph_off, ph);
        REQUIRE(note_off + ph.p_filesz <= ELF_DATA_START);
    }
    return img;
}

} // namespace vmm::test
