// SPDX-License-Identifier: Apache-2.0
// ByteRing: a fixed-capacity FIFO of bytes.
#include "vmm/console/byte_ring.hpp"

#include <algorithm>
#include <cstring>

namespace vmm {

std::size_t ByteRing::push(std::span<const std::byte> data)
{
    const std::size_t n = std::min(data.size(), capacity_ - size_);
    append(data.first(n));
    return n;
}

std::size_t ByteRing::push_keep_newest(std::span<const std::byte> data, std::size_t limit)
{
    limit = std::min(limit, capacity_);
    std::size_t discarded = 0;
    if (data.size() > limit) {
        // Only the tail of data can survive; everything now in the ring goes too.
        discarded = size_ + data.size() - limit;
        clear();
        append(data.last(limit));
        return discarded;
    }
    discarded = trim_oldest(limit - data.size());
    append(data);
    return discarded;
}

std::size_t ByteRing::trim_oldest(std::size_t limit) noexcept
{
    if (size_ <= limit) {
        return 0;
    }
    const std::size_t n = size_ - limit;
    consume(n);
    return n;
}

std::array<std::span<const std::byte>, 2> ByteRing::pieces() const noexcept
{
    if (size_ == 0) {
        return {};
    }
    const std::size_t first = std::min(size_, capacity_ - head_);
    return { std::span<const std::byte>(buf_.get() + head_, first),
        std::span<const std::byte>(buf_.get(), size_ - first) };
}

void ByteRing::consume(std::size_t n) noexcept
{
    n = std::min(n, size_);
    size_ -= n;
    head_ = size_ == 0 ? 0 : (head_ + n) % capacity_;
}

void ByteRing::clear() noexcept
{
    head_ = 0;
    size_ = 0;
}

void ByteRing::append(std::span<const std::byte> data) noexcept
{
    if (data.empty()) {
        return;
    }
    if (!buf_) {
        buf_ = std::make_unique_for_overwrite<std::byte[]>(capacity_);
    }
    // Invariant: size_ + data.size() <= capacity_, so at most one wrap.
    const std::size_t tail = (head_ + size_) % capacity_;
    const std::size_t first = std::min(data.size(), capacity_ - tail);
    std::memcpy(buf_.get() + tail, data.data(), first);
    std::memcpy(buf_.get(), data.data() + first, data.size() - first);
    size_ += data.size();
}

} // namespace vmm
