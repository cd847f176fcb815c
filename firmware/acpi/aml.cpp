// SPDX-License-Identifier: Apache-2.0
// AML encoding of names, data objects, namespace modifiers, statements and fields.
#include "firmware/acpi/aml.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

namespace vmm::acpi::aml {

namespace {

// ACPI 6.4 §20.3 opcode values.
constexpr std::uint8_t ZERO_OP = 0x00;
constexpr std::uint8_t ONE_OP = 0x01;
constexpr std::uint8_t NAME_OP = 0x08;
constexpr std::uint8_t BYTE_PREFIX = 0x0a;
constexpr std::uint8_t WORD_PREFIX = 0x0b;
constexpr std::uint8_t DWORD_PREFIX = 0x0c;
constexpr std::uint8_t STRING_PREFIX = 0x0d;
constexpr std::uint8_t QWORD_PREFIX = 0x0e;
constexpr std::uint8_t SCOPE_OP = 0x10;
constexpr std::uint8_t BUFFER_OP = 0x11;
constexpr std::uint8_t PACKAGE_OP = 0x12;
constexpr std::uint8_t METHOD_OP = 0x14;
constexpr std::uint8_t DUAL_NAME_PREFIX = 0x2e;
constexpr std::uint8_t MULTI_NAME_PREFIX = 0x2f;
constexpr std::uint8_t EXT_OP_PREFIX = 0x5b;
constexpr std::uint8_t ROOT_CHAR = 0x5c;
constexpr std::uint8_t PARENT_PREFIX_CHAR = 0x5e;
constexpr std::uint8_t LOCAL0_OP = 0x60;
constexpr std::uint8_t ARG0_OP = 0x68;
constexpr std::uint8_t STORE_OP = 0x70;
constexpr std::uint8_t AND_OP = 0x7b;
constexpr std::uint8_t OR_OP = 0x7d;
constexpr std::uint8_t CREATE_DWORD_FIELD_OP = 0x8a;
constexpr std::uint8_t LNOT_OP = 0x92;
constexpr std::uint8_t NOTIFY_OP = 0x86;
constexpr std::uint8_t LEQUAL_OP = 0x93;
constexpr std::uint8_t IF_OP = 0xa0;
constexpr std::uint8_t ELSE_OP = 0xa1;
constexpr std::uint8_t RETURN_OP = 0xa4;
constexpr std::uint8_t ONES_OP = 0xff;
// Second bytes after EXT_OP_PREFIX.
constexpr std::uint8_t OP_REGION_OP = 0x80;
constexpr std::uint8_t FIELD_OP = 0x81;
constexpr std::uint8_t DEVICE_OP = 0x82;

constexpr std::size_t NAME_SEG_LEN = 4;
constexpr unsigned MAX_METHOD_ARGS = 7;
constexpr unsigned MAX_LOCALS = 8;
constexpr unsigned MAX_ARGS = 7;
constexpr std::size_t MAX_PACKAGE_ELEMENTS = 255;
// §20.2.4: one lead byte holds 6 bits; each following byte adds 8 to the lead byte's 4.
constexpr std::array<std::uint32_t, 4> PKG_LENGTH_MAX = { 0x3f, 0xfff, 0xfffff, 0xfffffff };

bool is_lead_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c)
{
    return is_lead_name_char(c) || (c >= '0' && c <= '9');
}

// §20.2.2 NameSeg: a lead character, then up to three more, padded with '_' as ASL does.
bool append_name_seg(std::string_view seg, std::vector<std::uint8_t>& out)
{
    if (seg.empty() || seg.size() > NAME_SEG_LEN || !is_lead_name_char(seg[0])) {
        return false;
    }
    for (std::size_t i = 0; i < NAME_SEG_LEN; ++i) {
        if (i < seg.size()) {
            if (!is_name_char(seg[i])) {
                return false;
            }
            out.push_back(static_cast<std::uint8_t>(seg[i]));
        } else {
            out.push_back(static_cast<std::uint8_t>('_'));
        }
    }
    return true;
}

std::optional<unsigned> hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return static_cast<unsigned>(c - '0');
    }
    if (c >= 'A' && c <= 'F') {
        return static_cast<unsigned>(c - 'A' + 10);
    }
    return std::nullopt;
}

} // namespace

std::optional<std::vector<std::uint8_t>> encode_pkg_length(std::uint32_t value)
{
    std::vector<std::uint8_t> out;
    if (value <= PKG_LENGTH_MAX[0]) {
        out.push_back(static_cast<std::uint8_t>(value));
        return out;
    }
    for (std::size_t follow = 1; follow < PKG_LENGTH_MAX.size(); ++follow) {
        if (value <= PKG_LENGTH_MAX[follow]) {
            // Bits 7-6 of the lead byte count the bytes that follow; bits 3-0 are the low nibble.
            out.push_back(static_cast<std::uint8_t>((follow << 6) | (value & 0xfU)));
            for (std::size_t i = 0; i < follow; ++i) {
                out.push_back(static_cast<std::uint8_t>(value >> (4 + 8 * i)));
            }
            return out;
        }
    }
    return std::nullopt;
}

std::optional<std::vector<std::uint8_t>> encode_name_string(std::string_view path)
{
    std::vector<std::uint8_t> out;
    bool prefixed = false;
    if (!path.empty() && path.front() == '\\') {
        out.push_back(ROOT_CHAR);
        path.remove_prefix(1);
        prefixed = true;
    } else {
        while (!path.empty() && path.front() == '^') {
            out.push_back(PARENT_PREFIX_CHAR);
            path.remove_prefix(1);
            prefixed = true;
        }
    }
    if (path.empty()) {
        // "\" alone is the root itself: RootChar NullName.
        if (!prefixed) {
            return std::nullopt;
        }
        out.push_back(ZERO_OP);
        return out;
    }
    std::vector<std::string_view> segs;
    for (std::size_t pos = 0;;) {
        const std::size_t dot = path.find('.', pos);
        segs.push_back(path.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
        if (dot == std::string_view::npos) {
            break;
        }
        pos = dot + 1;
    }
    if (segs.size() > 255) {
        return std::nullopt;
    }
    if (segs.size() == 2) {
        out.push_back(DUAL_NAME_PREFIX);
    } else if (segs.size() > 2) {
        out.push_back(MULTI_NAME_PREFIX);
        out.push_back(static_cast<std::uint8_t>(segs.size()));
    }
    for (const auto seg : segs) {
        if (!append_name_seg(seg, out)) {
            return std::nullopt;
        }
    }
    return out;
}

std::optional<std::uint32_t> eisa_id_value(std::string_view id)
{
    // Three upper-case letters compressed to 5 bits each ('A' = 1), then four hex digits; the
    // 32-bit value is stored big-endian, which in a little-endian DWord reads byte-swapped.
    if (id.size() != 7) {
        return std::nullopt;
    }
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        if (id[i] < 'A' || id[i] > 'Z') {
            return std::nullopt;
        }
        v = (v << 5) | static_cast<std::uint32_t>(id[i] - 'A' + 1);
    }
    for (std::size_t i = 3; i < 7; ++i) {
        const auto d = hex_digit(id[i]);
        if (!d) {
            return std::nullopt;
        }
        v = (v << 4) | *d;
    }
    return __builtin_bswap32(v);
}

// ---- Encoded ---------------------------------------------------------------------------------

void Encoded::emit(const Encoded& child)
{
    emit(std::span<const std::uint8_t>(child.bytes()));
    if (!child.ok()) {
        set_error(child.error());
    }
}

void Encoded::emit_le(std::uint64_t v, std::size_t width)
{
    for (std::size_t i = 0; i < width; ++i) {
        emit(static_cast<std::uint8_t>(v >> (8 * i)));
    }
}

void Encoded::emit_name(std::string_view path)
{
    auto name = encode_name_string(path);
    if (!name) {
        set_error(fmt::format("invalid AML name \"{}\"", path));
        return;
    }
    emit(std::span<const std::uint8_t>(*name));
}

void Encoded::close_package(std::size_t start)
{
    const std::size_t body = bytes_.size() - start;
    for (std::size_t n = 1; n <= PKG_LENGTH_MAX.size(); ++n) {
        // The length counts the PkgLength bytes themselves (§20.2.4).
        if (body <= PKG_LENGTH_MAX[n - 1] - n) {
            auto len = encode_pkg_length(static_cast<std::uint32_t>(body + n));
            // Invariant: body + n is within the n-byte range, so the encoding has n bytes.
            bytes_.insert(bytes_.begin() + static_cast<std::ptrdiff_t>(start), len->begin(), len->end());
            return;
        }
    }
    set_error(fmt::format("AML package of {} bytes exceeds the PkgLength range", body));
}

void Encoded::set_error(std::string message)
{
    if (error_.empty()) {
        error_ = std::move(message);
    }
}

// ---- Data objects ----------------------------------------------------------------------------

Zero::Zero()
{
    emit(ZERO_OP);
}

One::One()
{
    emit(ONE_OP);
}

Ones::Ones()
{
    emit(ONES_OP);
}

Integer::Integer(std::uint64_t value)
{
    if (value == 0) {
        emit(ZERO_OP);
    } else if (value == 1) {
        emit(ONE_OP);
    } else if (value == ~std::uint64_t { 0 }) {
        emit(ONES_OP);
    } else if (value <= 0xff) {
        emit(BYTE_PREFIX);
        emit_le(value, 1);
    } else if (value <= 0xffff) {
        emit(WORD_PREFIX);
        emit_le(value, 2);
    } else if (value <= 0xffff'ffff) {
        emit(DWORD_PREFIX);
        emit_le(value, 4);
    } else {
        emit(QWORD_PREFIX);
        emit_le(value, 8);
    }
}

EisaId::EisaId(std::string_view id)
{
    const auto v = eisa_id_value(id);
    if (!v) {
        set_error(fmt::format("invalid EISA ID \"{}\"", id));
    }
    emit(DWORD_PREFIX);
    emit_le(v.value_or(0), 4);
}

String::String(std::string_view s)
{
    emit(STRING_PREFIX);
    for (const char c : s) {
        const auto b = static_cast<std::uint8_t>(c);
        // §20.2.3: AsciiCharList holds 0x01..0x7f; NUL ends it.
        if (b == 0 || b > 0x7f) {
            set_error(fmt::format("AML string \"{}\" has a non-ASCII or NUL byte", s));
        }
        emit(b);
    }
    emit(ZERO_OP);
}

Buffer::Buffer(std::span<const std::uint8_t> data)
{
    emit(BUFFER_OP);
    const std::size_t start = size();
    emit(Integer(data.size()));
    emit(data);
    close_package(start);
}

Package::Package(const TermList& elements)
{
    if (elements.size() > MAX_PACKAGE_ELEMENTS) {
        set_error(fmt::format("AML package of {} elements needs a VarPackage", elements.size()));
    }
    emit(PACKAGE_OP);
    const std::size_t start = size();
    emit(static_cast<std::uint8_t>(elements.size()));
    for (const auto& e : elements) {
        emit(e);
    }
    close_package(start);
}

// ---- Names and namespace modifiers -----------------------------------------------------------

NamePath::NamePath(std::string_view path)
{
    emit_name(path);
}

NullName::NullName()
{
    emit(ZERO_OP);
}

Name::Name(std::string_view path, const Term& value)
{
    emit(NAME_OP);
    emit_name(path);
    emit(value);
}

Scope::Scope(std::string_view path, const TermList& children)
{
    emit(SCOPE_OP);
    const std::size_t start = size();
    emit_name(path);
    for (const auto& c : children) {
        emit(c);
    }
    close_package(start);
}

Device::Device(std::string_view path, const TermList& children)
{
    emit(EXT_OP_PREFIX);
    emit(DEVICE_OP);
    const std::size_t start = size();
    emit_name(path);
    for (const auto& c : children) {
        emit(c);
    }
    close_package(start);
}

Method::Method(std::string_view path, unsigned arg_count, bool serialized, const TermList& body)
{
    if (arg_count > MAX_METHOD_ARGS) {
        set_error(fmt::format("AML method {} takes {} arguments, at most 7 allowed", path, arg_count));
    }
    emit(METHOD_OP);
    const std::size_t start = size();
    emit_name(path);
    // §20.2.5.2 MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, bits 4-7 SyncLevel (0).
    emit(static_cast<std::uint8_t>((arg_count & 0x7U) | (serialized ? 0x8U : 0U)));
    for (const auto& t : body) {
        emit(t);
    }
    close_package(start);
}

// ---- Locals, arguments, statements and operators ---------------------------------------------

Local::Local(unsigned index)
{
    if (index >= MAX_LOCALS) {
        set_error(fmt::format("Local{} does not exist", index));
    }
    emit(static_cast<std::uint8_t>(LOCAL0_OP + (index % MAX_LOCALS)));
}

Arg::Arg(unsigned index)
{
    if (index >= MAX_ARGS) {
        set_error(fmt::format("Arg{} does not exist", index));
    }
    emit(static_cast<std::uint8_t>(ARG0_OP + (index % MAX_ARGS)));
}

Return::Return(const Term& value)
{
    emit(RETURN_OP);
    emit(value);
}

Store::Store(const Term& source, const Term& target)
{
    emit(STORE_OP);
    emit(source);
    emit(target);
}

Notify::Notify(const Term& object, const Term& value)
{
    emit(NOTIFY_OP);
    emit(object);
    emit(value);
}

If::If(const Term& predicate, const TermList& body)
{
    emit(IF_OP);
    const std::size_t start = size();
    emit(predicate);
    for (const auto& t : body) {
        emit(t);
    }
    close_package(start);
}

Else::Else(const TermList& body)
{
    emit(ELSE_OP);
    const std::size_t start = size();
    for (const auto& t : body) {
        emit(t);
    }
    close_package(start);
}

LEqual::LEqual(const Term& left, const Term& right)
{
    emit(LEQUAL_OP);
    emit(left);
    emit(right);
}

And::And(const Term& left, const Term& right, const Term& target)
{
    emit(AND_OP);
    emit(left);
    emit(right);
    emit(target);
}

Or::Or(const Term& left, const Term& right, const Term& target)
{
    emit(OR_OP);
    emit(left);
    emit(right);
    emit(target);
}

LNot::LNot(const Term& operand)
{
    emit(LNOT_OP);
    emit(operand);
}

// ---- Buffer fields and UUIDs -------------------------------------------------------------------

CreateDWordField::CreateDWordField(const Term& buffer, const Term& byte_index, std::string_view name)
{
    emit(CREATE_DWORD_FIELD_OP);
    emit(buffer);
    emit(byte_index);
    emit_name(name);
}

std::optional<std::vector<std::uint8_t>> uuid_bytes(std::string_view uuid)
{
    // 8-4-4-4-12 hex digits; the first three groups are stored byte-swapped (§19.6.142).
    constexpr std::array<std::size_t, 5> GROUPS = { 8, 4, 4, 4, 12 };
    std::vector<std::uint8_t> out;
    std::size_t pos = 0;
    for (std::size_t g = 0; g < GROUPS.size(); ++g) {
        if (g > 0) {
            if (pos >= uuid.size() || uuid[pos] != '-') {
                return std::nullopt;
            }
            ++pos;
        }
        std::vector<std::uint8_t> group;
        for (std::size_t i = 0; i < GROUPS[g]; i += 2) {
            if (pos + 2 > uuid.size()) {
                return std::nullopt;
            }
            const auto hi = hex_digit(static_cast<char>(std::toupper(static_cast<unsigned char>(uuid[pos]))));
            const auto lo = hex_digit(static_cast<char>(std::toupper(static_cast<unsigned char>(uuid[pos + 1]))));
            if (!hi || !lo) {
                return std::nullopt;
            }
            group.push_back(static_cast<std::uint8_t>(*hi << 4 | *lo));
            pos += 2;
        }
        if (g < 3) {
            std::reverse(group.begin(), group.end());
        }
        out.insert(out.end(), group.begin(), group.end());
    }
    if (pos != uuid.size()) {
        return std::nullopt;
    }
    return out;
}

Uuid::Uuid(std::string_view uuid)
{
    const auto b = uuid_bytes(uuid);
    if (!b) {
        set_error(fmt::format("invalid UUID \"{}\"", uuid));
    }
    emit(Buffer(b.value_or(std::vector<std::uint8_t>(16, 0))));
}

// ---- Operation regions and fields ------------------------------------------------------------

OperationRegion::OperationRegion(
    std::string_view path, RegionSpace space, const Term& offset, const Term& length)
{
    emit(EXT_OP_PREFIX);
    emit(OP_REGION_OP);
    emit_name(path);
    emit(static_cast<std::uint8_t>(space));
    emit(offset);
    emit(length);
}

Field::Field(
    std::string_view region, FieldAccess access, FieldUpdate update, const std::vector<FieldUnit>& units)
{
    emit(EXT_OP_PREFIX);
    emit(FIELD_OP);
    const std::size_t start = size();
    emit_name(region);
    // §20.2.5.2 FieldFlags: bits 0-3 AccessType, bit 4 LockRule (NoLock), bits 5-6 UpdateRule.
    emit(static_cast<std::uint8_t>(static_cast<unsigned>(access) | (static_cast<unsigned>(update) << 5)));
    for (const auto& u : units) {
        const auto bits = encode_pkg_length(u.bits);
        if (u.bits == 0 || !bits) {
            set_error(fmt::format("AML field unit \"{}\" has a bad width of {} bits", u.name, u.bits));
            continue;
        }
        if (u.name.empty()) {
            emit(ZERO_OP); // ReservedField
        } else {
            // A NamedField is a single NameSeg, never a path.
            std::vector<std::uint8_t> seg;
            if (!append_name_seg(u.name, seg)) {
                set_error(fmt::format("invalid AML field name \"{}\"", u.name));
                continue;
            }
            emit(std::span<const std::uint8_t>(seg));
        }
        emit(std::span<const std::uint8_t>(*bits));
    }
    close_package(start);
}

} // namespace vmm::acpi::aml
