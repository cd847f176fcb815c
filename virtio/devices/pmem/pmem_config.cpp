// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/pmem/pmem_config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "virtio/devices/block/io_uring_backend.hpp"
#include "virtio/devices/params.hpp"
#include "virtio/devices/pmem/pmem_device.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm::virtio::pmem {
namespace {

constexpr std::array<std::string_view, 4> KEYS { "path", "size", "readonly", "faults" };

// The nearest valid size at or above `bytes`, as truncate(1) and the config write it: "4M".
std::string suggested_size(std::uint64_t bytes)
{
    const std::uint64_t a = PmemDevice::ALIGN;
    const std::uint64_t up = std::min(std::max((bytes + a - 1) / a * a, a), PMEM_MAX_SIZE);
    return fmt::format("{}M", up >> 20);
}

Result<std::uint64_t> parse_pmem_size(const nlohmann::json& v)
{
    const std::uint64_t bytes = VMM_TRY(params::as_size(v, "size", UINT64_MAX));
    if (bytes == 0 || bytes > PMEM_MAX_SIZE || bytes % PmemDevice::ALIGN != 0) {
        return fail(Errc::invalid_argument,
            "\"size\": {} bytes is not a multiple of 2 MiB between 2 MiB and 1 TiB (Linux maps the range in 2 MiB "
            "pieces); e.g. \"size\": \"{}\"",
            bytes, suggested_size(bytes));
    }
    return bytes;
}

// The file's current size, or nullopt when it does not exist.
Result<std::optional<std::uint64_t>> existing_size(const std::filesystem::path& path)
{
    struct stat st { };
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return std::optional<std::uint64_t> {};
        }
        return fail_errno(errno, "\"path\": \"{}\"", path.string());
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(Errc::invalid_argument,
            "\"path\": \"{}\" is not a regular file (virtio-pmem maps a file into the guest)", path.string());
    }
    return std::optional<std::uint64_t> { static_cast<std::uint64_t>(st.st_size) };
}

// What the file's size must be once `size` is applied: an error for every way it cannot be.
Result<std::uint64_t> final_size(const PmemConfig& c, std::optional<std::uint64_t> current)
{
    if (!current && !c.size) {
        return fail(Errc::not_found,
            "\"path\": \"{}\" does not exist; create it (e.g. truncate -s 1G {}), or give \"size\" to have it created",
            c.path.string(), c.path.string());
    }
    if (c.size && current && *current > *c.size) {
        return fail(Errc::invalid_argument,
            "\"path\": \"{}\" is {} bytes, larger than \"size\" {} bytes; virtio-pmem only grows a file (drop "
            "\"size\" to use the whole file)",
            c.path.string(), *current, *c.size);
    }
    if (c.size && c.read_only && (!current || *current != *c.size)) {
        return fail(Errc::invalid_argument,
            "\"path\": \"{}\": \"size\" would create or grow the file, and the device is read-only; create the file "
            "first or drop \"readonly\"",
            c.path.string());
    }
    const std::uint64_t size = c.size ? *c.size : *current;
    if (size == 0 || size % PmemDevice::ALIGN != 0 || size > PMEM_MAX_SIZE) {
        return fail(Errc::invalid_argument,
            "\"path\": \"{}\" is {} bytes, not a multiple of 2 MiB between 2 MiB and 1 TiB (Linux maps the range in "
            "2 MiB pieces); grow it (truncate -s {} {}) or give \"size\"",
            c.path.string(), size, suggested_size(size), c.path.string());
    }
    return size;
}

} // namespace

Result<std::vector<block::BlockFault>> parse_pmem_faults(const nlohmann::json& v, std::string_view where)
{
    auto rules = VMM_TRY(block::parse_block_faults(v, where));
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const auto& r = rules[i];
        const bool sectors = v[i].contains("first_sector") || v[i].contains("last_sector");
        if ((r.op != block::BlockFault::Op::any && r.op != block::BlockFault::Op::flush) || sectors) {
            return fail(Errc::invalid_argument,
                "{}[{}]: a pmem device only has flushes to fail or delay: \"op\" is \"flush\" or \"any\", and "
                "there are no sectors",
                where, i);
        }
    }
    return rules;
}

std::span<const std::string_view> pmem_config_keys() noexcept
{
    return KEYS;
}

Result<PmemConfig> parse_pmem_config(const config::DeviceConfig& entry)
{
    const nlohmann::json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", KEYS));
    PmemConfig c;
    const auto* path = params::find(p, "path");
    if (path == nullptr) {
        return fail(Errc::invalid_argument, "\"path\": required (the file to map, e.g. path=pmem.img)");
    }
    c.path = VMM_TRY(params::as_path(*path, "path", entry.base_dir));
    if (const auto* size = params::find(p, "size")) {
        c.size = VMM_TRY(parse_pmem_size(*size));
    }
    if (const auto* ro = params::find(p, "readonly")) {
        c.read_only = VMM_TRY(params::as_bool(*ro, "readonly"));
    }
    if (const auto* f = params::find(p, "faults")) {
        c.faults = VMM_TRY(parse_pmem_faults(*f, "faults"));
    }
    return c;
}

Result<> validate_pmem(const config::DeviceConfig& entry)
{
    const PmemConfig c = VMM_TRY(parse_pmem_config(entry));
    const auto current = VMM_TRY(existing_size(c.path));
    static_cast<void>(VMM_TRY(final_size(c, current)));
    return {};
}

Result<std::unique_ptr<Device>> make_pmem(const config::DeviceConfig& entry, DeviceResources& resources)
{
    const PmemConfig c = VMM_TRY(parse_pmem_config(entry));
    const auto current = VMM_TRY(existing_size(c.path));
    const std::uint64_t size = VMM_TRY(final_size(c, current));
    if (!current) {
        // O_EXCL: a file that appeared since the check above is not someone else's to take.
        UniqueFd created(::open(c.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (!created) {
            return fail_errno(errno, "\"path\": cannot create \"{}\"", c.path.string());
        }
    }
    block::IoUringOptions io;
    io.read_only = c.read_only;
    io.loop = resources.loop;
    io.entries = PmemDevice::QUEUE_SIZE;
    io.what = "pmem file";
    auto backend = block::IoUringBackend::open(c.path, io);
    if (!backend) {
        return fail(std::move(backend).error());
    }
    // Grown only now, under the backend's lock: another VM's file is never touched.
    if ((*backend)->size() != size) {
        static_cast<void>(VMM_TRY((*backend)->resize(size)));
    }
    auto mapping = PmemMapping::map((*backend)->fd(), size, c.read_only);
    if (!mapping) {
        return fail(Errc::io_error, "\"path\": \"{}\": {}", c.path.string(), mapping.error().describe());
    }
    auto faulty = std::make_unique<block::FaultBackend>(std::move(backend).value(), resources.loop);
    VMM_TRY(faulty->set_faults(c.faults));
    return std::unique_ptr<Device>(
        std::make_unique<PmemDevice>(std::move(faulty), std::move(mapping).value(), c.read_only));
}

} // namespace vmm::virtio::pmem
