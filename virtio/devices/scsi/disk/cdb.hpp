// SPDX-License-Identifier: Apache-2.0
// CDB decoding: lengths, big-endian fields, block ranges; and sizing of the data buffers.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "virtio/memory/guest_slice.hpp"

namespace vmm::virtio::scsi {

// SPC-4 "Operation code": the group code (bits 7..5 of the operation code) gives the CDB length; 0 for
// the groups this logical unit has no command in (3: variable length or reserved, 6 and 7:
// vendor specific).
[[nodiscard]] constexpr std::size_t cdb_length(std::uint8_t opcode) noexcept
{
    constexpr std::array<std::size_t, 8> by_group { 6, 10, 10, 0, 16, 12, 0, 0 };
    return by_group[opcode >> 5];
}

// SCSI fields are big-endian (SPC-4 "Bit and byte ordering"). The caller has checked that [at, at+n) is inside
// the span; n is 1..8.
[[nodiscard]] std::uint64_t load_be(std::span<const std::uint8_t> b, std::size_t at, std::size_t n) noexcept;
void store_be(std::span<std::uint8_t> b, std::size_t at, std::size_t n, std::uint64_t v) noexcept;

// The LBA and length fields of READ, WRITE, VERIFY, WRITE AND VERIFY, WRITE SAME and
// SYNCHRONIZE CACHE, which sit at the same place for each CDB length (SBC-3 clause 5).
struct BlockRange {
    std::uint64_t lba = 0;
    std::uint32_t blocks = 0;
    std::uint16_t length_byte = 0; // where the length field starts, for field pointers
};
// `cdb` holds at least cdb_length(cdb[0]) bytes. A 6-byte CDB has a 21-bit LBA and an 8-bit
// length, returned as is (READ(6)/WRITE(6) turn 0 into 256 themselves).
[[nodiscard]] BlockRange decode_block_range(std::span<const std::uint8_t> cdb) noexcept;

// The bytes an iovec list holds, saturating at SIZE_MAX (guest lengths may add up to anything).
[[nodiscard]] std::size_t iovecs_bytes(std::span<const iovec> iov) noexcept;
// The first `bytes` bytes of an iovec list (which holds at least that many), without
// zero-length entries, for handing to the backend.
[[nodiscard]] IovecList iovecs_prefix(std::span<const iovec> iov, std::size_t bytes) noexcept;

} // namespace vmm::virtio::scsi
