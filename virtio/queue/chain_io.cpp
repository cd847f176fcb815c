// SPDX-License-Identifier: Apache-2.0
// Reader and Writer over the slices of a descriptor chain.
#include "virtio/queue/chain_io.hpp"

#include <algorithm>
#include <utility>

namespace vmm::virtio {

void SliceCursor::seal() noexcept
{
    capacity_ = 0;
    for (const auto& s : slices_) {
        capacity_ += s.size();
    }
}

IovecList SliceCursor::iovecs(std::size_t max_bytes) const
{
    IovecList out;
    std::size_t left = std::min(max_bytes, remaining());
    std::size_t offset = offset_;
    for (std::size_t i = index_; i < slices_.size() && left > 0; ++i) {
        const auto& s = slices_[i];
        const std::size_t take = std::min(left, s.size() - offset);
        if (take > 0) {
            out.push_back(iovec { s.host() + offset, take });
        }
        left -= take;
        offset = 0;
    }
    return out;
}

void SliceCursor::copy_out(std::span<std::byte> out) noexcept
{
    std::size_t done = 0;
    while (done < out.size()) {
        const auto& s = slices_[index_];
        const std::size_t take = std::min(out.size() - done, s.size() - offset_);
        // Invariant: the caller checked remaining(), so the subslice exists.
        s.subslice(offset_, take)->copy_to(out.subspan(done, take));
        done += take;
        advance(take);
    }
}

void SliceCursor::copy_in(std::span<const std::byte> in) noexcept
{
    std::size_t done = 0;
    while (done < in.size()) {
        const auto& s = slices_[index_];
        const std::size_t take = std::min(in.size() - done, s.size() - offset_);
        s.subslice(offset_, take)->copy_from(in.subspan(done, take));
        done += take;
        advance(take);
    }
}

void SliceCursor::advance(std::size_t n) noexcept
{
    n = std::min(n, remaining());
    position_ += n;
    while (n > 0 || (index_ < slices_.size() && offset_ == slices_[index_].size())) {
        if (offset_ == slices_[index_].size()) {
            ++index_;
            offset_ = 0;
            continue;
        }
        const std::size_t take = std::min(n, slices_[index_].size() - offset_);
        offset_ += take;
        n -= take;
    }
}

Result<> Reader::read(std::span<std::byte> out)
{
    if (out.size() > available()) {
        return fail(Errc::out_of_range, "request needs {} more readable bytes, chain has {}", out.size(),
            available());
    }
    cursor_.copy_out(out);
    return {};
}

Result<> Reader::skip(std::size_t n)
{
    if (n > available()) {
        return fail(Errc::out_of_range, "cannot skip {} readable bytes, chain has {}", n, available());
    }
    cursor_.advance(n);
    return {};
}

Result<> Writer::write(std::span<const std::byte> in)
{
    if (in.size() > available()) {
        return fail(Errc::out_of_range, "reply needs {} writable bytes, chain has {}", in.size(), available());
    }
    cursor_.copy_in(in);
    high_water_ = std::max(high_water_, cursor_.position());
    return {};
}

Result<> Writer::skip(std::size_t n)
{
    if (n > available()) {
        return fail(Errc::out_of_range, "cannot skip {} writable bytes, chain has {}", n, available());
    }
    cursor_.advance(n);
    return {};
}

Result<> Writer::commit(std::size_t n)
{
    if (n > available()) {
        return fail(Errc::out_of_range, "cannot commit {} writable bytes, chain has {}", n, available());
    }
    cursor_.advance(n);
    high_water_ = std::max(high_water_, cursor_.position());
    return {};
}

} // namespace vmm::virtio
