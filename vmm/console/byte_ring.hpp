// SPDX-License-Identifier: Apache-2.0
// ByteRing: a fixed-capacity FIFO of bytes, for console output waiting on a slow consumer.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>

namespace vmm {

// Not thread-safe: its owner locks. The storage is allocated on first use, so a console whose
// consumer keeps up never pays for it.
class ByteRing {
public:
    explicit ByteRing(std::size_t capacity) noexcept
        : capacity_(capacity)
    {
    }

    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

    // Appends what fits; returns how many bytes were taken (the rest is the caller's to drop).
    std::size_t push(std::span<const std::byte> data);
    // Appends all of data, then discards the oldest bytes until at most `limit` remain (a
    // backlog of the latest output). Returns how many bytes were discarded, old or new.
    std::size_t push_keep_newest(std::span<const std::byte> data, std::size_t limit);
    // Discards the oldest bytes until at most `limit` remain; returns how many.
    std::size_t trim_oldest(std::size_t limit) noexcept;

    // The contents in order, as at most two contiguous pieces (the second may be empty).
    [[nodiscard]] std::array<std::span<const std::byte>, 2> pieces() const noexcept;
    void consume(std::size_t n) noexcept;
    void clear() noexcept;

private:
    void append(std::span<const std::byte> data) noexcept; // Invariant: data fits

    std::size_t capacity_;
    std::unique_ptr<std::byte[]> buf_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

} // namespace vmm
