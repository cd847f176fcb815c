// SPDX-License-Identifier: Apache-2.0
// Encoding of ACPI resource descriptors and ResourceTemplate.
#include "firmware/acpi/aml_resources.hpp"

#include <optional>
#include <span>

#include <fmt/format.h>

namespace vmm::acpi::aml {

namespace {

// ACPI 6.4 §6.4.2 small item tags (type 0, tag << 3 | length) and §6.4.3 large item tags.
constexpr std::uint8_t IO_TAG = 0x47;
constexpr std::uint8_t END_TAG = 0x79;
constexpr std::uint8_t MEMORY32_FIXED_TAG = 0x86;
constexpr std::uint8_t DWORD_ADDRESS_TAG = 0x87;
constexpr std::uint8_t WORD_ADDRESS_TAG = 0x88;
constexpr std::uint8_t EXTENDED_INTERRUPT_TAG = 0x89;
constexpr std::uint8_t QWORD_ADDRESS_TAG = 0x8a;

// §6.4.3.5 resource types.
constexpr std::uint8_t RESOURCE_TYPE_MEMORY = 0;
constexpr std::uint8_t RESOURCE_TYPE_IO = 1;
constexpr std::uint8_t RESOURCE_TYPE_BUS = 2;
// General flags: bit 3 _MAF (max fixed), bit 2 _MIF (min fixed), bit 1 _DEC = 0 (positive
// decode), bit 0 = 0 (producer).
constexpr std::uint8_t PRODUCER_FIXED_RANGE = 0x0c;
// I/O type-specific flags: _RNG = 3, the window carries both ISA and non-ISA ranges.
constexpr std::uint8_t IO_ENTIRE_RANGE = 0x03;

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, std::size_t width)
{
    for (std::size_t i = 0; i < width; ++i) {
        out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
}

// §6.4.3.5: tag, length, type, general flags, type-specific flags, then granularity, minimum,
// maximum, translation offset and length, each `width` bytes.
std::optional<std::vector<std::uint8_t>> address_space(std::uint8_t tag, std::size_t width, std::uint8_t type,
    std::uint8_t type_flags, std::uint64_t min, std::uint64_t max)
{
    if (min > max) {
        return std::nullopt;
    }
    const std::uint64_t length = max - min + 1;
    // Overflow-safe: a window covering the whole width has a length one past its maximum.
    const std::uint64_t width_mask
        = width == 8 ? ~std::uint64_t { 0 } : (std::uint64_t { 1 } << (8 * width)) - 1;
    if (length == 0 || length > width_mask) {
        return std::nullopt;
    }
    std::vector<std::uint8_t> out;
    out.push_back(tag);
    put_le(out, 3 + 5 * width, 2);
    out.push_back(type);
    out.push_back(PRODUCER_FIXED_RANGE);
    out.push_back(type_flags);
    put_le(out, 0, width); // granularity
    put_le(out, min, width);
    put_le(out, max, width);
    put_le(out, 0, width); // translation offset
    put_le(out, length, width);
    return out;
}

std::uint8_t memory_flags(Cacheability cache, bool read_write)
{
    // Bits 2-1 _MEM, bit 0 _RW; _MTP = AddressRangeMemory and _TTP = 0.
    return static_cast<std::uint8_t>((static_cast<unsigned>(cache) << 1) | (read_write ? 1U : 0U));
}

} // namespace

Io::Io(std::uint16_t min, std::uint16_t max, std::uint8_t alignment, std::uint8_t length)
{
    if (min > max) {
        set_error(fmt::format("IO descriptor minimum {:#x} above maximum {:#x}", min, max));
    }
    emit(IO_TAG);
    emit(1); // _DEC: decodes 16 address bits
    emit_le(min, 2);
    emit_le(max, 2);
    emit(alignment);
    emit(length);
}

Memory32Fixed::Memory32Fixed(bool read_write, std::uint32_t base, std::uint32_t length)
{
    if (length == 0 || base + std::uint64_t { length } - 1 > 0xffff'ffff) {
        set_error(fmt::format("Memory32Fixed {:#x}+{:#x} does not fit 32 bits", base, length));
    }
    emit(MEMORY32_FIXED_TAG);
    emit_le(9, 2);
    emit(static_cast<std::uint8_t>(read_write ? 1 : 0));
    emit_le(base, 4);
    emit_le(length, 4);
}

Interrupt::Interrupt(Trigger trigger, Polarity polarity, Sharing sharing, std::uint32_t gsi)
{
    emit(EXTENDED_INTERRUPT_TAG);
    emit_le(6, 2); // flags, count, one interrupt number
    // Bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared; not wake capable.
    unsigned flags = 0x1;
    flags |= trigger == Trigger::edge ? 0x2U : 0U;
    flags |= polarity == Polarity::active_low ? 0x4U : 0U;
    flags |= sharing == Sharing::shared ? 0x8U : 0U;
    emit(static_cast<std::uint8_t>(flags));
    emit(1);
    emit_le(gsi, 4);
}

QWordMemory::QWordMemory(Cacheability cache, bool read_write, std::uint64_t min, std::uint64_t max)
{
    auto b = address_space(
        QWORD_ADDRESS_TAG, 8, RESOURCE_TYPE_MEMORY, memory_flags(cache, read_write), min, max);
    if (!b) {
        set_error(fmt::format("QWordMemory {:#x}..{:#x} is not a valid window", min, max));
        return;
    }
    emit(std::span<const std::uint8_t>(*b));
}

DWordMemory::DWordMemory(Cacheability cache, bool read_write, std::uint32_t min, std::uint32_t max)
{
    auto b = address_space(
        DWORD_ADDRESS_TAG, 4, RESOURCE_TYPE_MEMORY, memory_flags(cache, read_write), min, max);
    if (!b) {
        set_error(fmt::format("DWordMemory {:#x}..{:#x} is not a valid window", min, max));
        return;
    }
    emit(std::span<const std::uint8_t>(*b));
}

DWordIo::DWordIo(std::uint32_t min, std::uint32_t max)
{
    auto b = address_space(DWORD_ADDRESS_TAG, 4, RESOURCE_TYPE_IO, IO_ENTIRE_RANGE, min, max);
    if (!b) {
        set_error(fmt::format("DWordIO {:#x}..{:#x} is not a valid window", min, max));
        return;
    }
    emit(std::span<const std::uint8_t>(*b));
}

WordBusNumber::WordBusNumber(std::uint16_t min, std::uint16_t max)
{
    auto b = address_space(WORD_ADDRESS_TAG, 2, RESOURCE_TYPE_BUS, 0, min, max);
    if (!b) {
        set_error(fmt::format("WordBusNumber {:#x}..{:#x} is not a valid range", min, max));
        return;
    }
    emit(std::span<const std::uint8_t>(*b));
}

namespace {

class Descriptors final : public Encoded {
public:
    explicit Descriptors(const std::vector<Resource>& resources)
    {
        for (const auto& r : resources) {
            emit(r);
        }
        emit(END_TAG);
        unsigned sum = 0;
        for (const auto b : bytes()) {
            sum += b;
        }
        emit(static_cast<std::uint8_t>(0x100U - (sum & 0xffU)));
    }
};

} // namespace

ResourceTemplate::ResourceTemplate(const std::vector<Resource>& resources)
{
    const Descriptors d(resources);
    emit(Buffer(d.bytes()));
    if (!d.ok()) {
        set_error(d.error());
    }
}

} // namespace vmm::acpi::aml
