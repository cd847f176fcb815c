// SPDX-License-Identifier: Apache-2.0
// GET LBA STATUS: the image's holes (SEEK_HOLE) are deallocated blocks, its data mapped ones.
#include "virtio/devices/scsi/disk/lba_status.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "virtio/devices/scsi/disk/cdb.hpp"
#include "virtio/spec/scsi.hpp"

namespace vmm::virtio::scsi {
namespace {

constexpr std::size_t LBA_STATUS_HEADER = 8;
constexpr std::size_t LBA_STATUS_DESCRIPTOR = 16;
// Extents looked at per command, merged or not: the guest shapes the image's holes (WRITE,
// UNMAP), so without a bound it could make one command walk millions of tiny extents.
constexpr std::size_t LBA_STATUS_MAX_LOOKUPS = 1024;

struct LbaExtent {
    std::uint64_t end = 0; // first block after the extent
    std::uint8_t status = SCSI_LBA_MAPPED;
};

// The extent that starts at block `at`. lseek on the loop thread: it only looks at the
// file's extent tree, which is cheap next to the I/O the disk does.
LbaExtent lba_extent_at(int fd, std::uint64_t at, std::uint64_t blocks, std::uint32_t bs) noexcept
{
    if (fd < 0) {
        return { blocks, SCSI_LBA_MAPPED };
    }
    // Invariant: at < blocks <= size / bs, so the byte offsets fit off_t.
    const auto pos = static_cast<off_t>(at * bs);
    const off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
        // ENXIO: no data from here to the end of the file: all a hole.
        return { blocks, errno == ENXIO ? SCSI_LBA_DEALLOCATED : SCSI_LBA_MAPPED };
    }
    const auto data_at = static_cast<std::uint64_t>(data);
    if (data_at >= static_cast<std::uint64_t>(pos) + bs) {
        // A hole up to the block that holds the first data byte.
        return { std::min(blocks, data_at / bs), SCSI_LBA_DEALLOCATED };
    }
    // Data in this block: mapped up to the block the next hole starts in, rounded up (a block
    // with any data in it is mapped). Looking from the data byte, the hole is past it.
    const off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) {
        return { blocks, SCSI_LBA_MAPPED };
    }
    const std::uint64_t end = (static_cast<std::uint64_t>(hole) + bs - 1) / bs;
    return { std::clamp(end, at + 1, blocks), SCSI_LBA_MAPPED };
}

} // namespace

std::size_t lba_status(
    int fd, std::uint64_t lba, std::uint64_t blocks, std::uint32_t block_size, ResponseBuffer& out) noexcept
{
    std::size_t n = 0;
    std::uint64_t at = lba;
    for (std::size_t lookups = 0; at < blocks && n < LBA_STATUS_MAX_DESCRIPTORS && lookups < LBA_STATUS_MAX_LOOKUPS;
         ++lookups) {
        LbaExtent e = lba_extent_at(fd, at, blocks, block_size);
        // NUMBER OF LOGICAL BLOCKS is 32 bits: a longer extent goes on in the next descriptor.
        e.end = std::min<std::uint64_t>(e.end, at + 0xffff'ffffULL);
        // Adjacent extents of one status are merged (SEEK_DATA can stop at extent boundaries).
        if (n > 0) {
            const std::size_t prev = LBA_STATUS_HEADER + (n - 1) * LBA_STATUS_DESCRIPTOR;
            const std::uint64_t prev_count = load_be(out, prev + 8, 4);
            if (out[prev + 12] == e.status && prev_count + (e.end - at) <= 0xffff'ffffULL) {
                store_be(out, prev + 8, 4, prev_count + (e.end - at));
                at = e.end;
                continue;
            }
        }
        const std::size_t d = LBA_STATUS_HEADER + n * LBA_STATUS_DESCRIPTOR;
        store_be(out, d, 8, at);
        store_be(out, d + 8, 4, e.end - at);
        out[d + 12] = e.status; // PROVISIONING STATUS
        ++n;
        at = e.end;
    }
    // PARAMETER DATA LENGTH: the bytes after itself.
    store_be(out, 0, 4, 4 + n * LBA_STATUS_DESCRIPTOR);
    return LBA_STATUS_HEADER + n * LBA_STATUS_DESCRIPTOR;
}

} // namespace vmm::virtio::scsi
