// SPDX-License-Identifier: Apache-2.0
// Initrd placement (as high as possible under the kernel's limits) and the command line.
#include "firmware/loader/placement.hpp"

#include <algorithm>
#include <vector>

#include "arch/x86_64/layout.hpp"
#include "firmware/loader/image_file.hpp"

namespace vmm::x86 {

std::optional<std::uint64_t> place_initrd(const GuestMemory& mem, std::uint64_t size, std::uint64_t floor,
    std::uint64_t ceiling) noexcept
{
    const auto regions = mem.regions();
    // Highest region first: the kernel decompresses upwards from its load address, so the
    // initrd goes as far from it as the limits allow (boot.rst: "as high as possible").
    for (auto it = regions.rbegin(); it != regions.rend(); ++it) {
        if (it->hotplug()) {
            continue; // not RAM until its driver plugs it
        }
        const std::uint64_t top = std::min(it->end().raw, ceiling);
        const std::uint64_t bottom = std::max(it->base().raw, floor);
        if (top < bottom || top - bottom < size) {
            continue;
        }
        const std::uint64_t addr = (top - size) & ~(INITRD_ALIGN - 1);
        if (addr >= bottom) {
            return addr;
        }
    }
    return std::nullopt;
}

Result<LoadedInitrd> load_initrd(const GuestMemory& mem, const std::filesystem::path& path, const KernelImage& kernel)
{
    const auto file = VMM_TRY(loader::ImageFile::open(path));
    if (file.size() == 0) {
        return fail(Errc::invalid_argument, "initrd {} is empty", file.name());
    }
    // Page-align the kernel's end; an end within the last page of the address space leaves no room.
    const std::uint64_t floor = kernel.load_end > ~(INITRD_ALIGN - 1) ? ~std::uint64_t { 0 }
                                                                    : (kernel.load_end + INITRD_ALIGN - 1) & ~(INITRD_ALIGN - 1);
    const std::uint64_t ceiling = std::min(kernel.initrd_limit, MEM_32BIT_HOLE_START);
    const auto addr = place_initrd(mem, file.size(), floor, ceiling);
    if (!addr) {
        return fail(Errc::out_of_range,
            "initrd {} ({} bytes) does not fit in guest RAM between the end of the kernel at {:#x} and {:#x}; "
            "give the VM more memory or use a smaller initrd",
            file.name(), file.size(), floor, ceiling);
    }
    VMM_TRY(file.read_into(mem, GuestAddress { *addr }, 0, file.size()));
    return LoadedInitrd { *addr, file.size() };
}

Result<> write_cmdline(const GuestMemory& mem, std::string_view cmdline, const KernelImage& kernel)
{
    if (cmdline.find('\0') != std::string_view::npos) {
        return fail(Errc::invalid_argument, "the kernel command line contains a NUL byte");
    }
    // Invariant: CMDLINE_MAX_SIZE >= 1; the NUL takes one byte of the area.
    const std::uint64_t limit = std::min(kernel.cmdline_limit, CMDLINE_MAX_SIZE - 1);
    if (cmdline.size() > limit) {
        return fail(Errc::invalid_argument, "the kernel command line is {} bytes; this kernel accepts at most {}",
            cmdline.size(), limit);
    }
    std::vector<std::byte> bytes(cmdline.size() + 1, std::byte { 0 });
    std::transform(cmdline.begin(), cmdline.end(), bytes.begin(), [](char c) { return static_cast<std::byte>(c); });
    return mem.write(GuestAddress { CMDLINE_START }, bytes);
}

} // namespace vmm::x86
