// SPDX-License-Identifier: Apache-2.0
// Copies between a byte span and the byte sequence an iovec list describes (guest buffers
// resolved into host iovecs), at an offset into that sequence.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace vmm::virtio {

namespace detail {

// Walks the bytes of `iov` from `offset`, handing each piece and how far into `bytes` it goes
// to `move(piece, at, n)`, until `bytes` bytes or the iovecs run out; returns how many moved.
template <class Move>
std::size_t walk_iovecs(std::span<const iovec> iov, std::size_t offset, std::size_t bytes, Move move) noexcept
{
    std::size_t at = 0;
    std::size_t done = 0;
    for (const iovec& v : iov) {
        if (done == bytes) {
            break;
        }
        const std::size_t end = at + v.iov_len;
        if (end > offset + done) {
            const std::size_t skip = offset + done - at;
            const std::size_t n = std::min(v.iov_len - skip, bytes - done);
            if (n != 0) {
                move(static_cast<std::uint8_t*>(v.iov_base) + skip, done, n);
            }
            done += n;
        }
        at = end;
    }
    return done;
}

} // namespace detail

// Copies the bytes at `offset` of the sequence `iov` describes into `out`; returns how many.
inline std::size_t copy_from_iovecs(std::span<const iovec> iov, std::size_t offset, std::span<std::uint8_t> out) noexcept
{
    return detail::walk_iovecs(iov, offset, out.size(),
        [&](const std::uint8_t* piece, std::size_t at, std::size_t n) { std::memcpy(out.data() + at, piece, n); });
}

// Copies `in` to the bytes at `offset` of the sequence `iov` describes; returns how many fit.
inline std::size_t copy_to_iovecs(std::span<const iovec> iov, std::size_t offset, std::span<const std::uint8_t> in) noexcept
{
    return detail::walk_iovecs(iov, offset, in.size(),
        [&](std::uint8_t* piece, std::size_t at, std::size_t n) { std::memcpy(piece, in.data() + at, n); });
}

} // namespace vmm::virtio
