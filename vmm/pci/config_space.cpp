// SPDX-License-Identifier: Apache-2.0
// ConfigSpace: header masks, BAR sizing and decoding, the capability list.
#include "vmm/pci/config_space.hpp"

#include <bit>

#include "vmm/base/log.hpp"

namespace vmm::pci {
namespace {

constexpr std::uint32_t BAR_END = BAR0 + 4 * BAR_COUNT;
constexpr std::uint64_t MIN_MEM_BAR = 16;
constexpr std::uint64_t MIN_IO_BAR = 4;
constexpr std::uint64_t LOW_DWORD = 0xffff'ffff;

} // namespace

ConfigSpace::ConfigSpace(const PciIds& ids) noexcept
{
    set(VENDOR_ID, 2, ids.vendor);
    set(DEVICE_ID, 2, ids.device);
    set(REVISION_ID, 1, ids.revision);
    set(CLASS_PROG_IF, 1, ids.class_code & 0xff);
    set(CLASS_PROG_IF + 1, 2, (ids.class_code >> 8) & 0xffff);
    set(SUBSYSTEM_VENDOR_ID, 2, ids.subsystem_vendor);
    set(SUBSYSTEM_ID, 2, ids.subsystem);
    set(INTERRUPT_PIN, 1, ids.interrupt_pin);
    // HEADER_TYPE 0 (single function, type 0), no expansion ROM, no BIST: all read-only zero.

    // What a driver may write in the header (PCI 3.0 §6.2): the command bits implemented here,
    // the cache line size, and the interrupt line (a scratch byte firmware fills in). The BAR
    // registers are handled apart.
    writable_[COMMAND] = static_cast<std::uint8_t>(COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER);
    writable_[COMMAND + 1] = static_cast<std::uint8_t>(COMMAND_INTX_DISABLE >> 8);
    writable_[CACHE_LINE_SIZE] = 0xff;
    writable_[INTERRUPT_LINE] = 0xff;
}

void ConfigSpace::set_bar(std::uint8_t index, const BarSpec& spec)
{
    VMM_ASSERT(index < BAR_COUNT && mapper_ == nullptr);
    VMM_ASSERT(spec.kind == BarKind::none || std::has_single_bit(spec.size));
    VMM_ASSERT(spec.kind != BarKind::mem64 || index + 1U < BAR_COUNT);
    VMM_ASSERT(spec.kind != BarKind::mem32 || (spec.size >= MIN_MEM_BAR && spec.size <= (LOW_DWORD + 1) / 2));
    VMM_ASSERT(spec.kind != BarKind::mem64 || spec.size >= MIN_MEM_BAR);
    VMM_ASSERT(spec.kind != BarKind::io || (spec.size >= MIN_IO_BAR && spec.size <= 256));
    bars_[index] = spec;
    bar_address_[index] = 0;
    if (spec.kind == BarKind::mem64) {
        bars_[index + 1] = BarSpec {};
    }
}

std::optional<std::uint8_t> ConfigSpace::add_capability(
    std::span<const std::uint8_t> cap, std::span<const std::uint8_t> writable)
{
    VMM_ASSERT(cap.size() >= 2 && (writable.empty() || writable.size() == cap.size()));
    const std::uint32_t offset = next_cap_;
    if (offset + cap.size() > CONVENTIONAL_CONFIG_SIZE) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i < cap.size(); ++i) {
        bytes_[offset + i] = cap[i];
        // The ID and the next pointer are read-only (§6.7).
        writable_[offset + i] = i >= 2 && !writable.empty() ? writable[i] : 0;
    }
    bytes_[offset + 1] = 0;
    if (last_cap_ == 0) {
        bytes_[CAPABILITIES_POINTER] = static_cast<std::uint8_t>(offset);
        set(STATUS, 2, get(STATUS, 2) | STATUS_CAPABILITIES);
    } else {
        bytes_[last_cap_ + 1] = static_cast<std::uint8_t>(offset);
    }
    last_cap_ = offset;
    // §6.7: each capability starts DWORD-aligned.
    next_cap_ = (offset + static_cast<std::uint32_t>(cap.size()) + 3) & ~3U;
    return static_cast<std::uint8_t>(offset);
}

std::uint32_t ConfigSpace::get(std::uint32_t offset, std::size_t width) const noexcept
{
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < width && offset + i < CONFIG_SPACE_SIZE; ++i) {
        v |= std::uint32_t { bytes_[offset + i] } << (8 * i);
    }
    return v;
}

void ConfigSpace::set(std::uint32_t offset, std::size_t width, std::uint32_t value) noexcept
{
    for (std::size_t i = 0; i < width && offset + i < CONFIG_SPACE_SIZE; ++i) {
        bytes_[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
    }
}

void ConfigSpace::set_interrupt_status(bool pending) noexcept
{
    const std::uint32_t status = get(STATUS, 2);
    set(STATUS, 2, pending ? status | STATUS_INTERRUPT : status & ~std::uint32_t { STATUS_INTERRUPT });
}

std::optional<std::uint8_t> ConfigSpace::bar_of_register(std::uint32_t reg) const noexcept
{
    if (bars_[reg].kind != BarKind::none) {
        return static_cast<std::uint8_t>(reg);
    }
    if (reg > 0 && bars_[reg - 1].kind == BarKind::mem64) {
        return static_cast<std::uint8_t>(reg - 1);
    }
    return std::nullopt;
}

std::uint64_t ConfigSpace::bar_mask(std::uint8_t index) const noexcept
{
    const BarSpec& b = bars_[index];
    // §6.2.5.1: the bits below the size are hard-wired to zero; so are the type bits.
    const std::uint64_t low_bits = b.kind == BarKind::io ? 0x3 : 0xf;
    std::uint64_t mask = ~(b.size - 1) & ~low_bits;
    if (b.kind != BarKind::mem64) {
        mask &= LOW_DWORD;
    }
    return mask;
}

std::uint32_t ConfigSpace::read_bar_register(std::uint32_t reg) const noexcept
{
    const auto index = bar_of_register(reg);
    if (!index) {
        return 0; // §6.2.5.1: an unimplemented BAR reads as zero, so sizing finds nothing
    }
    const BarSpec& b = bars_[*index];
    const std::uint64_t addr = bar_address_[*index] & bar_mask(*index);
    if (*index != reg) {
        return static_cast<std::uint32_t>(addr >> 32);
    }
    std::uint32_t flags = 0;
    switch (b.kind) {
    case BarKind::io:
        flags = BAR_IO_SPACE;
        break;
    case BarKind::mem64:
        flags = BAR_MEM_TYPE_64 | (b.prefetchable ? BAR_MEM_PREFETCHABLE : 0U);
        break;
    case BarKind::mem32:
        flags = b.prefetchable ? BAR_MEM_PREFETCHABLE : 0U;
        break;
    case BarKind::none:
        break;
    }
    return static_cast<std::uint32_t>(addr & LOW_DWORD) | flags;
}

void ConfigSpace::write_bar_register(std::uint32_t reg, std::uint32_t value) noexcept
{
    const auto index = bar_of_register(reg);
    if (!index) {
        return;
    }
    std::uint64_t& addr = bar_address_[*index];
    if (*index == reg) {
        addr = (addr & ~LOW_DWORD) | value;
    } else {
        addr = (addr & LOW_DWORD) | (std::uint64_t { value } << 32);
    }
    // Guest-controlled: only the address bits above the size stick, so writing all-ones reads
    // back as the size mask (the sizing protocol, §6.2.5.1), and every address kept is
    // naturally aligned.
    addr &= bar_mask(*index);
}

std::uint64_t ConfigSpace::bar_address(std::uint8_t index) const noexcept
{
    return index < BAR_COUNT ? bar_address_[index] : 0;
}

void ConfigSpace::set_bar_address(std::uint8_t index, std::uint64_t address) noexcept
{
    if (index < BAR_COUNT && bars_[index].kind != BarKind::none) {
        bar_address_[index] = address & bar_mask(index);
        sync_bars();
    }
}

std::optional<std::uint64_t> ConfigSpace::decoded_bar(std::uint8_t index) const noexcept
{
    if (index >= BAR_COUNT) {
        return std::nullopt;
    }
    const BarKind kind = bars_[index].kind;
    const std::uint16_t enable = kind == BarKind::io ? COMMAND_IO : COMMAND_MEMORY;
    if (kind == BarKind::none || (command() & enable) == 0 || bar_address_[index] == 0) {
        return std::nullopt;
    }
    return bar_address_[index];
}

void ConfigSpace::read(std::uint32_t offset, std::span<std::byte> data) const noexcept
{
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::uint32_t at = offset + static_cast<std::uint32_t>(i);
        if (at >= CONFIG_SPACE_SIZE) {
            data[i] = std::byte { 0xff };
        } else if (at >= BAR0 && at < BAR_END) {
            data[i] = std::byte { static_cast<std::uint8_t>(read_bar_register((at - BAR0) / 4) >> (8 * (at % 4))) };
        } else {
            data[i] = std::byte { bytes_[at] };
        }
    }
}

void ConfigSpace::write(std::uint32_t offset, std::span<const std::byte> data) noexcept
{
    bool touched_bars = false;
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::uint32_t at = offset + static_cast<std::uint32_t>(i);
        if (at >= CONFIG_SPACE_SIZE) {
            break;
        }
        const auto v = static_cast<std::uint8_t>(data[i]);
        if (at >= BAR0 && at < BAR_END) {
            // Merge the byte into the register as it reads now, then write the register.
            const std::uint32_t reg = (at - BAR0) / 4;
            const unsigned shift = 8 * (at % 4);
            const std::uint32_t old = read_bar_register(reg);
            write_bar_register(reg, (old & ~(0xffU << shift)) | (std::uint32_t { v } << shift));
            touched_bars = true;
            continue;
        }
        // Guest-controlled: read-only bits keep their value.
        const std::uint8_t mask = writable_[at];
        bytes_[at] = static_cast<std::uint8_t>((bytes_[at] & ~mask) | (v & mask));
        touched_bars = touched_bars || at == COMMAND;
    }
    if (touched_bars) {
        sync_bars();
    }
}

void ConfigSpace::attach(BarMapper& mapper, MovedHook on_moved)
{
    mapper_ = &mapper;
    on_moved_ = std::move(on_moved);
    sync_bars();
}

void ConfigSpace::sync_bars() noexcept
{
    if (mapper_ == nullptr) {
        return;
    }
    for (std::uint8_t i = 0; i < BAR_COUNT; ++i) {
        const auto want = decoded_bar(i);
        if (want == mapped_[i]) {
            continue;
        }
        if (mapped_[i]) {
            mapper_->unmap_bar(i);
            mapped_[i].reset();
        }
        if (want) {
            if (auto r = mapper_->map_bar(i, bars_[i].kind, *want, bars_[i].size); r) {
                mapped_[i] = want;
            } else {
                // Guest-controlled: a BAR moved onto another device's range. Real hardware
                // would decode both; here this one stays off until it is moved again.
                VMM_LOG_GUEST(
                    spdlog::level::warn, "PCI BAR {} at {:#x} not decoded: {}", i, *want, r.error().describe());
            }
        }
        if (on_moved_) {
            on_moved_(i, mapped_[i]);
        }
    }
}

} // namespace vmm::pci
