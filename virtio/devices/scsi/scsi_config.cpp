// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/scsi/scsi_config.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <bit>
#include <cerrno>

#include "virtio/devices/block/io_uring_backend.hpp"
#include "virtio/devices/params.hpp"
#include "virtio/devices/scsi/disk/report_luns.hpp"

namespace vmm::virtio::scsi {
namespace {

constexpr std::array<std::string_view, 10> KEYS { "path", "readonly", "serial", "discard", "luns", "num_queues",
    "queue_size", "max_target", "max_lun", "coalesce" };
constexpr std::array<std::string_view, 7> LUN_KEYS { "path", "target", "lun", "readonly", "serial", "discard",
    "block_size" };
constexpr std::size_t MAX_LUNS = 256;

Result<> check_image(const std::filesystem::path& path, std::string_view where)
{
    struct stat st { };
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return fail(Errc::not_found,
                "{}: \"{}\" does not exist; create the image (e.g. truncate -s 1G {}) or fix the path", where,
                path.string(), path.string());
        }
        return fail_errno(errno, "{}: \"{}\"", where, path.string());
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        return fail(Errc::invalid_argument, "{}: \"{}\" is neither a regular file nor a block device", where,
            path.string());
    }
    return {};
}

} // namespace

std::span<const std::string_view> scsi_config_keys() noexcept
{
    return KEYS;
}

std::span<const std::string_view> scsi_lun_keys() noexcept
{
    return LUN_KEYS;
}

Result<LunConfig> parse_lun(const nlohmann::json& v, std::string_view where, const std::filesystem::path& base_dir)
{
    LunConfig l;
    const auto* path = params::find(v, "path");
    if (path == nullptr) {
        return fail(Errc::invalid_argument, "{}: required (the image of the unit)", params::join(where, "path"));
    }
    l.path = VMM_TRY(params::as_path(*path, params::join(where, "path"), base_dir));
    if (const auto* t = params::find(v, "target")) {
        l.at.target = static_cast<std::uint16_t>(
            VMM_TRY(params::as_uint(*t, params::join(where, "target"), 0, ControllerOptions::MAX_TARGET)));
    }
    if (const auto* n = params::find(v, "lun")) {
        l.at.lun = static_cast<std::uint16_t>(
            VMM_TRY(params::as_uint(*n, params::join(where, "lun"), 0, SCSI_MAX_FLAT_LUN)));
    }
    if (const auto* ro = params::find(v, "readonly")) {
        l.disk.read_only = VMM_TRY(params::as_bool(*ro, params::join(where, "readonly")));
    }
    if (const auto* s = params::find(v, "serial")) {
        if (!s->is_string()) {
            return fail(Errc::invalid_argument, "{}: expected a string", params::join(where, "serial"));
        }
        l.disk.serial = s->get<std::string>();
    }
    if (const auto* d = params::find(v, "discard")) {
        l.disk.thin = VMM_TRY(params::as_bool(*d, params::join(where, "discard")));
    }
    if (const auto* b = params::find(v, "block_size")) {
        const std::uint64_t bs = VMM_TRY(params::as_uint(*b, params::join(where, "block_size"), 512, 4096));
        if (!std::has_single_bit(bs)) {
            return fail(Errc::invalid_argument, "{}: {} is not a power of two (512, 1024, 2048 or 4096)",
                params::join(where, "block_size"), bs);
        }
        l.disk.block_size = static_cast<std::uint32_t>(bs);
    }
    if (auto ok = check_options(l.disk); !ok) {
        return fail(Errc::invalid_argument, "{}: {}", where.empty() ? std::string_view("unit") : where,
            ok.error().describe());
    }
    return l;
}

Result<ScsiConfig> parse_scsi_config(const config::DeviceConfig& entry)
{
    const nlohmann::json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", KEYS));
    ScsiConfig c;
    auto& o = c.controller;
    if (const auto* n = params::find(p, "num_queues")) {
        o.num_queues = static_cast<std::uint16_t>(VMM_TRY(params::as_uint(*n, "num_queues", 1, ControllerOptions::MAX_QUEUES)));
    }
    if (const auto* n = params::find(p, "queue_size")) {
        const std::uint64_t qs = VMM_TRY(params::as_uint(*n, "queue_size", 4, ControllerOptions::MAX_QUEUE_SIZE));
        if (!std::has_single_bit(qs)) {
            return fail(Errc::invalid_argument, "queue_size: {} is not a power of two", qs);
        }
        o.queue_size = static_cast<std::uint16_t>(qs);
    }
    if (const auto* b = params::find(p, "coalesce")) {
        o.coalesce = VMM_TRY(params::as_bool(*b, "coalesce"));
    }
    const bool single = params::find(p, "path") != nullptr;
    const auto* luns = params::find(p, "luns");
    if (single == (luns != nullptr)) {
        return fail(Errc::invalid_argument,
            "give either \"path\" (one unit, target 0 LUN 0) or \"luns\" (each with \"path\", \"target\", \"lun\")");
    }
    if (single) {
        c.luns.push_back(VMM_TRY(parse_lun(p, "", entry.base_dir)));
    } else {
        for (const std::string_view k : { "readonly", "serial", "discard" }) {
            if (params::find(p, k) != nullptr) {
                return fail(Errc::invalid_argument, "\"{}\" goes into each of \"luns\", not beside it", k);
            }
        }
        const auto elements = VMM_TRY(params::object_array(*luns, "luns", MAX_LUNS, LUN_KEYS));
        for (const auto& e : elements) {
            c.luns.push_back(VMM_TRY(parse_lun(*e.object, e.where, entry.base_dir)));
        }
    }
    std::uint16_t top_target = 0;
    std::uint16_t top_lun = 0;
    for (std::size_t i = 0; i < c.luns.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (c.luns[i].at == c.luns[j].at) {
                return fail(Errc::invalid_argument, "luns[{}] and luns[{}] are both target {} LUN {}", j, i,
                    c.luns[i].at.target, c.luns[i].at.lun);
            }
        }
        top_target = std::max(top_target, c.luns[i].at.target);
        top_lun = std::max(top_lun, c.luns[i].at.lun);
    }
    o.max_target = std::max(o.max_target, top_target);
    if (const auto* n = params::find(p, "max_target")) {
        o.max_target = static_cast<std::uint16_t>(
            VMM_TRY(params::as_uint(*n, "max_target", top_target, ControllerOptions::MAX_TARGET)));
    }
    o.max_lun = std::max(o.max_lun, top_lun);
    if (const auto* n = params::find(p, "max_lun")) {
        o.max_lun = static_cast<std::uint16_t>(VMM_TRY(params::as_uint(*n, "max_lun", top_lun, SCSI_MAX_FLAT_LUN)));
    }
    return c;
}

Result<> validate_scsi(const config::DeviceConfig& entry)
{
    const ScsiConfig c = VMM_TRY(parse_scsi_config(entry));
    for (std::size_t i = 0; i < c.luns.size(); ++i) {
        VMM_TRY(check_image(c.luns[i].path, c.luns.size() == 1 ? std::string("\"path\"") : fmt::format("luns[{}].path", i)));
    }
    return {};
}

Result<std::unique_ptr<ScsiDisk>> open_lun(const LunConfig& lun, EventLoop* loop)
{
    block::IoUringOptions io;
    io.read_only = lun.disk.read_only;
    io.loop = loop;
    io.entries = 256;
    io.what = "scsi image";
    auto backend = block::IoUringBackend::open(lun.path, io);
    if (!backend) {
        return fail(std::move(backend).error());
    }
    auto disk = VMM_TRY(ScsiDisk::create(std::move(backend).value(), lun.disk));
    // GET LBA STATUS looks for holes through a descriptor of its own.
    if (UniqueFd fd(::open(lun.path.c_str(), O_RDONLY | O_CLOEXEC)); fd) {
        disk->set_allocation_fd(std::move(fd));
    }
    return disk;
}

Result<std::unique_ptr<Device>> make_scsi(const config::DeviceConfig& entry, DeviceResources& resources)
{
    const ScsiConfig c = VMM_TRY(parse_scsi_config(entry));
    std::map<LunAddress, std::unique_ptr<ScsiDisk>> luns;
    for (const auto& l : c.luns) {
        luns.emplace(l.at, VMM_TRY(open_lun(l, resources.loop)));
    }
    return std::unique_ptr<Device>(std::make_unique<ScsiController>(std::move(luns), c.controller));
}

} // namespace vmm::virtio::scsi
