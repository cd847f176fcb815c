// SPDX-License-Identifier: Apache-2.0
// A composable AML builder (ACPI 6.4 §20): value objects that encode themselves to bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vmm::acpi::aml {

// Bytes plus the first encoding error. Nesting an object copies its bytes and adopts its error,
// so a bad name deep inside a Device surfaces once, at the top, instead of aborting the VMM:
// the caller checks ok() on the finished table.
class Encoded {
public:
    [[nodiscard]] const std::vector<std::uint8_t>& bytes() const noexcept { return bytes_; }
    [[nodiscard]] bool ok() const noexcept { return error_.empty(); }
    [[nodiscard]] const std::string& error() const noexcept { return error_; }

protected:
    Encoded() = default;

    void emit(std::uint8_t b) { bytes_.push_back(b); }
    void emit(std::span<const std::uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
    void emit(const Encoded& child);
    // `width` little-endian bytes of v (ACPI 6.4 §20.2.3: multi-byte data is little-endian).
    void emit_le(std::uint64_t v, std::size_t width);
    void emit_name(std::string_view path);
    // Insert a PkgLength at `start` covering everything from `start` to the end (§20.2.4).
    void close_package(std::size_t start);
    void set_error(std::string message);
    [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }

private:
    std::vector<std::uint8_t> bytes_;
    std::string error_;
};

// An AML term, data object or name reference. Each construct below is a Term subclass with no
// state of its own, so it may be sliced into a std::vector<Term> freely.
class Term : public Encoded {
public:
    Term() = default;
    void append_to(std::vector<std::uint8_t>& out) const
    {
        out.insert(out.end(), bytes().begin(), bytes().end());
    }
};

using TermList = std::vector<Term>;

// ---- Encoding helpers, exposed for tests ---------------------------------------------------

// PkgLength for a final value (the value already includes the PkgLength bytes where the grammar
// says so); nullopt above 2^28 - 1. ACPI 6.4 §20.2.4.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> encode_pkg_length(std::uint32_t value);
// NameString for "_HID", "\\_SB.COM1", "^PARN", "\\"; nullopt for an invalid path. §20.2.2.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> encode_name_string(std::string_view path);
// EISA ID "PNP0501" → 0x0105D041 (compressed vendor letters, then the product in BCD order).
[[nodiscard]] std::optional<std::uint32_t> eisa_id_value(std::string_view id);

// ---- Data objects (§20.2.3) ------------------------------------------------------------------

class Zero final : public Term {
public:
    Zero();
};
class One final : public Term {
public:
    One();
};
// All bits set: 64-bit with a revision-2 DSDT (§19.6.99).
class Ones final : public Term {
public:
    Ones();
};
// The shortest encoding of the value: Zero/One/Ones, or a Byte/Word/DWord/QWord prefix.
class Integer final : public Term {
public:
    explicit Integer(std::uint64_t value);
};
// Always a DWord, as ASL's EISAID() compiles.
class EisaId final : public Term {
public:
    explicit EisaId(std::string_view id);
};
// Printable ASCII, NUL-terminated.
class String final : public Term {
public:
    explicit String(std::string_view s);
};
class Buffer final : public Term {
public:
    explicit Buffer(std::span<const std::uint8_t> data);
};
// At most 255 elements (a VarPackage would be needed beyond).
class Package final : public Term {
public:
    explicit Package(const TermList& elements);
};

// ---- Names and namespace modifiers (§20.2.5.1) ----------------------------------------------

// A reference to a named object, e.g. the target of Notify or the source of Store.
class NamePath final : public Term {
public:
    explicit NamePath(std::string_view path);
};
// The empty target of an operator whose result is not stored.
class NullName final : public Term {
public:
    NullName();
};
class Name final : public Term {
public:
    Name(std::string_view path, const Term& value);
};
class Scope final : public Term {
public:
    Scope(std::string_view path, const TermList& children);
};
class Device final : public Term {
public:
    Device(std::string_view path, const TermList& children);
};
// arg_count 0..7; a serialized method runs one invocation at a time (§19.6.85).
class Method final : public Term {
public:
    Method(std::string_view path, unsigned arg_count, bool serialized, const TermList& body);
};

// ---- Locals, arguments, statements and operators (§20.2.5.3, §20.2.5.4, §20.2.6) ------------

class Local final : public Term {
public:
    explicit Local(unsigned index); // Local0..Local7
};
class Arg final : public Term {
public:
    explicit Arg(unsigned index); // Arg0..Arg6
};
class Return final : public Term {
public:
    explicit Return(const Term& value);
};
class Store final : public Term {
public:
    Store(const Term& source, const Term& target);
};
class Notify final : public Term {
public:
    Notify(const Term& object, const Term& value);
};
class If final : public Term {
public:
    If(const Term& predicate, const TermList& body);
};
// Must directly follow an If in the same term list.
class Else final : public Term {
public:
    explicit Else(const TermList& body);
};
class LEqual final : public Term {
public:
    LEqual(const Term& left, const Term& right);
};
class And final : public Term {
public:
    And(const Term& left, const Term& right, const Term& target = NullName());
};
class Or final : public Term {
public:
    Or(const Term& left, const Term& right, const Term& target = NullName());
};
class LNot final : public Term {
public:
    explicit LNot(const Term& operand);
};

// ---- Buffer fields and UUIDs (§19.6.19, §19.6.142) -------------------------------------------

// CreateDWordField(buffer, byte_index, name): `name` is the DWord at byte_index of the buffer.
class CreateDWordField final : public Term {
public:
    CreateDWordField(const Term& buffer, const Term& byte_index, std::string_view name);
};
// ToUUID("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx") as ASL compiles it: a 16-byte buffer with the
// first three groups little-endian and the last two in string order.
class Uuid final : public Term {
public:
    explicit Uuid(std::string_view uuid);
};
// The 16 bytes of a UUID string, nullopt when it is malformed (exposed for tests).
[[nodiscard]] std::optional<std::vector<std::uint8_t>> uuid_bytes(std::string_view uuid);

// ---- Operation regions and fields (§19.6.100, §19.6.48) -------------------------------------

enum class RegionSpace : std::uint8_t {
    system_memory = 0x00,
    system_io = 0x01,
};

class OperationRegion final : public Term {
public:
    OperationRegion(std::string_view path, RegionSpace space, const Term& offset, const Term& length);
};

enum class FieldAccess : std::uint8_t {
    any = 0,
    byte = 1,
    word = 2,
    dword = 3,
    qword = 4,
    buffer = 5,
};

enum class FieldUpdate : std::uint8_t {
    preserve = 0,
    write_as_ones = 1,
    write_as_zeros = 2,
};

// A named field unit of `bits` bits; an empty name reserves the bits (ASL "Offset" gaps).
struct FieldUnit {
    std::string name;
    std::uint32_t bits = 0;
};

// Always NoLock: a hardware-reduced platform has no FACS and so no Global Lock (§5.2.10).
class Field final : public Term {
public:
    Field(
        std::string_view region, FieldAccess access, FieldUpdate update, const std::vector<FieldUnit>& units);
};

} // namespace vmm::acpi::aml
