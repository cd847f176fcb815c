// SPDX-License-Identifier: Apache-2.0
// Checks on a complete VmConfig: bounds, and the files and sockets the VM will use.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "vmm/base/unique_fd.hpp"
#include "vmm/config/config.hpp"

namespace vmm::config {

namespace fs = std::filesystem;

namespace {

// Room for the terminating NUL that bind() and connect() expect.
constexpr std::size_t MAX_SOCKET_PATH = sizeof(sockaddr_un {}.sun_path) - 1;

std::string format_size(std::uint64_t bytes)
{
    if (bytes != 0 && bytes % GiB == 0) {
        return fmt::format("{} GiB", bytes / GiB);
    }
    if (bytes != 0 && bytes % MiB == 0) {
        return fmt::format("{} MiB", bytes / MiB);
    }
    return fmt::format("{} bytes", bytes);
}

// `what` names the file for the user ("kernel"); `keys` says where it was set.
Result<> check_readable_file(const fs::path& path, std::string_view what, std::string_view keys)
{
    struct stat st { };
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return fail(Errc::not_found,
                "{} \"{}\" does not exist; check {} (relative paths in a config file resolve against "
                "the file's directory)",
                what, path.string(), keys);
        }
        return fail_errno(errno, "{} \"{}\"", what, path.string());
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(
            Errc::invalid_argument, "{} \"{}\" is not a regular file; check {}", what, path.string(), keys);
    }
    // O_NONBLOCK: should the file be swapped for a FIFO after stat, open must not hang.
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
        return fail_errno(errno, "{} \"{}\" cannot be opened for reading", what, path.string());
    }
    return {};
}

Result<> check_parent_dir(const fs::path& path, std::string_view what, std::string_view keys)
{
    const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(parent, ec)) {
        return fail(Errc::not_found, "{} \"{}\": directory \"{}\" does not exist; create it or change {}",
            what, path.string(), parent.string(), keys);
    }
    if (fs::is_directory(path, ec)) {
        return fail(Errc::invalid_argument, "{} \"{}\" is a directory; give a file name in {}", what,
            path.string(), keys);
    }
    return {};
}

Result<> check_socket_path(const fs::path& path, std::string_view what, std::string_view keys)
{
    const std::size_t length = path.native().size();
    if (length > MAX_SOCKET_PATH) {
        return fail(Errc::invalid_argument,
            "{} \"{}\" is {} bytes long, but a Unix socket path holds at most {}; use a shorter path in {}",
            what, path.string(), length, MAX_SOCKET_PATH, keys);
    }
    return check_parent_dir(path, what, keys);
}

Result<> check_machine(const VmConfig& cfg)
{
    if (cfg.cpus < 1 || cfg.cpus > MAX_CPUS) {
        return fail(Errc::out_of_range, "cpus: {} is out of range; use 1 to {} (vm.cpus or --cpus)", cfg.cpus,
            MAX_CPUS);
    }
    if (cfg.memory < MIN_MEMORY) {
        return fail(Errc::out_of_range,
            "memory: {} is too small; a Linux guest needs at least {} (vm.memory or --memory)",
            format_size(cfg.memory), format_size(MIN_MEMORY));
    }
    if (cfg.memory > MAX_MEMORY) {
        return fail(Errc::out_of_range, "memory: {} is more than the maximum of {} (vm.memory or --memory)",
            format_size(cfg.memory), format_size(MAX_MEMORY));
    }
    if (cfg.hugepages && cfg.memory % HUGEPAGE_SIZE != 0) {
        // Invariant: memory <= MAX_MEMORY, so rounding up cannot overflow.
        const std::uint64_t rounded = (cfg.memory / HUGEPAGE_SIZE + 1) * HUGEPAGE_SIZE;
        return fail(Errc::invalid_argument,
            "memory: {} is not a multiple of 2 MiB, which vm.hugepages requires; use {} instead",
            format_size(cfg.memory), format_size(rounded));
    }
    return {};
}

} // namespace

Result<> validate(const VmConfig& cfg, const DeviceValidator& device_validator)
{
    VMM_TRY(check_machine(cfg));
    if (cfg.kernel.empty()) {
        return fail(
            Errc::invalid_argument, "no kernel given; set boot.kernel in the config file or pass --kernel");
    }
    VMM_TRY(check_readable_file(cfg.kernel, "kernel", "boot.kernel or --kernel"));
    if (cfg.initrd) {
        VMM_TRY(check_readable_file(*cfg.initrd, "initrd", "boot.initrd or --initrd"));
    }
    if (cfg.console.mode == ConsoleMode::file) {
        VMM_TRY(check_parent_dir(cfg.console.path, "console file", "console.path or --console"));
    }
    if (cfg.console.mode == ConsoleMode::socket) {
        VMM_TRY(check_socket_path(cfg.console.path, "console socket", "console.path or --console"));
    }
    if (cfg.api_socket) {
        VMM_TRY(check_socket_path(*cfg.api_socket, "API socket", "api_socket or --api-socket"));
    }
    if (device_validator) {
        for (const DeviceConfig& dev : cfg.devices) {
            auto checked = device_validator(dev);
            if (!checked) {
                return fail(Error { checked.error().code,
                    fmt::format("{} (type \"{}\"): {}", dev.origin, dev.type, checked.error().describe()) });
            }
        }
    }
    return {};
}

} // namespace vmm::config
