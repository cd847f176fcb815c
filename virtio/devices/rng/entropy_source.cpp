// SPDX-License-Identifier: Apache-2.0
// Entropy sources: getrandom(2) and readv(2) from a file or device.
#include "virtio/devices/rng/entropy_source.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "vmm/base/unique_fd.hpp"

namespace vmm::virtio {
namespace {

class GetrandomSource final : public EntropySource {
public:
    [[nodiscard]] Result<std::size_t> read(std::span<const iovec> into) noexcept override
    {
        std::size_t total = 0;
        for (const iovec& v : into) {
            std::size_t done = 0;
            while (done < v.iov_len) {
                // Safety: iov_base points to iov_len bytes of guest RAM (the Writer's iovecs).
                const ssize_t n = ::getrandom(
                    static_cast<std::byte*>(v.iov_base) + done, v.iov_len - done, GRND_NONBLOCK);
                if (n > 0) {
                    done += static_cast<std::size_t>(n);
                    continue;
                }
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (total + done > 0) {
                    return total + done; // what is there already counts
                }
                if (n < 0 && errno == EAGAIN) {
                    return fail(Errc::busy, "getrandom: the host's entropy pool is not initialised yet");
                }
                return fail_errno(n < 0 ? errno : EIO, "getrandom");
            }
            total += done;
        }
        return total;
    }

    [[nodiscard]] std::string describe() const override { return "getrandom"; }
};

class FileSource final : public EntropySource {
public:
    FileSource(UniqueFd fd, std::filesystem::path path)
        : fd_(std::move(fd))
        , path_(std::move(path))
    {
    }

    [[nodiscard]] Result<std::size_t> read(std::span<const iovec> into) noexcept override
    {
        const auto count = static_cast<int>(std::min<std::size_t>(into.size(), IOV_MAX));
        for (;;) {
            const ssize_t n = ::readv(fd_.get(), into.data(), count);
            if (n >= 0) {
                return static_cast<std::size_t>(n);
            }
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return fail(Errc::busy, "entropy source {} has nothing to read yet", path_.native());
            }
            return fail_errno(errno, "entropy source {}", path_.native());
        }
    }

    [[nodiscard]] std::string describe() const override { return path_.native(); }

private:
    UniqueFd fd_;
    std::filesystem::path path_;
};

} // namespace

std::unique_ptr<EntropySource> make_getrandom_source()
{
    return std::make_unique<GetrandomSource>();
}

Result<std::unique_ptr<EntropySource>> open_file_source(const std::filesystem::path& path)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) {
        return fail_errno(errno, "cannot open entropy source \"{}\"", path.native());
    }
    struct stat st { };
    if (::fstat(fd.get(), &st) != 0) {
        return fail_errno(errno, "entropy source \"{}\"", path.native());
    }
    if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        return fail(Errc::invalid_argument,
            "entropy source \"{}\" is not a regular file, character device or FIFO", path.native());
    }
    return std::unique_ptr<EntropySource>(std::make_unique<FileSource>(std::move(fd), path));
}

} // namespace vmm::virtio
