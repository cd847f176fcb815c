// SPDX-License-Identifier: Apache-2.0
// bzImage loading: the zero page, load address, command line and initrd, and refused images.
#include <string>

#include <catch2/catch.hpp>

#include "arch/x86_64/boot_params.hpp"
#include "arch/x86_64/layout.hpp"
#include "firmware/loader/kernel.hpp"
#include "tests/unit/firmware/loader/loader_test_support.hpp"

using namespace vmm;
using namespace vmm::x86;
using namespace vmm::test;
using Catch::Matchers::Contains;

namespace {

struct BzFixture {
    explicit BzFixture(std::uint64_t ram = 128 * MiB) : mem(make_memory(ram))
    {
        req.cmdline = "console=ttyS0 reboot=k";
        req.memory_map = build_e820(mem);
        req.rsdp_addr = ACPI_START;
    }

    Result<BootInfo> load(const BzImageSpec& spec)
    {
        kernel.emplace(make_bzimage(spec));
        req.kernel = kernel->path();
        return load_kernel(mem, req);
    }

    BootParams zero_page() const
    {
        auto bp = mem.read_obj<BootParams>(GuestAddress { ZERO_PAGE_START });
        REQUIRE(bp);
        return *bp;
    }

    GuestMemory mem;
    BootRequest req;
    std::optional<TempFile> kernel;
};

} // namespace

TEST_CASE("a bzImage enters at its load address plus 0x200 with RSI at the zero page", "[loader][bzimage]")
{
    BzFixture f;

    auto info = f.load(BzImageSpec {});

    REQUIRE(info);
    CHECK(info->protocol == BootInfo::Protocol::linux64);
    CHECK(info->entry == KERNEL_LOAD_ADDR + 0x200);
    CHECK(info->params_addr == ZERO_PAGE_START);
}

TEST_CASE("the protected-mode kernel is copied from after the setup sectors to the load address", "[loader][bzimage]")
{
    BzFixture f;
    const BzImageSpec spec;

    REQUIRE(f.load(spec));

    CHECK(read_guest(f.mem, KERNEL_LOAD_ADDR, spec.kernel_size) == pattern(spec.kernel_size, 7));
}

TEST_CASE("setup_sects 0 is read as four setup sectors", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.setup_sects = 0;
    spec.real_setup_sects = 4;

    REQUIRE(f.load(spec));

    CHECK(read_guest(f.mem, KERNEL_LOAD_ADDR, spec.kernel_size) == pattern(spec.kernel_size, 7));
}

TEST_CASE("the zero page holds the kernel's setup header with the loader's fields filled in", "[loader][bzimage]")
{
    BzFixture f;

    REQUIRE(f.load(BzImageSpec {}));

    const auto bp = f.zero_page();
    CHECK(val(bp.hdr.header) == SETUP_HEADER_MAGIC);
    CHECK(val(bp.hdr.version) == 0x020f);
    CHECK(val(bp.hdr.kernel_version) == 0x0345);
    CHECK(val(bp.hdr.init_size) == 0x40'0000);
    CHECK(val(bp.hdr.type_of_loader) == 0xff);
    CHECK(val(bp.hdr.loadflags) == (LOADED_HIGH | CAN_USE_HEAP));
    CHECK(val(bp.hdr.heap_end_ptr) == 0xfe00);
    CHECK(val(bp.hdr.cmd_line_ptr) == CMDLINE_START);
    CHECK(val(bp.hdr.ramdisk_image) == 0);
    CHECK(val(bp.hdr.ramdisk_size) == 0);
    CHECK(val(bp.acpi_rsdp_addr) == ACPI_START);
}

TEST_CASE("the zero page carries the e820 map of the request", "[loader][bzimage]")
{
    BzFixture f;

    REQUIRE(f.load(BzImageSpec {}));

    const auto bp = f.zero_page();
    REQUIRE(val(bp.e820_entries) == 3);
    CHECK(val(bp.e820_table[0].addr) == 0);
    CHECK(val(bp.e820_table[0].size) == EBDA_START);
    CHECK(val(bp.e820_table[0].type) == E820_RAM);
    CHECK(val(bp.e820_table[1].type) == E820_RESERVED);
    CHECK(val(bp.e820_table[2].addr) == HIGH_MEMORY_START);
    CHECK(val(bp.e820_table[2].size) == 127 * MiB);
    CHECK(val(bp.e820_table[2].type) == E820_RAM);
}

TEST_CASE("bytes after the setup header's own end are not copied into the zero page", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.header_jump = 0x66; // header ends at 0x268, before kernel_info_offset
    auto img = make_bzimage(spec);
    put(&img, 0x268, std::uint32_t { 0xdeadbeef });
    put(&img, 0x280, std::uint32_t { 0xdeadbeef });
    TempFile file(img);
    f.req.kernel = file.path();

    REQUIRE(load_kernel(f.mem, f.req));

    const auto bp = f.zero_page();
    CHECK(val(bp.hdr.kernel_info_offset) == 0);
    CHECK(bp.pad4[0x280 - 0x26c] == 0);
}

TEST_CASE("the command line is written with its NUL at CMDLINE_START", "[loader][bzimage]")
{
    BzFixture f;
    const std::string cmdline = "console=ttyS0 reboot=k";

    REQUIRE(f.load(BzImageSpec {}));

    auto bytes = read_guest(f.mem, CMDLINE_START, cmdline.size() + 1);
    auto expected = TempFile::to_bytes(cmdline);
    expected.push_back(std::byte { 0 });
    CHECK(bytes == expected);
}

TEST_CASE("a relocatable kernel is loaded at KERNEL_LOAD_ADDR rounded up to its kernel_alignment", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.kernel_alignment = 0x200'0000; // 32 MiB

    auto info = f.load(spec);

    REQUIRE(info);
    CHECK(info->entry == 0x200'0000 + 0x200);
}

TEST_CASE("a kernel that is not relocatable is loaded at its pref_address", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.relocatable = 0;
    spec.pref_address = 0x20'0000;

    auto info = f.load(spec);

    REQUIRE(info);
    CHECK(info->entry == 0x20'0000 + 0x200);
    CHECK(read_guest(f.mem, 0x20'0000, spec.kernel_size) == pattern(spec.kernel_size, 7));
}

TEST_CASE("a command line as long as the kernel's cmdline_size is accepted and one byte more is refused", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.cmdline_size = 16;
    f.req.cmdline = std::string(16, 'a');
    REQUIRE(f.load(spec));

    f.req.cmdline = std::string(17, 'a');
    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::invalid_argument));
    CHECK_THAT(info.error().message, Contains("at most 16"));
}

TEST_CASE("a command line longer than the command-line area is refused even when the kernel allows more", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.cmdline_size = 0xffff'ffff;
    f.req.cmdline = std::string(CMDLINE_MAX_SIZE, 'a');

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("command line"));
}

TEST_CASE("a command line with a NUL byte in it is refused", "[loader][bzimage]")
{
    BzFixture f;
    f.req.cmdline = std::string("root=/dev/vda\0quiet", 19);

    auto info = f.load(BzImageSpec {});

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("NUL"));
}

TEST_CASE("the initrd is placed at the highest page that fits in RAM and recorded in the zero page", "[loader][bzimage]")
{
    BzFixture f;
    const auto initrd_bytes = pattern(10000, 3);
    TempFile initrd(initrd_bytes);
    f.req.initrd = initrd.path();

    REQUIRE(f.load(BzImageSpec {}));

    const auto bp = f.zero_page();
    CHECK(val(bp.hdr.ramdisk_image) == 0x7ffd000); // (128 MiB - 10000) rounded down to 4 KiB
    CHECK(val(bp.hdr.ramdisk_size) == 10000);
    CHECK(read_guest(f.mem, 0x7ffd000, 10000) == initrd_bytes);
}

TEST_CASE("the initrd stays below the kernel's initrd_addr_max", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.initrd_addr_max = 0x3ff'ffff; // last byte at 64 MiB - 1
    TempFile initrd(pattern(10000, 3));
    f.req.initrd = initrd.path();

    REQUIRE(f.load(spec));

    const auto bp = f.zero_page();
    CHECK(val(bp.hdr.ramdisk_image) == 0x3ffd000);
}

TEST_CASE("an initrd too big for the RAM between the kernel's init_size and the end of RAM is refused", "[loader][bzimage]")
{
    BzFixture f(32 * MiB); // kernel at 16 MiB needs 4 MiB: 12 MiB left
    TempFile initrd(pattern(12 * MiB + 1, 3));
    f.req.initrd = initrd.path();

    auto info = f.load(BzImageSpec {});

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::out_of_range));
    CHECK_THAT(info.error().message, Contains(initrd.path().string()) && Contains("does not fit"));
}

TEST_CASE("an initrd that exactly fills the RAM above the kernel's init_size is accepted", "[loader][bzimage]")
{
    BzFixture f(32 * MiB);
    TempFile initrd(pattern(12 * MiB, 3));
    f.req.initrd = initrd.path();

    REQUIRE(f.load(BzImageSpec {}));

    CHECK(val(f.zero_page().hdr.ramdisk_image) == 20 * MiB);
}

TEST_CASE("an empty initrd is refused", "[loader][bzimage]")
{
    BzFixture f;
    TempFile initrd(std::vector<std::byte> {});
    f.req.initrd = initrd.path();

    auto info = f.load(BzImageSpec {});

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("empty"));
}

TEST_CASE("a kernel whose init_size does not fit in guest RAM is refused", "[loader][bzimage]")
{
    BzFixture f(32 * MiB);
    BzImageSpec spec;
    spec.init_size = 16 * MiB + 0x1000;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::out_of_range));
    CHECK_THAT(info.error().message, Contains("more memory"));
}

TEST_CASE("a file that is not a kernel is refused with its name and what is wrong", "[loader][bzimage]")
{
    BzFixture f;
    TempFile file(std::string(4096, 'x'));
    f.req.kernel = file.path();

    auto info = load_kernel(f.mem, f.req);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::bad_format));
    CHECK_THAT(info.error().message, Contains(file.path().string()) && Contains("not a Linux kernel"));
}

TEST_CASE("a missing kernel file is refused with its name", "[loader][bzimage]")
{
    BzFixture f;
    f.req.kernel = "/nonexistent/vireo/bzImage";

    auto info = load_kernel(f.mem, f.req);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("/nonexistent/vireo/bzImage"));
}

TEST_CASE("a file shorter than the boot sector's magic is not taken for a kernel", "[loader][bzimage]")
{
    BzFixture f;
    TempFile file(std::string(16, '\0'));
    f.req.kernel = file.path();

    auto info = load_kernel(f.mem, f.req);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("not a Linux kernel"));
}

TEST_CASE("a bzImage cut short inside its setup header is refused as truncated", "[loader][bzimage]")
{
    BzFixture f;
    auto img = make_bzimage(BzImageSpec {});
    img.resize(0x240);
    TempFile file(img);
    f.req.kernel = file.path();

    auto info = load_kernel(f.mem, f.req);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::bad_format));
    CHECK_THAT(info.error().message, Contains("truncated"));
}

TEST_CASE("a bzImage that ends after its setup code is refused as having no kernel", "[loader][bzimage]")
{
    BzFixture f;
    const BzImageSpec spec;
    auto img = make_bzimage(spec);
    img.resize(bz_setup_size(spec));
    TempFile file(img);
    f.req.kernel = file.path();

    auto info = load_kernel(f.mem, f.req);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("no protected-mode kernel"));
}

TEST_CASE("a bzImage shorter than the kernel size its header declares is refused", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.syssize_extra = 1;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::bad_format));
    CHECK_THAT(info.error().message, Contains("truncated"));
}

TEST_CASE("boot protocol 2.11 is refused as too old for 64-bit entry", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.version = 0x020b;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK(info.error().code == make_error_code(Errc::unsupported));
    CHECK_THAT(info.error().message, Contains("2.11") && Contains("2.12"));
}

TEST_CASE("a bzImage without XLF_KERNEL_64 is refused", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.xloadflags = 0;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("XLF_KERNEL_64"));
}

TEST_CASE("a relocatable bzImage whose kernel_alignment is not a power of two is refused", "[loader][bzimage]")
{
    BzFixture f;
    BzImageSpec spec;
    spec.kernel_alignment = 0x30'0000;

    auto info = f.load(spec);

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("power of two"));
}

TEST_CASE("a memory map with more entries than the zero page holds is refused", "[loader][bzimage]")
{
    BzFixture f;
    f.req.memory_map.assign(E820_MAX_ENTRIES_ZEROPAGE + 1, E820Entry { 0, 0x1000, E820_RAM });

    auto info = f.load(BzImageSpec {});

    REQUIRE_FALSE(info);
    CHECK_THAT(info.error().message, Contains("129"));
}
