// SPDX-License-Identifier: Apache-2.0
// ImageFile: open with a size cap, then pread exact ranges into host buffers or guest RAM.
#include "firmware/loader/image_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace vmm::loader {
namespace {

// pread until len bytes arrived; a file that shrank under us is an error, not a short read.
Result<> pread_exact(int fd, std::byte* out, std::uint64_t len, std::uint64_t offset, const std::string& name)
{
    while (len > 0) {
        // Invariant: offset + len <= the file size checked by the caller, itself <= MAX_IMAGE_SIZE
        // or another value below off_t's range, so the casts cannot wrap.
        const ssize_t n = ::pread(fd, out, static_cast<std::size_t>(len), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail_errno(errno, "reading {} at offset {:#x}", name, offset);
        }
        if (n == 0) {
            return fail(Errc::io_error, "reading {} at offset {:#x}: the file ended early (was it changed while loading?)",
                name, offset);
        }
        const auto got = static_cast<std::uint64_t>(n);
        out += got;
        len -= got;
        offset += got;
    }
    return {};
}

} // namespace

Result<ImageFile> ImageFile::open(const std::filesystem::path& path, std::uint64_t max_size)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return fail_errno(errno, "cannot open '{}'", path.string());
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return fail_errno(errno, "cannot stat '{}'", path.string());
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(Errc::invalid_argument, "'{}' is not a regular file", path.string());
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > max_size) {
        return fail(Errc::out_of_range, "'{}' is {} bytes; the limit is {} MiB", path.string(), size, max_size >> 20);
    }
    return ImageFile(std::move(fd), size, path);
}

std::string ImageFile::name() const
{
    return "'" + path_.string() + "'";
}

Result<> ImageFile::read_at(std::uint64_t offset, std::span<std::byte> out) const
{
    if (!covers(offset, out.size())) {
        return fail(Errc::bad_format, "{} is truncated: {} bytes needed at offset {:#x}, the file has {}", name(),
            out.size(), offset, size_);
    }
    return pread_exact(fd_.get(), out.data(), out.size(), offset, name());
}

Result<> ImageFile::read_into(const GuestMemory& mem, GuestAddress gpa, std::uint64_t offset, std::uint64_t len) const
{
    if (!covers(offset, len)) {
        return fail(Errc::bad_format, "{} is truncated: {} bytes needed at offset {:#x}, the file has {}", name(), len,
            offset, size_);
    }
    std::byte* host = mem.host_ptr(gpa, len);
    if (host == nullptr) {
        return fail(Errc::out_of_range, "{}: {} bytes at guest address {:#x} are not in guest RAM", name(), len, gpa.raw);
    }
    return pread_exact(fd_.get(), host, len, offset, name());
}

} // namespace vmm::loader
