// SPDX-License-Identifier: Apache-2.0
// CDB field decoding and iovec sizing.
#include "virtio/devices/scsi/disk/cdb.hpp"

#include <algorithm>
#include <cassert>

namespace vmm::virtio::scsi {

std::uint64_t load_be(std::span<const std::uint8_t> b, std::size_t at, std::size_t n) noexcept
{
    assert(n >= 1 && n <= 8 && at <= b.size() && n <= b.size() - at);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        v = (v << 8) | b[at + i];
    }
    return v;
}

void store_be(std::span<std::uint8_t> b, std::size_t at, std::size_t n, std::uint64_t v) noexcept
{
    assert(n >= 1 && n <= 8 && at <= b.size() && n <= b.size() - at);
    for (std::size_t i = n; i > 0; --i) {
        b[at + i - 1] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
}

BlockRange decode_block_range(std::span<const std::uint8_t> cdb) noexcept
{
    switch (cdb_length(cdb[0])) {
    case 6:
        // SBC-3 READ (6): LBA in the low 5 bits of byte 1 and bytes 2..3, length in byte 4.
        return { load_be(cdb, 1, 3) & 0x1f'ffff, cdb[4], 4 };
    case 10:
        return { load_be(cdb, 2, 4), static_cast<std::uint32_t>(load_be(cdb, 7, 2)), 7 };
    case 12:
        return { load_be(cdb, 2, 4), static_cast<std::uint32_t>(load_be(cdb, 6, 4)), 6 };
    case 16:
        return { load_be(cdb, 2, 8), static_cast<std::uint32_t>(load_be(cdb, 10, 4)), 10 };
    default:
        return {};
    }
}

std::size_t iovecs_bytes(std::span<const iovec> iov) noexcept
{
    std::size_t total = 0;
    for (const iovec& v : iov) {
        if (v.iov_len > SIZE_MAX - total) {
            return SIZE_MAX;
        }
        total += v.iov_len;
    }
    return total;
}

IovecList iovecs_prefix(std::span<const iovec> iov, std::size_t bytes) noexcept
{
    IovecList out;
    for (const iovec& v : iov) {
        if (bytes == 0) {
            break;
        }
        const std::size_t n = std::min(v.iov_len, bytes);
        if (n != 0) {
            out.push_back(iovec { v.iov_base, n });
            bytes -= n;
        }
    }
    return out;
}

} // namespace vmm::virtio::scsi
