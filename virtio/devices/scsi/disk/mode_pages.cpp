// SPDX-License-Identifier: Apache-2.0
// MODE SENSE and MODE SELECT (SPC-4) with the caching (SBC-3) and control (SPC-4) mode pages.
#include "virtio/devices/scsi/disk/mode_pages.hpp"

#include <algorithm>
#include <array>

#include "virtio/devices/scsi/disk/cdb.hpp"

namespace vmm::virtio::scsi {
namespace {

constexpr std::size_t CACHING_BYTES = 2 + SCSI_MODE_PAGE_CACHING_LEN;
constexpr std::size_t CONTROL_BYTES = 2 + SCSI_MODE_PAGE_CONTROL_LEN;
constexpr std::size_t SHORT_DESCRIPTOR = 8; // SBC-3 short LBA mode parameter block descriptor
constexpr std::size_t LONG_DESCRIPTOR = 16; // SBC-3 long LBA mode parameter block descriptor
constexpr std::uint8_t MODE_PS = 0x80;           // parameters saveable
constexpr std::uint8_t QAM_UNRESTRICTED = 0x10; // control page byte 3: completions in any order

using CachingPage = std::array<std::uint8_t, CACHING_BYTES>;
using ControlPage = std::array<std::uint8_t, CONTROL_BYTES>;

// The page with `p`'s values; with `changeable`, the mask of what MODE SELECT may change.
CachingPage caching_page(const ModeParameters& p, bool changeable) noexcept
{
    CachingPage page {};
    page[0] = MODE_PS | SCSI_MODE_PAGE_CACHING;
    page[1] = SCSI_MODE_PAGE_CACHING_LEN;
    page[2] = (changeable || p.wce) ? SCSI_CACHING_WCE : 0;
    return page;
}

ControlPage control_page(const ModeParameters& p, bool changeable) noexcept
{
    ControlPage page {};
    page[0] = MODE_PS | SCSI_MODE_PAGE_CONTROL;
    page[1] = SCSI_MODE_PAGE_CONTROL_LEN;
    page[2] = (changeable || p.d_sense) ? SCSI_CONTROL_D_SENSE : 0;
    page[3] = changeable ? 0 : QAM_UNRESTRICTED;
    return page;
}

template <std::size_t N>
std::size_t put_page(ResponseBuffer& out, std::size_t at, const std::array<std::uint8_t, N>& bytes) noexcept
{
    std::copy(bytes.begin(), bytes.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
    return at + N;
}

// Checks a page from a MODE SELECT list against the current one: every bit outside the
// changeable mask must keep its value (SPC-4 MODE SELECT: INVALID FIELD IN PARAMETER LIST
// otherwise).
// Bytes 0..1 (PS is reserved here, page code and length were checked) are skipped.
template <std::size_t N>
ScsiExpected<> check_unchanged(std::span<const std::uint8_t> page, const std::array<std::uint8_t, N>& current,
    const std::array<std::uint8_t, N>& mask, std::size_t at)
{
    for (std::size_t i = 2; i < N; ++i) {
        if (((page[i] ^ current[i]) & ~mask[i]) != 0) {
            return invalid_parameter(static_cast<std::uint16_t>(at + i));
        }
    }
    return {};
}

ScsiExpected<> check_block_descriptor(const DiskInfo& disk, std::span<const std::uint8_t> d, std::size_t at)
{
    // SBC-3 mode parameter block descriptors: the capacity and block length cannot be changed. NUMBER OF LOGICAL BLOCKS
    // may be zero ("no change") or the current capacity, LOGICAL BLOCK LENGTH must be ours.
    const bool is_long = d.size() == LONG_DESCRIPTOR;
    const std::uint64_t count = is_long ? load_be(d, 0, 8) : load_be(d, 0, 4);
    const std::uint64_t ours = is_long ? disk.blocks : std::min<std::uint64_t>(disk.blocks, 0xffff'ffff);
    if (count != 0 && count != ours) {
        return invalid_parameter(static_cast<std::uint16_t>(at));
    }
    const std::uint64_t length = is_long ? load_be(d, 12, 4) : load_be(d, 5, 3);
    if (length != disk.options.block_size) {
        return invalid_parameter(static_cast<std::uint16_t>(at + (is_long ? 12 : 5)));
    }
    return {};
}

} // namespace

ScsiExpected<std::size_t> mode_sense(
    const DiskInfo& disk, const ModeState& state, std::span<const std::uint8_t> cdb, ResponseBuffer& out)
{
    // Guest-controlled: the CDB.
    const bool ten = cdb[0] == SCSI_OP_MODE_SENSE_10;
    const bool dbd = (cdb[1] & 0x08) != 0;
    const bool llbaa = ten && (cdb[1] & 0x10) != 0;
    const auto pc = static_cast<std::uint8_t>(cdb[2] >> 6);
    const std::uint8_t page = cdb[2] & 0x3f;
    const std::uint8_t subpage = cdb[3];
    if (page != SCSI_MODE_PAGE_CACHING && page != SCSI_MODE_PAGE_CONTROL && page != SCSI_MODE_PAGE_ALL) {
        return invalid_cdb(2, 5);
    }
    // No page has subpages: subpage 0, or FFh with "all pages" (SPC-4 MODE SENSE).
    if (subpage != 0 && !(page == SCSI_MODE_PAGE_ALL && subpage == SCSI_MODE_SUBPAGE_ALL)) {
        return invalid_cdb(3, 7);
    }
    const bool changeable = pc == SCSI_MODE_PC_CHANGEABLE;
    const ModeParameters& values = pc == SCSI_MODE_PC_SAVED ? state.saved
        : pc == SCSI_MODE_PC_DEFAULT                        ? state.defaults
                                                            : state.current;

    const std::size_t header = ten ? 8 : 4;
    std::size_t at = header;
    std::size_t descriptor = 0;
    if (!dbd) {
        descriptor = llbaa ? LONG_DESCRIPTOR : SHORT_DESCRIPTOR;
        // Nothing in the block descriptor can be changed: its changeable mask is all zeroes.
        if (!changeable && llbaa) {
            store_be(out, at, 8, disk.blocks);
            store_be(out, at + 12, 4, disk.options.block_size);
        } else if (!changeable) {
            // SBC-3 short LBA block descriptor: a capacity beyond 32 bits reads as FFFFFFFFh.
            store_be(out, at, 4, std::min<std::uint64_t>(disk.blocks, 0xffff'ffff));
            store_be(out, at + 5, 3, disk.options.block_size);
        }
        at += descriptor;
    }
    // SPC-4 MODE SENSE: "all pages" returns them in ascending page code order.
    if (page == SCSI_MODE_PAGE_CACHING || page == SCSI_MODE_PAGE_ALL) {
        at = put_page(out, at, caching_page(values, changeable));
    }
    if (page == SCSI_MODE_PAGE_CONTROL || page == SCSI_MODE_PAGE_ALL) {
        at = put_page(out, at, control_page(values, changeable));
    }

    // SBC-3 mode parameter header: the device-specific parameter: WP, and DPOFUA (DPO and FUA are honoured).
    std::uint8_t device_specific = SCSI_MODE_DSP_DPOFUA;
    if (disk.options.read_only) {
        device_specific |= SCSI_MODE_DSP_WP;
    }
    // SPC-4 mode parameter headers: MODE DATA LENGTH counts the bytes after itself. Invariant: `at`
    // is at most 8 + 16 + 2 pages, far below 255.
    if (ten) {
        store_be(out, 0, 2, at - 2);
        out[3] = device_specific;
        out[4] = llbaa && descriptor != 0 ? 0x01 : 0x00; // LONGLBA
        store_be(out, 6, 2, descriptor);
    } else {
        out[0] = static_cast<std::uint8_t>(at - 1);
        out[2] = device_specific;
        out[3] = static_cast<std::uint8_t>(descriptor);
    }
    return at;
}

ScsiExpected<ModeSelectCdb> decode_mode_select(std::span<const std::uint8_t> cdb)
{
    ModeSelectCdb m;
    m.ten = cdb[0] == SCSI_OP_MODE_SELECT_10;
    m.save = (cdb[1] & 0x01) != 0;
    m.length_byte = m.ten ? 7 : 4;
    m.length = static_cast<std::uint32_t>(m.ten ? load_be(cdb, 7, 2) : cdb[4]);
    // SPC-4 MODE SELECT: an empty list is no error, whatever the other fields say.
    if (m.length == 0) {
        return m;
    }
    // PF: the pages follow SPC-4's page format; there is no vendor-specific format here.
    if ((cdb[1] & 0x10) == 0) {
        return invalid_cdb(1, 4);
    }
    if (m.length > MODE_SELECT_MAX) {
        return invalid_cdb(m.length_byte, 7);
    }
    return m;
}

ScsiExpected<ModeParameters> parse_mode_select(
    const DiskInfo& disk, const ModeParameters& current, bool ten, std::span<const std::uint8_t> list)
{
    // Guest-controlled: the whole list, already copied out of guest memory. SPC-4 MODE SELECT: a list
    // that cuts a header, descriptor or page short is PARAMETER LIST LENGTH ERROR.
    const std::size_t header = ten ? 8 : 4;
    if (list.size() < header) {
        return check(SENSE_PARAMETER_LIST_LENGTH_ERROR);
    }
    // The MODE DATA LENGTH field is reserved in MODE SELECT; so are WP and DPOFUA of the
    // device-specific parameter (SBC-3 mode parameter header), which Linux's sd clears anyway.
    const std::size_t medium_type_at = ten ? 2 : 1;
    if (list[medium_type_at] != 0) {
        return invalid_parameter(static_cast<std::uint16_t>(medium_type_at));
    }
    const bool longlba = ten && (list[4] & 0x01) != 0;
    const std::size_t bd_at = ten ? 6 : 3;
    const std::size_t bd_len = ten ? load_be(list, 6, 2) : list[3];
    if (bd_len != 0 && bd_len != (longlba ? LONG_DESCRIPTOR : SHORT_DESCRIPTOR)) {
        return invalid_parameter(static_cast<std::uint16_t>(bd_at));
    }
    if (bd_len > list.size() - header) {
        return check(SENSE_PARAMETER_LIST_LENGTH_ERROR);
    }
    if (bd_len != 0) {
        SCSI_TRY(check_block_descriptor(disk, list.subspan(header, bd_len), header));
    }

    ModeParameters next = current;
    std::size_t at = header + bd_len;
    while (at < list.size()) {
        if (list.size() - at < 2) {
            return check(SENSE_PARAMETER_LIST_LENGTH_ERROR);
        }
        const std::uint8_t code = list[at] & 0x3f;
        if ((list[at] & 0x40) != 0) {
            return invalid_parameter(static_cast<std::uint16_t>(at), 6); // SPF: no subpages here
        }
        const std::size_t len = list[at + 1];
        if (len > list.size() - at - 2) {
            return check(SENSE_PARAMETER_LIST_LENGTH_ERROR);
        }
        const auto page = list.subspan(at, 2 + len);
        if (code == SCSI_MODE_PAGE_CACHING) {
            if (len != SCSI_MODE_PAGE_CACHING_LEN) {
                return invalid_parameter(static_cast<std::uint16_t>(at + 1));
            }
            SCSI_TRY(check_unchanged(page, caching_page(current, false), caching_page(current, true), at));
            next.wce = (page[2] & SCSI_CACHING_WCE) != 0;
        } else if (code == SCSI_MODE_PAGE_CONTROL) {
            if (len != SCSI_MODE_PAGE_CONTROL_LEN) {
                return invalid_parameter(static_cast<std::uint16_t>(at + 1));
            }
            SCSI_TRY(check_unchanged(page, control_page(current, false), control_page(current, true), at));
            next.d_sense = (page[2] & SCSI_CONTROL_D_SENSE) != 0;
        } else {
            return invalid_parameter(static_cast<std::uint16_t>(at), 5);
        }
        at += 2 + len;
    }
    return next;
}

} // namespace vmm::virtio::scsi
