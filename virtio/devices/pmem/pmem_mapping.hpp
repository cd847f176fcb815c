// SPDX-License-Identifier: Apache-2.0
// PmemMapping: a host file mapped MAP_SHARED, the memory behind a virtio-pmem range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "vmm/base/result.hpp"

namespace vmm::virtio::pmem {

class PmemMapping {
public:
    PmemMapping() noexcept = default;
    // Maps `size` bytes of `fd` from offset 0, shared: the guest's stores land in the file's
    // page cache, and an fdatasync of the file makes them durable.
    [[nodiscard]] static Result<PmemMapping> map(int fd, std::uint64_t size, bool read_only);
    // Anonymous memory of `size` bytes (unit tests and fuzzing: no file behind it).
    [[nodiscard]] static Result<PmemMapping> anonymous(std::uint64_t size);

    PmemMapping(PmemMapping&& o) noexcept
        : base_(std::exchange(o.base_, nullptr))
        , size_(std::exchange(o.size_, 0))
    {
    }
    PmemMapping& operator=(PmemMapping&& o) noexcept
    {
        if (this != &o) {
            release();
            base_ = std::exchange(o.base_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    PmemMapping(const PmemMapping&) = delete;
    PmemMapping& operator=(const PmemMapping&) = delete;
    ~PmemMapping() { release(); }

    [[nodiscard]] std::byte* data() const noexcept { return base_; }
    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

private:
    PmemMapping(std::byte* base, std::uint64_t size) noexcept : base_(base), size_(size) {}
    void release() noexcept;

    std::byte* base_ = nullptr;
    std::uint64_t size_ = 0;
};

} // namespace vmm::virtio::pmem
