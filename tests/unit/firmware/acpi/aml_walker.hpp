// SPDX-License-Identifier: Apache-2.0
// A small AML parser for tests: checks that every PkgLength-bounded term fits its parent exactly.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vmm::acpi::test {

struct WalkedInterrupt {
    std::uint32_t gsi = 0;
    std::uint8_t flags = 0; // extended interrupt descriptor flags byte
};

// An address space descriptor (ACPI 6.4 §6.4.3.5): WordBusNumber, DWordMemory, QWordMemory...
struct WalkedAddressSpace {
    std::uint8_t type = 0; // 0 memory, 1 I/O, 2 bus number
    std::uint64_t min = 0;
    std::uint64_t max = 0;
    std::uint8_t type_flags = 0;
};

struct AmlWalk {
    bool ok = false;
    std::string error;                       // first problem found, with its offset
    std::vector<std::string> devices;        // Device names as written (e.g. "COM1")
    std::vector<std::string> names;          // Name object names
    std::vector<std::string> strings;        // every String constant
    std::vector<std::string> methods;        // Method names
    std::vector<WalkedInterrupt> interrupts; // from ResourceTemplate buffers
    std::vector<WalkedAddressSpace> address_spaces; // from ResourceTemplate buffers
    std::vector<std::uint64_t> fixed_memory; // Memory32Fixed: base << 32 | length
    std::size_t packages = 0;                // Package objects, nested ones included
    std::size_t resource_templates = 0;      // buffers that are well-formed templates with a valid checksum
    std::size_t top_level_terms = 0;
    std::size_t last_top_level_end = 0; // offset at which the last top-level term ends
};

// Walk a TermList covering all of `aml` (a DSDT body, header excluded). Understands the
// opcodes the builder emits; anything else is reported as an error.
[[nodiscard]] AmlWalk walk_aml(std::span<const std::uint8_t> aml);

} // namespace vmm::acpi::test
