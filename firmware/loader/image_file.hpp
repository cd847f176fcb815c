// SPDX-License-Identifier: Apache-2.0
// A kernel or initrd file opened for bounded, offset-checked reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "vmm/base/result.hpp"
#include "vmm/base/unique_fd.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::loader {

// Larger files are refused rather than read: no guest kernel or initrd needs more.
inline constexpr std::uint64_t MAX_IMAGE_SIZE = 512ULL << 20;

class ImageFile {
public:
    // Opens a regular file of at most max_size bytes. Errors name the file.
    [[nodiscard]] static Result<ImageFile> open(const std::filesystem::path& path, std::uint64_t max_size = MAX_IMAGE_SIZE);

    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    // The file name in quotes, for error messages.
    [[nodiscard]] std::string name() const;

    // True when [offset, offset + len) lies inside the file (overflow-safe).
    [[nodiscard]] bool covers(std::uint64_t offset, std::uint64_t len) const noexcept
    {
        return offset <= size_ && len <= size_ - offset;
    }
    // Reads exactly out.size() bytes at offset; fails if the range is not inside the file.
    [[nodiscard]] Result<> read_at(std::uint64_t offset, std::span<std::byte> out) const;
    template <WireType T>
    [[nodiscard]] Result<T> read_obj(std::uint64_t offset) const
    {
        T v {};
        VMM_TRY(read_at(offset, std::as_writable_bytes(std::span(&v, 1))));
        return v;
    }
    // Copies [offset, offset + len) of the file straight into guest memory at gpa, which must
    // lie in one RAM region.
    [[nodiscard]] Result<> read_into(const GuestMemory& mem, GuestAddress gpa, std::uint64_t offset, std::uint64_t len) const;

private:
    ImageFile(UniqueFd fd, std::uint64_t size, std::filesystem::path path) noexcept
        : fd_(std::move(fd)), size_(size), path_(std::move(path))
    {
    }

    UniqueFd fd_;
    std::uint64_t size_ = 0;
    std::filesystem::path path_;
};

} // namespace vmm::loader
