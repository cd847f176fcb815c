// SPDX-License-Identifier: Apache-2.0
// ScsiDiskOptions bounds.
#include "virtio/devices/scsi/disk/scsi_disk_options.hpp"

#include <algorithm>
#include <bit>
#include <string_view>

namespace vmm::virtio::scsi {
namespace {

// SPC-4 §4.4.1: ASCII data fields hold 20h..7Eh only.
Result<> check_ascii(std::string_view what, std::string_view text, std::size_t max)
{
    if (text.size() > max) {
        return fail(Errc::invalid_argument, "SCSI disk {} \"{}\" is longer than {} characters", what, text, max);
    }
    if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; })) {
        return fail(Errc::invalid_argument, "SCSI disk {} \"{}\" holds characters other than printable ASCII", what,
            text);
    }
    return {};
}

} // namespace

Result<> check_options(const ScsiDiskOptions& o)
{
    VMM_TRY(check_ascii("serial", o.serial, ScsiDiskOptions::MAX_SERIAL));
    VMM_TRY(check_ascii("vendor", o.vendor, 8));
    VMM_TRY(check_ascii("product", o.product, 16));
    VMM_TRY(check_ascii("revision", o.revision, 4));
    if (!std::has_single_bit(o.block_size) || o.block_size < ScsiDiskOptions::MIN_BLOCK_SIZE
        || o.block_size > ScsiDiskOptions::MAX_BLOCK_SIZE) {
        return fail(Errc::invalid_argument, "SCSI disk block size {} is not a power of two from {} to {}", o.block_size,
            ScsiDiskOptions::MIN_BLOCK_SIZE, ScsiDiskOptions::MAX_BLOCK_SIZE);
    }
    if (std::uint64_t { o.max_transfer_blocks } * o.block_size > ScsiDiskOptions::MAX_TRANSFER_BYTES) {
        return fail(Errc::invalid_argument, "SCSI disk max_transfer_blocks {} of {} bytes is more than {} bytes",
            o.max_transfer_blocks, o.block_size, ScsiDiskOptions::MAX_TRANSFER_BYTES);
    }
    if (o.max_unmap_descriptors == 0 || o.max_unmap_descriptors > ScsiDiskOptions::MAX_UNMAP_DESCRIPTORS) {
        return fail(Errc::invalid_argument, "SCSI disk max_unmap_descriptors {} is not within 1..{}",
            o.max_unmap_descriptors, ScsiDiskOptions::MAX_UNMAP_DESCRIPTORS);
    }
    if (o.max_unmap_blocks == 0 || o.max_write_same_blocks == 0) {
        return fail(Errc::invalid_argument, "SCSI disk max_unmap_blocks and max_write_same_blocks must not be 0");
    }
    return {};
}

} // namespace vmm::virtio::scsi
