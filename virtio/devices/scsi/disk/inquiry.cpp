// SPDX-License-Identifier: Apache-2.0
// INQUIRY standard data and VPD pages 00h, 80h, 83h, B0h, B1h, B2h; READ CAPACITY (10)/(16).
#include "virtio/devices/scsi/disk/inquiry.hpp"

#include <algorithm>
#include <string_view>

#include "virtio/devices/scsi/disk/cdb.hpp"

namespace vmm::virtio::scsi {
namespace {

constexpr std::size_t STANDARD_LEN = 74; // through the eight version descriptors (SPC-4 §6.6.2)
constexpr std::size_t VPD_HEADER = 4;

// SPC-4 §4.4.1: ASCII fields are left-aligned and padded with spaces.
void put_ascii(ResponseBuffer& out, std::size_t at, std::size_t width, std::string_view text) noexcept
{
    const std::size_t n = std::min(width, text.size());
    std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(at), width, std::uint8_t { ' ' });
    std::copy_n(text.begin(), n, out.begin() + static_cast<std::ptrdiff_t>(at));
}

// The granularity the host storage prefers: 4 KiB pages, in logical blocks.
std::uint32_t host_granularity(const ScsiDiskOptions& o) noexcept
{
    return std::max<std::uint32_t>(1, 4096 / o.block_size);
}

std::size_t standard_data(const DiskInfo& d, ResponseBuffer& out) noexcept
{
    out[0] = SCSI_TYPE_DISK; // PERIPHERAL QUALIFIER 000b: the logical unit is there
    out[2] = SCSI_VERSION_SPC4;
    out[3] = SCSI_INQUIRY_RDF;
    out[4] = static_cast<std::uint8_t>(STANDARD_LEN - 5); // ADDITIONAL LENGTH
    // CMDQUE: tagged commands are queued and may complete in any order (the control mode
    // page's QUEUE ALGORITHM MODIFIER says so too).
    out[7] = SCSI_INQUIRY_CMDQUE;
    put_ascii(out, 8, 8, d.options.vendor);
    put_ascii(out, 16, 16, d.options.product);
    put_ascii(out, 32, 4, d.options.revision);
    store_be(out, 58, 2, SCSI_VERSION_DESC_SAM5);
    store_be(out, 60, 2, SCSI_VERSION_DESC_SPC4);
    store_be(out, 62, 2, SCSI_VERSION_DESC_SBC3);
    return STANDARD_LEN;
}

std::size_t vpd_header(ResponseBuffer& out, std::uint8_t page, std::size_t length) noexcept
{
    out[0] = SCSI_TYPE_DISK;
    out[1] = page;
    store_be(out, 2, 2, length);
    return VPD_HEADER + length;
}

std::size_t supported_pages(const DiskInfo& d, ResponseBuffer& out) noexcept
{
    // SPC-4 Supported VPD Pages page: in ascending order. Without a serial there is no serial number page.
    std::size_t n = 0;
    out[VPD_HEADER + n++] = SCSI_VPD_SUPPORTED_PAGES;
    if (!d.options.serial.empty()) {
        out[VPD_HEADER + n++] = SCSI_VPD_UNIT_SERIAL_NUMBER;
    }
    out[VPD_HEADER + n++] = SCSI_VPD_DEVICE_IDENTIFICATION;
    out[VPD_HEADER + n++] = SCSI_VPD_BLOCK_LIMITS;
    out[VPD_HEADER + n++] = SCSI_VPD_BLOCK_DEVICE_CHARACTERISTICS;
    out[VPD_HEADER + n++] = SCSI_VPD_LOGICAL_BLOCK_PROVISIONING;
    return vpd_header(out, SCSI_VPD_SUPPORTED_PAGES, n);
}

std::size_t serial_number(const DiskInfo& d, ResponseBuffer& out) noexcept
{
    // SPC-4 Unit Serial Number page. Invariant: check_options() bounds the serial to MAX_SERIAL characters.
    put_ascii(out, VPD_HEADER, d.options.serial.size(), d.options.serial);
    return vpd_header(out, SCSI_VPD_UNIT_SERIAL_NUMBER, d.options.serial.size());
}

std::size_t device_identification(const DiskInfo& d, ResponseBuffer& out) noexcept
{
    const auto& o = d.options;
    std::size_t at = VPD_HEADER;
    // SPC-4 Device Identification page: a T10 vendor ID based designator, associated with the
    // logical unit: the vendor, then a vendor-specific part (product and serial, as Linux's and
    // QEMU's targets do).
    const std::size_t t10_len = 8 + 16 + o.serial.size();
    out[at] = SCSI_CODE_SET_ASCII;
    out[at + 1] = SCSI_DESIGNATOR_T10_VENDOR_ID;
    out[at + 3] = static_cast<std::uint8_t>(t10_len);
    put_ascii(out, at + 4, 8, o.vendor);
    put_ascii(out, at + 12, 16, o.product);
    put_ascii(out, at + 28, o.serial.size(), o.serial);
    at += 4 + t10_len;
    if (!o.serial.empty()) {
        // An NAA designator, which Linux prefers for the disk's WWID.
        out[at] = SCSI_CODE_SET_BINARY;
        out[at + 1] = SCSI_DESIGNATOR_NAA;
        out[at + 3] = 8;
        store_be(out, at + 4, 8, naa_designator(o));
        at += 12;
    }
    return vpd_header(out, SCSI_VPD_DEVICE_IDENTIFICATION, at - VPD_HEADER);
}

std::size_t block_limits(const DiskInfo& d, ResponseBuffer& out) noexcept
{
    const auto& o = d.options;
    // SBC-3 Block Limits VPD page. WSNZ: WRITE SAME with 0 blocks ("to the end of the medium") is refused,
    // so that one command's work is bounded by MAXIMUM WRITE SAME LENGTH.
    out[4] = 0x01;
    store_be(out, 6, 2, host_granularity(o)); // OPTIMAL TRANSFER LENGTH GRANULARITY
    store_be(out, 8, 4, o.max_transfer_blocks);
    if (o.thin) {
        store_be(out, 20, 4, o.max_unmap_blocks);
        store_be(out, 24, 4, o.max_unmap_descriptors);
        store_be(out, 28, 4, host_granularity(o)); // OPTIMAL UNMAP GRANULARITY
        store_be(out, 32, 4, 0x8000'0000);         // UGAVALID, alignment 0
    }
    store_be(out, 36, 8, o.max_write_same_blocks);
    // Linux reads the unmap fields only from a page of exactly this length.
    return vpd_header(out, SCSI_VPD_BLOCK_LIMITS, 0x3c);
}

std::size_t block_device_characteristics(ResponseBuffer& out) noexcept
{
    // SBC-3 Block Device Characteristics VPD page: MEDIUM ROTATION RATE 1, a non-rotating
    // medium (Linux: rotational = 0).
    store_be(out, 4, 2, 1);
    return vpd_header(out, SCSI_VPD_BLOCK_DEVICE_CHARACTERISTICS, 0x3c);
}

std::size_t logical_block_provisioning(const DiskInfo& d, ResponseBuffer& out) noexcept
{
    // SBC-3 Logical Block Provisioning VPD page. LBPRZ holds because deallocation is
    // write_zeroes with unmap allowed (see disk_io.cpp): what is deallocated reads as zeroes
    // even where the host cannot punch holes.
    if (d.options.thin) {
        out[5] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ
        out[6] = 0x02;                      // PROVISIONING TYPE: thin
    }
    return vpd_header(out, SCSI_VPD_LOGICAL_BLOCK_PROVISIONING, 4);
}

std::uint64_t last_lba(const DiskInfo& d) noexcept
{
    // A disk smaller than one block has no LBA at all; report LBA 0 rather than wrap.
    return d.blocks == 0 ? 0 : d.blocks - 1;
}

} // namespace

std::uint64_t naa_designator(const ScsiDiskOptions& options) noexcept
{
    // FNV-1a over the three strings, each followed by a 0 so that moving characters between
    // them changes the value.
    std::uint64_t h = 0xcbf2'9ce4'8422'2325ULL;
    for (const std::string_view s : { std::string_view(options.vendor), std::string_view(options.product),
             std::string_view(options.serial) }) {
        for (const char c : s) {
            h = (h ^ static_cast<std::uint8_t>(c)) * 0x100'0000'01b3ULL;
        }
        h *= 0x100'0000'01b3ULL;
    }
    return (std::uint64_t { SCSI_NAA_LOCALLY_ASSIGNED } << 60) | (h & 0x0fff'ffff'ffff'ffffULL);
}

ScsiExpected<std::size_t> inquiry(const DiskInfo& disk, std::span<const std::uint8_t> cdb, ResponseBuffer& out)
{
    // Guest-controlled: the CDB. CMDDT (byte 1 bit 1) is obsolete since SPC-3: refused.
    if ((cdb[1] & 0x02) != 0) {
        return invalid_cdb(1, 1);
    }
    const bool evpd = (cdb[1] & 0x01) != 0;
    const std::uint8_t page = cdb[2];
    if (!evpd) {
        // SPC-4 INQUIRY: a page code without EVPD is an error.
        if (page != 0) {
            return invalid_cdb(2, 7);
        }
        return standard_data(disk, out);
    }
    switch (page) {
    case SCSI_VPD_SUPPORTED_PAGES:
        return supported_pages(disk, out);
    case SCSI_VPD_UNIT_SERIAL_NUMBER:
        if (disk.options.serial.empty()) {
            break;
        }
        return serial_number(disk, out);
    case SCSI_VPD_DEVICE_IDENTIFICATION:
        return device_identification(disk, out);
    case SCSI_VPD_BLOCK_LIMITS:
        return block_limits(disk, out);
    case SCSI_VPD_BLOCK_DEVICE_CHARACTERISTICS:
        return block_device_characteristics(out);
    case SCSI_VPD_LOGICAL_BLOCK_PROVISIONING:
        return logical_block_provisioning(disk, out);
    default:
        break;
    }
    return invalid_cdb(2, 7);
}

ScsiExpected<std::size_t> read_capacity_10(const DiskInfo& disk, std::span<const std::uint8_t> cdb, ResponseBuffer& out)
{
    // SBC-3 READ CAPACITY (10): without PMI (obsolete) the LOGICAL BLOCK ADDRESS field shall be zero.
    if ((cdb[8] & 0x01) == 0 && load_be(cdb, 2, 4) != 0) {
        return invalid_cdb(2, 7);
    }
    // A capacity beyond 32 bits reads as FFFFFFFFh, sending the initiator to READ CAPACITY (16).
    store_be(out, 0, 4, std::min<std::uint64_t>(last_lba(disk), 0xffff'ffff));
    store_be(out, 4, 4, disk.options.block_size);
    return std::size_t { 8 };
}

std::size_t read_capacity_16(const DiskInfo& disk, ResponseBuffer& out) noexcept
{
    store_be(out, 0, 8, last_lba(disk));
    store_be(out, 8, 4, disk.options.block_size);
    if (disk.options.thin) {
        out[14] = 0x80 | 0x40; // LBPME, LBPRZ (SBC-3 READ CAPACITY (16) parameter data)
    }
    return 32;
}

} // namespace vmm::virtio::scsi
