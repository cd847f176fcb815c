// SPDX-License-Identifier: Apache-2.0
// PVH boot of an ELF vmlinux: segments, the entry note, hvm_start_info, and refused files.
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/pvh.hpp"
#include "firmware/loader/kernel.hpp"
#include "tests/unit/firmware/loader/loader_test_support.hpp"

using namespace vmm;
using namespace vmm::x86;
using namespace vmm::test;
using Catch::Matchers::Contains;

namespace {

struct Fixture {
    Fixture() : mem(make_memory(128 * MiB))
    {
        req.cmdline = "console=ttyS0";
        req.memory_map = build_e820(mem);
        req.rsdp_addr = ACPI_START;
    }

    Result<BootInfo> load(const ElfSpec& spec)
    {
        kernel.emplace(make_elf(spec));
        req.kernel = kernel->path();
        return load_kernel(mem, req);
    }

    HvmStartInfo start_info() const
    {
        auto info = mem.read_obj<HvmStartInfo>(GuestAddress { PVH_INFO_START });
        REQUIRE(info);
        return *info;
    }

    GuestMemory mem;
    BootRequest req;
    std::optional<TempFile> kernel;
};

} // namespace

TEST_CASE("an ELF vmlinux with a PVH note is entered at the note's address with RBX at the start info", "[loader][pvh]")
{
    Fixture f;

    auto info = f.load(ElfSpec {});

    REQUIRE(info);
    CHECK(info->protocol == BootInfo::Protocol::pvh);
    CHECK(info->entry == 0x100'0100);
    CHECK(info->params_addr == PVH_INFO_START);
}

TEST_CASE("PT_LOAD segments are copied to their physical addresses and zero-filled up to memsz", "[loader][pvh]")
{
    Fixture f;
    REQUIRE(f.mem.write(GuestAddress { 0x100'2000 }, pattern(0x1000, 9))); // stale bytes where the bss goes

    REQUIRE(f.load(ElfSpec {}));

    CHECK(read_guest(f.mem, 0x100'0000, 0x2000) == pattern(0x2000, 1));
    CHECK(read_guest(f.mem, 0x100'2000, 0x1000) == std::vector<std::byte>(0x1000));
}

TEST_CASE("the PVH start info carries magic, version, command line, memory map and RSDP", "[loader][pvh]")
{
    Fixture f;

    REQUIRE(f.load(ElfSpec {}));

    const auto si = f.start_info();
    CHECK(si.magic == HVM_START_MAGIC_VALUE);
    CHECK(si.version == 1);
    CHECK(si.cmdline_paddr == CMDLINE_START);
    CHECK(si.rsdp_paddr == ACPI_START);
    CHECK(si.nr_modules == 0);
    CHECK(si.memmap_paddr == PVH_MEMMAP_START);
    REQUIRE(si.memmap_entries == 3);
    auto last = f.mem.read_obj<HvmMemmapTableEntry>(GuestAddress { PVH_MEMMAP_START + 2 * sizeof(HvmMemmapTableEntry) });
    REQUIRE(last);
    CHECK(last->addr == HIGH_MEMORY_START);
    CHECK(last->size == 127 * MiB);
    CHECK(last->type == E820_RAM);
}

TEST_CASE("the initrd becomes the one PVH module, placed at the top of RAM", "[loader][pvh]")
{
    Fixture f;
    const auto initrd_bytes = pattern(5000, 4);
    TempFile initrd(initrd_bytes);
    f.req.initrd = initrd.path();

    REQUIRE(f.load(ElfSpec {}));

    const auto si = f.start_info();
    REQUIRE(si.nr_modules == 1);
    CHECK(si.modlist_paddr == PVH_MODLIST_START);
    auto module = f.mem.read_obj<HvmModlistEntry>(GuestAddress { PVH_MODLIST_START });
    REQUIRE(module);
    CHECK(module->paddr == 128 * MiB - 0x2000);
    CHECK(module->size == 5000);
    CHECK(read_guest(f.mem, module->paddr, 5000) == initrd_bytes);
}

TEST_CASE("an 8-byte PVH entry note, as Linux 6.1 emits it, gives the entry", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.note_descsz = 8;
    spec.entry = 0x100'0850;

    auto info = f.load(spec);

    REQUIRE(info);
    CHECK(info->entry == 0x100'0850);
}

TEST_CASE("a PVH entry note of another size is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.note_descsz = 2;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("not 4 or 8"));
}

TEST_CASE("an ELF vmlinux without a PVH note is refused with a hint", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.pvh_note = false;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::unsupported));
    CHECK_THAT(info.error().message, Contains(f.kernel->path().string()) && Contains("CONFIG_PVH"));
}

TEST_CASE("a note of the PVH type under another name is not taken for the PVH entry", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.note_name = std::string("GNU", 4);

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("CONFIG_PVH"));
}

TEST_CASE("a note whose name runs past its segment is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.note_namesz = 0xffff'fff0;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::bad_format));
    CHECK_THAT(info.error().message, Contains("past the end"));
}

TEST_CASE("a segment outside guest RAM is refused and nothing is loaded", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.segments.push_back(ElfSegment { 1 * GiB, 0x1000, 0x1000, 0 });

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::out_of_range));
    CHECK_THAT(info.error().message, Contains("0x40000000"));
    CHECK(read_guest(f.mem, 0x100'0000, 0x10) == std::vector<std::byte>(0x10));
}

TEST_CASE("a segment that crosses the end of guest RAM is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.segments.push_back(ElfSegment { 128 * MiB - 0x1000, 0x1000, 0x2000, 0 });

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::out_of_range));
}

TEST_CASE("a segment whose address plus size wraps around 2^64 is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.segments.push_back(ElfSegment { std::numeric_limits<std::uint64_t>::max() - 0xfff, 0x1000, 0x2000, 0 });

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::out_of_range));
}

TEST_CASE("a segment below 1 MiB, over the boot data, is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.segments.push_back(ElfSegment { 0x7000, 0x1000, 0x1000, 0 });

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::out_of_range));
}

TEST_CASE("a segment whose file size exceeds its memory size is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.segments[0].memsz = 0x1000;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("exceeds its memory size"));
}

TEST_CASE("a segment whose data runs past the end of the file is refused as truncated", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.segments[0].offset = 0x2000; // the file ends at 0x3000; the segment needs 0x2000 bytes

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::bad_format));
    CHECK_THAT(info.error().message, Contains("truncated"));
}

TEST_CASE("a PVH entry outside every loaded segment is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.entry = 0x200'0000;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("outside every loaded segment"));
}

TEST_CASE("a 32-bit ELF file is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.elf_class = ELFCLASS32;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::unsupported));
    CHECK_THAT(info.error().message, Contains("32-bit"));
}

TEST_CASE("an ELF file for another machine is refused", "[loader][pvh]")
{
    Fixture f;
    ElfSpec spec;
    spec.machine = EM_AARCH64;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("another machine"));
}

TEST_CASE("an ELF file cut short inside its program headers is refused", "[loader][pvh]")
{
    Fixture f;
    auto img = make_elf(ElfSpec {});
    img.resize(sizeof(Elf64_Ehdr) + 10);
    TempFile file(img);
    f.req.kernel = file.path();

    auto info = load_kernel(f.mem, f.req);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::bad_format));
    CHECK_THAT(info.error().message, Contains("truncated"));
}
