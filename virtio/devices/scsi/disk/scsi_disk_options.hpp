// SPDX-License-Identifier: Apache-2.0
// ScsiDiskOptions: what a SCSI disk logical unit reports and allows, and their bounds.
#pragma once

#include <cstdint>
#include <string>

#include "vmm/base/result.hpp"

namespace vmm::virtio::scsi {

struct ScsiDiskOptions {
    static constexpr std::uint32_t MIN_BLOCK_SIZE = 512;
    static constexpr std::uint32_t MAX_BLOCK_SIZE = 64 * 1024;
    // One READ or WRITE moves at most this much (it must fit the 32-bit lengths of io_uring
    // and of virtio-scsi's residual).
    static constexpr std::uint64_t MAX_TRANSFER_BYTES = 1ULL << 30;
    static constexpr std::uint64_t DEFAULT_TRANSFER_BYTES = 8ULL << 20;
    // UNMAP parameter lists are at most 65535 bytes (16-bit length), 8 of them header.
    static constexpr std::uint32_t MAX_UNMAP_DESCRIPTORS = 4095;
    static constexpr std::size_t MAX_SERIAL = 36;

    bool read_only = false; // also when the backend is read-only
    std::string serial;     // VPD 0x80 and the NAA designator; printable ASCII, at most MAX_SERIAL
    std::string vendor = "VIREO";       // at most 8 printable ASCII characters (SPC-4 §6.6.2)
    std::string product = "VIREO DISK"; // at most 16
    std::string revision = "0001";      // at most 4
    std::uint32_t block_size = 512;     // logical block: a power of two, MIN..MAX_BLOCK_SIZE
    bool write_cache = true;            // WCE of the caching mode page at power on (SBC-3)
    // A READ/WRITE/VERIFY of more blocks is refused (SBC-3 block limits VPD page); 0: as many
    // as DEFAULT_TRANSFER_BYTES hold.
    std::uint32_t max_transfer_blocks = 0;
    // Thin provisioning (SBC-3 logical block provisioning): UNMAP and WRITE SAME with UNMAP deallocate, LBPME and
    // LBPRZ are reported, GET LBA STATUS sees holes in the image.
    bool thin = false;
    std::uint32_t max_unmap_blocks = 0x3f'ffff;  // per UNMAP command, all descriptors together
    std::uint32_t max_unmap_descriptors = 256;   // 1..MAX_UNMAP_DESCRIPTORS
    std::uint32_t max_write_same_blocks = 0x3f'ffff;
    // Report POWER ON OCCURRED as a unit attention on the first command, as a real disk does.
    bool power_on_attention = true;
};

// Whether the options are within the bounds the comments give.
[[nodiscard]] Result<> check_options(const ScsiDiskOptions& options);

} // namespace vmm::virtio::scsi
