// SPDX-License-Identifier: Apache-2.0
// ACPI resource descriptors (ACPI 6.4 §6.4) and the ResourceTemplate buffer that holds them.
#pragma once

#include <cstdint>
#include <vector>

#include "firmware/acpi/aml.hpp"

namespace vmm::acpi::aml {

// A resource descriptor. A distinct type from Term: descriptors only make sense inside a
// ResourceTemplate, and AML only outside one.
class Resource : public Encoded {
protected:
    Resource() = default;
};

// I/O port descriptor, 16-bit decode (§6.4.2.5).
class Io final : public Resource {
public:
    Io(std::uint16_t min, std::uint16_t max, std::uint8_t alignment, std::uint8_t length);
};

// 32-bit fixed memory range descriptor (§6.4.3.4).
class Memory32Fixed final : public Resource {
public:
    Memory32Fixed(bool read_write, std::uint32_t base, std::uint32_t length);
};

enum class Trigger : std::uint8_t { level, edge };
enum class Polarity : std::uint8_t { active_high, active_low };
enum class Sharing : std::uint8_t { exclusive, shared };

// Extended interrupt descriptor with one GSI, consumed by the device (§6.4.3.6).
class Interrupt final : public Resource {
public:
    Interrupt(Trigger trigger, Polarity polarity, Sharing sharing, std::uint32_t gsi);
};

// §6.4.3.5, Table 6.50 _MEM.
enum class Cacheability : std::uint8_t {
    non_cacheable = 0,
    cacheable = 1,
    write_combining = 2,
    prefetchable = 3,
};

// Address space descriptors (§6.4.3.5.1-3) as a host bridge declares its windows: produced
// for the devices below it, with fixed minimum and maximum, positive decode, no translation.
// The length is max - min + 1; min > max, or a length that does not fit the width, is an error.
class QWordMemory final : public Resource {
public:
    QWordMemory(Cacheability cache, bool read_write, std::uint64_t min, std::uint64_t max);
};
class DWordMemory final : public Resource {
public:
    DWordMemory(Cacheability cache, bool read_write, std::uint32_t min, std::uint32_t max);
};
class DWordIo final : public Resource {
public:
    DWordIo(std::uint32_t min, std::uint32_t max);
};
class WordBusNumber final : public Resource {
public:
    WordBusNumber(std::uint16_t min, std::uint16_t max);
};

// Buffer holding the descriptors and the end tag, whose checksum byte makes the descriptor
// bytes sum to zero (§6.4.2.9).
class ResourceTemplate final : public Term {
public:
    explicit ResourceTemplate(const std::vector<Resource>& resources);
};

} // namespace vmm::acpi::aml
