// SPDX-License-Identifier: Apache-2.0
// Reader and Writer: cursors over the device-readable and device-writable parts of a chain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/container/small_vector.hpp>

#include "virtio/memory/guest_slice.hpp"
#include "vmm/base/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// The buffers of one direction of a chain, in order. Four inline entries hold the usual
// header/data/status chains without allocating.
using ChainSlices = boost::container::small_vector<GuestSlice, 4>;

// A position within a list of slices. Copies nothing by itself.
class SliceCursor {
public:
    SliceCursor() noexcept = default;

    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::size_t position() const noexcept { return position_; }
    [[nodiscard]] std::size_t remaining() const noexcept { return capacity_ - position_; }

    // The next up-to-max_bytes bytes as iovecs, without moving the cursor.
    [[nodiscard]] IovecList iovecs(std::size_t max_bytes) const;
    // Copies between the next out.size() bytes and host memory; the caller checked remaining().
    void copy_out(std::span<std::byte> out) noexcept;
    void copy_in(std::span<const std::byte> in) noexcept;
    void advance(std::size_t n) noexcept;

    // Building in place (a chain being walked): the list to append to, then seal() once it
    // is complete. Only on a fresh cursor.
    [[nodiscard]] ChainSlices& unsealed() noexcept { return slices_; }
    void seal() noexcept;

private:
    ChainSlices slices_;
    std::size_t capacity_ = 0;
    std::size_t position_ = 0;
    std::size_t index_ = 0;  // slice holding position_
    std::size_t offset_ = 0; // position_ within slices_[index_]
};

class DescriptorChain; // fills the cursors of its Reader and Writer

// The device-readable bytes of a chain. Reads are all-or-nothing: a failed read consumes
// nothing, so a device can report a short request without tracking partial state.
class Reader {
public:
    Reader() noexcept = default;

    [[nodiscard]] std::size_t available() const noexcept { return cursor_.remaining(); }
    [[nodiscard]] std::size_t bytes_read() const noexcept { return cursor_.position(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return cursor_.capacity(); }

    [[nodiscard]] Result<> read(std::span<std::byte> out);
    template <WireType T>
    [[nodiscard]] Result<T> read_obj()
    {
        T v {};
        VMM_TRY(read(std::as_writable_bytes(std::span(&v, 1))));
        return v;
    }
    [[nodiscard]] Result<> skip(std::size_t n);

    // For readv-style host I/O without copying: the next up-to-max_bytes bytes; then consume()
    // what the I/O took.
    [[nodiscard]] IovecList iovecs(std::size_t max_bytes) const { return cursor_.iovecs(max_bytes); }
    [[nodiscard]] Result<> consume(std::size_t n) { return skip(n); }

private:
    friend class DescriptorChain;
    SliceCursor cursor_;
};

// The device-writable bytes of a chain. bytes_written() is what add_used() reports as the used
// length: the end of the furthest byte written or committed (virtio 1.2 §2.7.8.2: used.len
// must not exceed what the device wrote), so skipped bytes at the tail are not counted.
class Writer {
public:
    Writer() noexcept = default;

    [[nodiscard]] std::size_t available() const noexcept { return cursor_.remaining(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return cursor_.capacity(); }
    [[nodiscard]] std::size_t bytes_written() const noexcept { return high_water_; }

    [[nodiscard]] Result<> write(std::span<const std::byte> in);
    template <WireType T>
    [[nodiscard]] Result<> write_obj(const T& v)
    {
        return write(std::as_bytes(std::span(&v, 1)));
    }
    // Moves on without writing (the guest's bytes stay as they were).
    [[nodiscard]] Result<> skip(std::size_t n);

    // For writev/readv-into-guest host I/O: the next up-to-max_bytes bytes; then commit() the
    // bytes the I/O filled, which counts them as written.
    [[nodiscard]] IovecList iovecs(std::size_t max_bytes) const { return cursor_.iovecs(max_bytes); }
    [[nodiscard]] Result<> commit(std::size_t n);

private:
    friend class DescriptorChain;
    SliceCursor cursor_;
    std::size_t high_water_ = 0;
};

} // namespace vmm::virtio
