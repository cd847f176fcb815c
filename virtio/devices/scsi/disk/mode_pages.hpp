// SPDX-License-Identifier: Apache-2.0
// Mode parameters of a SCSI disk: the caching and control pages, MODE SENSE (6)/(10) data and
// MODE SELECT (6)/(10) parameter list validation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "virtio/devices/scsi/disk/disk_info.hpp"
#include "virtio/devices/scsi/disk/sense.hpp"

namespace vmm::virtio::scsi {

// The fields an initiator may change; everything else in the pages is fixed.
struct ModeParameters {
    bool wce = true;      // caching page (SBC-3): write cache enabled
    bool d_sense = false; // control page (SPC-4): descriptor format sense data
    constexpr bool operator==(const ModeParameters&) const noexcept = default;
};

// SPC-4 MODE SENSE page control: current, saved and default values. The pages are reported saveable (PS): MODE
// SELECT with SP keeps its values as the saved ones, which a logical unit reset returns to.
// They are kept for the life of the disk object (the VM), not on the host's disk.
struct ModeState {
    ModeParameters current;
    ModeParameters saved;
    ModeParameters defaults;
};

// MODE SENSE (6) or (10) data; `cdb` holds the whole CDB. Returns the full length.
[[nodiscard]] ScsiExpected<std::size_t> mode_sense(
    const DiskInfo& disk, const ModeState& state, std::span<const std::uint8_t> cdb, ResponseBuffer& out);

// The CDB of MODE SELECT (6) or (10), decoded.
struct ModeSelectCdb {
    bool ten = false;         // MODE SELECT (10): the longer header
    bool save = false;        // SP
    std::uint32_t length = 0; // PARAMETER LIST LENGTH
    std::uint16_t length_byte = 0;
};
[[nodiscard]] ScsiExpected<ModeSelectCdb> decode_mode_select(std::span<const std::uint8_t> cdb);
// Parses and checks a MODE SELECT parameter list (header, block descriptor, pages) against the
// disk and the current values; returns the new current values, applying nothing itself.
[[nodiscard]] ScsiExpected<ModeParameters> parse_mode_select(
    const DiskInfo& disk, const ModeParameters& current, bool ten, std::span<const std::uint8_t> list);

// Longest MODE SELECT parameter list accepted (INVALID FIELD IN CDB beyond): room for the
// header, a long block descriptor and both pages many times over, and a bound on the copy.
inline constexpr std::uint32_t MODE_SELECT_MAX = 512;

} // namespace vmm::virtio::scsi
