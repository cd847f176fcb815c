// SPDX-License-Identifier: Apache-2.0
// Sense data in fixed (SPC-4 §4.5.3) and descriptor (§4.5.2) format.
#include "virtio/devices/scsi/disk/sense.hpp"

#include <algorithm>

#include "virtio/devices/scsi/disk/cdb.hpp"

namespace vmm::virtio::scsi {
namespace {

// SPC-4 §4.5.2.4.2: SKSV, C/D, BPV and BIT POINTER, then the FIELD POINTER.
std::array<std::uint8_t, 3> field_pointer_bytes(const FieldPointer& f) noexcept
{
    std::uint8_t b0 = 0x80; // SKSV
    if (f.in_cdb) {
        b0 |= 0x40;
    }
    if (f.bit >= 0) {
        b0 |= static_cast<std::uint8_t>(0x08 | (f.bit & 0x7));
    }
    return { b0, static_cast<std::uint8_t>(f.byte >> 8), static_cast<std::uint8_t>(f.byte) };
}

std::size_t build_fixed(const SenseInfo& info, std::span<std::uint8_t> out) noexcept
{
    out[0] = SCSI_SENSE_FIXED_CURRENT;
    // §4.5.3: INFORMATION is 4 bytes here; VALID says whether it holds the value, which it
    // cannot when the value needs more than 32 bits.
    if (info.information && *info.information <= UINT32_MAX) {
        out[0] |= 0x80;
        store_be(out, 3, 4, *info.information);
    }
    out[2] = info.code.key & 0x0f;
    out[7] = SCSI_SENSE_FIXED_LEN - 8; // ADDITIONAL SENSE LENGTH: the bytes after byte 7
    out[12] = info.code.asc;
    out[13] = info.code.ascq;
    if (info.field) {
        const auto sks = field_pointer_bytes(*info.field);
        std::copy(sks.begin(), sks.end(), out.begin() + 15);
    }
    return SCSI_SENSE_FIXED_LEN;
}

std::size_t build_descriptor(const SenseInfo& info, std::span<std::uint8_t> out) noexcept
{
    out[0] = SCSI_SENSE_DESCRIPTOR_CURRENT;
    out[1] = info.code.key & 0x0f;
    out[2] = info.code.asc;
    out[3] = info.code.ascq;
    std::size_t at = 8;
    if (info.information) {
        // §4.5.2.2: the information descriptor; VALID shall be one.
        out[at] = SCSI_SENSE_DESC_INFORMATION;
        out[at + 1] = 0x0a;
        out[at + 2] = 0x80;
        store_be(out, at + 4, 8, *info.information);
        at += 12;
    }
    if (info.field) {
        // §4.5.2.4.1: the sense key specific descriptor.
        out[at] = SCSI_SENSE_DESC_KEY_SPECIFIC;
        out[at + 1] = 0x06;
        const auto sks = field_pointer_bytes(*info.field);
        std::copy(sks.begin(), sks.end(), out.begin() + static_cast<std::ptrdiff_t>(at + 4));
        at += 8;
    }
    out[7] = static_cast<std::uint8_t>(at - 8);
    return at;
}

} // namespace

std::size_t build_sense(const SenseInfo& info, SenseFormat format, std::span<std::uint8_t, SCSI_SENSE_MAX> out) noexcept
{
    std::fill(out.begin(), out.end(), std::uint8_t { 0 });
    return format == SenseFormat::fixed ? build_fixed(info, out) : build_descriptor(info, out);
}

ScsiResult error_result(const CommandError& error, SenseFormat format) noexcept
{
    ScsiResult r;
    r.status = error.status;
    if (error.status == SCSI_STATUS_CHECK_CONDITION) {
        r.sense_len = static_cast<std::uint8_t>(build_sense(error.sense, format, r.sense));
    }
    return r;
}

} // namespace vmm::virtio::scsi
