// SPDX-License-Identifier: Apache-2.0
// A small AML parser for tests, written from ACPI 6.4 §20 independently of the builder.
#include "tests/unit/firmware/acpi/aml_walker.hpp"

#include <fmt/format.h>

namespace vmm::acpi::test {

namespace {

class Walker {
public:
    explicit Walker(std::span<const std::uint8_t> aml)
        : aml_(aml)
    {
    }

    AmlWalk run()
    {
        while (ok() && pos_ < aml_.size()) {
            term(aml_.size());
            if (ok()) {
                ++out_.top_level_terms;
                out_.last_top_level_end = pos_;
            }
        }
        out_.ok = ok();
        return out_;
    }

private:
    bool ok() const { return out_.error.empty(); }

    void error(const std::string& what)
    {
        if (ok()) {
            out_.error = fmt::format("{} at offset {:#x}", what, pos_);
        }
    }

    std::uint8_t byte(std::size_t end)
    {
        if (pos_ >= end) {
            error("term runs past its parent");
            return 0;
        }
        return aml_[pos_++];
    }

    std::uint64_t le(std::size_t end, std::size_t width)
    {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < width; ++i) {
            v |= std::uint64_t { byte(end) } << (8 * i);
        }
        return v;
    }

    // The value of a PkgLength (§20.2.4), bytes read within `end`.
    std::uint64_t pkg_value(std::size_t end)
    {
        const std::uint8_t lead = byte(end);
        const unsigned follow = lead >> 6;
        std::uint64_t len = follow == 0 ? (lead & 0x3fU) : (lead & 0x0fU);
        if (follow != 0 && (lead & 0x30) != 0) {
            error("PkgLength lead byte has bits 5-4 set");
        }
        for (unsigned i = 0; i < follow; ++i) {
            len |= std::uint64_t { byte(end) } << (4 + 8 * i);
        }
        return len;
    }

    // A PkgLength that spans bytes: returns the package's end, which must lie within `end`.
    std::size_t pkg_end(std::size_t end)
    {
        const std::size_t start = pos_;
        const std::uint64_t len = pkg_value(end);
        if (len > end - start) {
            error(fmt::format("PkgLength {} overruns its parent", len));
            return end;
        }
        return start + len;
    }

    void expect_end(std::size_t end)
    {
        if (ok() && pos_ != end) {
            error(fmt::format("contents end before the PkgLength end {:#x}", end));
        }
    }

    std::string name_seg(std::size_t end)
    {
        std::string s;
        for (int i = 0; i < 4; ++i) {
            const char c = static_cast<char>(byte(end));
            const bool lead = (c >= 'A' && c <= 'Z') || c == '_';
            if (!lead && !(i > 0 && c >= '0' && c <= '9')) {
                error("bad NameSeg character");
            }
            s.push_back(c);
        }
        return s;
    }

    std::string name_string(std::size_t end)
    {
        std::string s;
        while (pos_ < end && (aml_[pos_] == '\\' || aml_[pos_] == '^')) {
            s.push_back(static_cast<char>(byte(end)));
        }
        const std::uint8_t b = pos_ < end ? aml_[pos_] : 0;
        std::size_t segs = 1;
        if (b == 0x00) {
            ++pos_;
            return s;
        }
        if (b == 0x2e) {
            ++pos_;
            segs = 2;
        } else if (b == 0x2f) {
            ++pos_;
            segs = byte(end);
        }
        for (std::size_t i = 0; i < segs && ok(); ++i) {
            if (i > 0) {
                s.push_back('.');
            }
            s += name_seg(end);
        }
        return s;
    }

    static bool starts_name(std::uint8_t b)
    {
        return b == '\\' || b == '^' || b == 0x2e || b == 0x2f || b == '_' || (b >= 'A' && b <= 'Z');
    }

    void term_list(std::size_t end)
    {
        while (ok() && pos_ < end) {
            term(end);
        }
        expect_end(end);
    }

    void term(std::size_t end)
    {
        const std::uint8_t op = aml_[pos_];
        switch (op) {
        case 0x08: // Name
            ++pos_;
            out_.names.push_back(name_string(end));
            term_arg(end);
            return;
        case 0x10: { // Scope
            ++pos_;
            const std::size_t e = pkg_end(end);
            name_string(e);
            term_list(e);
            return;
        }
        case 0x14: { // Method
            ++pos_;
            const std::size_t e = pkg_end(end);
            out_.methods.push_back(name_string(e));
            byte(e);
            term_list(e);
            return;
        }
        case 0x5b:
            ext_term(end);
            return;
        case 0xa0: { // If
            ++pos_;
            const std::size_t e = pkg_end(end);
            term_arg(e);
            term_list(e);
            return;
        }
        case 0xa1: { // Else
            ++pos_;
            term_list(pkg_end(end));
            return;
        }
        case 0x70: // Store
            ++pos_;
            term_arg(end);
            super_name(end);
            return;
        case 0x86: // Notify
            ++pos_;
            super_name(end);
            term_arg(end);
            return;
        case 0xa4: // Return
            ++pos_;
            term_arg(end);
            return;
        case 0x8a: // CreateDWordField
            ++pos_;
            term_arg(end);
            term_arg(end);
            out_.names.push_back(name_string(end));
            return;
        default:
            term_arg(end);
            return;
        }
    }

    void ext_term(std::size_t end)
    {
        ++pos_;
        const std::uint8_t op = byte(end);
        if (op == 0x82) { // Device
            const std::size_t e = pkg_end(end);
            out_.devices.push_back(name_string(e));
            term_list(e);
        } else if (op == 0x80) { // OperationRegion
            name_string(end);
            byte(end);
            term_arg(end);
            term_arg(end);
        } else if (op == 0x81) { // Field
            const std::size_t e = pkg_end(end);
            name_string(e);
            byte(e);
            while (ok() && pos_ < e) {
                if (aml_[pos_] == 0x00) {
                    ++pos_;
                } else {
                    name_seg(e);
                }
                pkg_value(e); // a width in bits, not a span of bytes
            }
            expect_end(e);
        } else {
            error(fmt::format("unknown extended opcode 0x5b {:#x}", op));
        }
    }

    void super_name(std::size_t end)
    {
        const std::uint8_t b = pos_ < end ? aml_[pos_] : 0xff;
        if (b == 0x00 || (b >= 0x60 && b <= 0x6e)) {
            ++pos_;
        } else if (starts_name(b)) {
            name_string(end);
        } else {
            error("expected a SuperName");
        }
    }

    std::uint64_t term_arg(std::size_t end)
    {
        const std::uint8_t op = byte(end);
        switch (op) {
        case 0x00:
            return 0;
        case 0x01:
            return 1;
        case 0xff:
            return ~std::uint64_t { 0 };
        case 0x0a:
            return le(end, 1);
        case 0x0b:
            return le(end, 2);
        case 0x0c:
            return le(end, 4);
        case 0x0e:
            return le(end, 8);
        case 0x0d: {
            std::string s;
            for (std::uint8_t c = byte(end); ok() && c != 0; c = byte(end)) {
                s.push_back(static_cast<char>(c));
            }
            out_.strings.push_back(s);
            return 0;
        }
        case 0x11:
            buffer(end);
            return 0;
        case 0x12: {
            ++out_.packages;
            const std::size_t e = pkg_end(end);
            const std::size_t count = byte(e);
            std::size_t seen = 0;
            while (ok() && pos_ < e) {
                term_arg(e);
                ++seen;
            }
            expect_end(e);
            if (seen != count) {
                error(fmt::format("package declares {} elements, holds {}", count, seen));
            }
            return 0;
        }
        case 0x7b: // And
        case 0x7d: // Or
            term_arg(end);
            term_arg(end);
            super_name(end);
            return 0;
        case 0x92: // LNot
            term_arg(end);
            return 0;
        case 0x93: // LEqual
            term_arg(end);
            term_arg(end);
            return 0;
        default:
            if (op >= 0x60 && op <= 0x6e) {
                return 0;
            }
            if (starts_name(op)) {
                --pos_;
                name_string(end);
                return 0;
            }
            --pos_;
            error(fmt::format("unknown opcode {:#x}", op));
            return 0;
        }
    }

    void buffer(std::size_t end)
    {
        const std::size_t e = pkg_end(end);
        const std::uint64_t size = term_arg(e);
        if (ok() && size != e - pos_) {
            error(fmt::format("buffer declares {} bytes, holds {}", size, e - pos_));
        }
        if (ok()) {
            resource_template(aml_.subspan(pos_, e - pos_));
        }
        pos_ = e;
    }

    // ACPI 6.4 §6.4: descriptors up to an end tag that closes the buffer with a zero sum.
    void resource_template(std::span<const std::uint8_t> b)
    {
        std::vector<WalkedInterrupt> found;
        std::vector<WalkedAddressSpace> spaces;
        std::vector<std::uint64_t> fixed;
        auto le = [&](std::size_t at, std::size_t width) {
            std::uint64_t v = 0;
            for (std::size_t k = 0; k < width; ++k) {
                v |= std::uint64_t { b[at + k] } << (8 * k);
            }
            return v;
        };
        std::size_t i = 0;
        while (i < b.size()) {
            const std::uint8_t tag = b[i];
            if ((tag & 0x80) == 0) {
                const std::size_t len = tag & 0x7U;
                if ((tag >> 3) == 0x0f) { // end tag
                    unsigned sum = 0;
                    for (const auto x : b) {
                        sum += x;
                    }
                    if (len == 1 && i + 2 == b.size() && (sum & 0xffU) == 0) {
                        ++out_.resource_templates;
                        out_.interrupts.insert(out_.interrupts.end(), found.begin(), found.end());
                        out_.address_spaces.insert(out_.address_spaces.end(), spaces.begin(), spaces.end());
                        out_.fixed_memory.insert(out_.fixed_memory.end(), fixed.begin(), fixed.end());
                    }
                    return;
                }
                i += 1 + len;
            } else {
                if (i + 3 > b.size()) {
                    return;
                }
                const std::size_t len = b[i + 1] | (std::size_t { b[i + 2] } << 8);
                // Address space descriptors: type, flags, type flags, then granularity,
                // minimum, maximum, translation, length, each 2, 4 or 8 bytes.
                const std::size_t width = tag == 0x88 ? 2 : tag == 0x87 ? 4 : tag == 0x8a ? 8 : 0;
                if (width != 0 && len == 3 + 5 * width && i + 3 + len <= b.size()) {
                    spaces.push_back(WalkedAddressSpace {
                        b[i + 3], le(i + 6 + width, width), le(i + 6 + 2 * width, width), b[i + 5] });
                }
                if (tag == 0x86 && len == 9 && i + 3 + len <= b.size()) {
                    fixed.push_back(le(i + 4, 4) << 32 | le(i + 8, 4));
                }
                if (tag == 0x89 && len >= 6 && i + 3 + len <= b.size()) {
                    const std::uint32_t gsi = b[i + 5] | (std::uint32_t { b[i + 6] } << 8)
                        | (std::uint32_t { b[i + 7] } << 16) | (std::uint32_t { b[i + 8] } << 24);
                    found.push_back(WalkedInterrupt { gsi, b[i + 3] });
                }
                i += 3 + len;
            }
        }
    }

    std::span<const std::uint8_t> aml_;
    std::size_t pos_ = 0;
    AmlWalk out_;
};

} // namespace

AmlWalk walk_aml(std::span<const std::uint8_t> aml)
{
    return Walker(aml).run();
}

} // namespace vmm::acpi::test
