// SPDX-License-Identifier: Apache-2.0
// REPORT LUNS parameter data, written piecewise into the data-in buffer.
#include "virtio/devices/scsi/disk/report_luns.hpp"

#include <algorithm>

#include "virtio/devices/scsi/disk/cdb.hpp"
#include "virtio/memory/iovec_copy.hpp"

namespace vmm::virtio::scsi {
namespace {

constexpr std::size_t REPORT_LUNS_CDB = 12;
constexpr std::size_t LUN_LIST_HEADER = 8;

ScsiExpected<> check_report_luns_cdb(std::span<const std::uint8_t> cdb)
{
    if (cdb.size() < REPORT_LUNS_CDB) {
        return check(SENSE_INVALID_FIELD_IN_CDB);
    }
    if ((cdb[REPORT_LUNS_CDB - 1] & 0x04) != 0) {
        return invalid_cdb(REPORT_LUNS_CDB - 1, 2); // NACA: there is no ACA here (SAM-5)
    }
    // SPC-4 REPORT LUNS: 00h all logical units, 01h well-known ones only (there are none), 02h all.
    if (cdb[2] > 0x02) {
        return invalid_cdb(2, 7);
    }
    return {};
}

} // namespace

std::array<std::uint8_t, 8> encode_lun(std::uint16_t lun) noexcept
{
    std::array<std::uint8_t, 8> out {};
    if (lun < 256) {
        out[1] = static_cast<std::uint8_t>(lun); // peripheral device addressing, bus 0
    } else {
        out[0] = static_cast<std::uint8_t>(0x40 | ((lun >> 8) & 0x3f)); // flat space addressing
        out[1] = static_cast<std::uint8_t>(lun);
    }
    return out;
}

ScsiResult report_luns(std::span<const std::uint16_t> luns, std::span<const std::uint8_t> cdb,
    const IovecList& data_in, SenseFormat format) noexcept
{
    // Guest-controlled: the CDB and the buffer sizes.
    if (auto ok = check_report_luns_cdb(cdb); !ok) {
        return error_result(ok.error(), format);
    }
    const bool well_known_only = cdb[2] == 0x01;
    std::size_t count = 0;
    if (!well_known_only) {
        count = static_cast<std::size_t>(
            std::count_if(luns.begin(), luns.end(), [](std::uint16_t l) { return l <= SCSI_MAX_FLAT_LUN; }));
    }
    // Nothing beyond min(allocation length, buffer) is written; what fits of the list goes.
    const std::size_t limit = std::min<std::size_t>(load_be(cdb, 6, 4), iovecs_bytes(data_in));
    std::array<std::uint8_t, LUN_LIST_HEADER> header {};
    store_be(header, 0, 4, count * 8); // LUN LIST LENGTH
    std::size_t written = copy_to_iovecs(data_in, 0, std::span(header).first(std::min(limit, LUN_LIST_HEADER)));
    if (!well_known_only) {
        for (const std::uint16_t lun : luns) {
            if (written >= limit) {
                break;
            }
            if (lun > SCSI_MAX_FLAT_LUN) {
                continue;
            }
            const auto entry = encode_lun(lun);
            const std::size_t n = std::min<std::size_t>(limit - written, entry.size());
            written += copy_to_iovecs(data_in, written, std::span(entry).first(n));
        }
    }
    ScsiResult r;
    r.data_in_len = static_cast<std::uint32_t>(std::min<std::size_t>(written, UINT32_MAX));
    return r;
}

} // namespace vmm::virtio::scsi
