// SPDX-License-Identifier: Apache-2.0
// Block config keys: parsing with suggestions for unknown keys, bounds, the image check.
#include "virtio/devices/block/block_config.hpp"

#include <sys/stat.h>

#include <array>
#include <bit>
#include <cerrno>
#include <optional>

#include "virtio/devices/block/fault_backend.hpp"
#include "virtio/devices/block/io_uring_backend.hpp"
#include "vmm/base/log.hpp"
#include "vmm/config/internal.hpp"
#include "vmm/config/suggest.hpp"

namespace vmm::virtio::block {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 25> KEYS { "path", "readonly", "cache", "num_queues", "queue_size",
    "serial", "discard", "write_zeroes", "secure_erase", "lifetime", "seg_max", "size_max", "blk_size",
    "physical_block_size", "alignment_offset", "min_io_size", "opt_io_size", "max_discard_sectors",
    "max_discard_seg", "max_write_zeroes_sectors", "max_write_zeroes_seg", "max_secure_erase_sectors",
    "max_secure_erase_seg", "coalesce", "faults" };
constexpr std::array<std::string_view, 3> LIFETIME_KEYS { "pre_eol_info", "device_lifetime_est_typ_a",
    "device_lifetime_est_typ_b" };
constexpr std::array<std::string_view, 3> CACHE_NAMES { "writeback", "writethrough", "unsafe" };

// Reads typed keys out of one JSON object; `where` prefixes key names ("lifetime.").
class Keys {
public:
    Keys(const json& obj, std::string where) : obj_(&obj), where_(std::move(where)) {}

    [[nodiscard]] Result<> check_known(std::span<const std::string_view> known) const
    {
        for (const auto& [key, value] : obj_->items()) {
            if (std::find(known.begin(), known.end(), key) == known.end()) {
                return fail(Errc::invalid_argument, "\"{}{}\": unknown key{}", where_, key,
                    config::suggestion(key, known));
            }
        }
        return {};
    }

    [[nodiscard]] const json* find(std::string_view key) const
    {
        const auto it = obj_->find(key);
        return it == obj_->end() ? nullptr : &*it;
    }

    Result<> boolean(std::string_view key, bool* out) const
    {
        const json* v = find(key);
        if (v == nullptr) {
            return {};
        }
        if (!v->is_boolean()) {
            return wrong(key, "a boolean (true or false)", *v);
        }
        *out = v->get<bool>();
        return {};
    }

    template <class T>
    Result<> integer(std::string_view key, std::uint64_t min, std::uint64_t max, T* out) const
    {
        const json* v = find(key);
        if (v == nullptr) {
            return {};
        }
        if (v->is_number_integer() && !v->is_number_unsigned() && v->get<std::int64_t>() < 0) {
            return fail(Errc::out_of_range, "\"{}{}\": {} is out of range; use {} to {}", where_, key,
                v->get<std::int64_t>(), min, max);
        }
        auto n = config::detail::integral_value(*v);
        if (!n && v->is_number_integer()) {
            n = static_cast<std::uint64_t>(v->get<std::int64_t>());
        }
        if (!n) {
            return wrong(key, "a whole number", *v);
        }
        if (*n < min || *n > max) {
            return fail(Errc::out_of_range, "\"{}{}\": {} is out of range; use {} to {}", where_, key, *n, min, max);
        }
        *out = static_cast<T>(*n);
        return {};
    }

    Result<> string(std::string_view key, std::string* out) const
    {
        const json* v = find(key);
        if (v == nullptr) {
            return {};
        }
        if (!v->is_string()) {
            return wrong(key, "a string", *v);
        }
        *out = v->get<std::string>();
        return {};
    }

    [[nodiscard]] Unexpected<Error> wrong(std::string_view key, std::string_view expected, const json& got) const
    {
        return fail(Errc::invalid_argument, "\"{}{}\": expected {}, got {}", where_, key, expected,
            config::detail::type_name(got));
    }

    [[nodiscard]] const std::string& where() const noexcept { return where_; }

private:
    const json* obj_;
    std::string where_;
};

Result<> power_of_two_in(const Keys& k, std::string_view key, std::uint64_t value, std::uint64_t min,
    std::uint64_t max)
{
    if (!std::has_single_bit(value) || value < min || value > max) {
        return fail(Errc::out_of_range, "\"{}\": {} must be a power of two from {} to {}", key, value, min, max);
    }
    (void)k;
    return {};
}

Result<Lifetime> parse_lifetime(const json& v)
{
    if (!v.is_object()) {
        return fail(Errc::invalid_argument, "\"lifetime\": expected an object with {}, {} and {}, got {}",
            LIFETIME_KEYS[0], LIFETIME_KEYS[1], LIFETIME_KEYS[2], config::detail::type_name(v));
    }
    const Keys k(v, "lifetime.");
    VMM_TRY(k.check_known(LIFETIME_KEYS));
    Lifetime lt;
    // virtio 1.2 §5.2.6.2: the device MUST NOT send reserved values, so none is accepted here.
    VMM_TRY(k.integer("pre_eol_info", 0, VIRTIO_BLK_PRE_EOL_INFO_URGENT, &lt.pre_eol_info));
    VMM_TRY(k.integer("device_lifetime_est_typ_a", 0, VIRTIO_BLK_LIFETIME_EST_MAX, &lt.device_lifetime_est_typ_a));
    VMM_TRY(k.integer("device_lifetime_est_typ_b", 0, VIRTIO_BLK_LIFETIME_EST_MAX, &lt.device_lifetime_est_typ_b));
    return lt;
}

} // namespace

std::span<const std::string_view> block_config_keys() noexcept
{
    return KEYS;
}

Result<BlockConfig> parse_block_config(const config::DeviceConfig& entry)
{
    const Keys k(entry.params, "");
    VMM_TRY(k.check_known(KEYS));
    BlockConfig c;
    BlockOptions& o = c.options;

    const json* path = k.find("path");
    if (path == nullptr) {
        return fail(Errc::invalid_argument,
            "missing key \"path\": the raw image file or host block device, e.g. \"path\": \"disk.img\"");
    }
    if (!path->is_string() || path->get<std::string>().empty()) {
        return k.wrong("path", "a non-empty string", *path);
    }
    c.path = path->get<std::string>();
    if (c.path.is_relative()) {
        c.path = entry.base_dir / c.path;
    }
    c.id = entry.id.value_or("");

    VMM_TRY(k.boolean("readonly", &o.read_only));
    if (const json* cache = k.find("cache"); cache != nullptr) {
        if (!cache->is_string()) {
            return k.wrong("cache", "\"writeback\", \"writethrough\" or \"unsafe\"", *cache);
        }
        const auto mode = config::detail::from_name<CacheMode>(cache->get<std::string>(), CACHE_NAMES);
        if (!mode) {
            return fail(Errc::invalid_argument, "\"cache\": \"{}\" is not a cache mode{}", cache->get<std::string>(),
                config::suggestion(cache->get<std::string>(), CACHE_NAMES));
        }
        o.cache = *mode;
    }
    VMM_TRY(k.integer("num_queues", 1, BlockOptions::MAX_QUEUES, &o.num_queues));
    VMM_TRY(k.integer("queue_size", 2, BlockOptions::MAX_QUEUE_SIZE, &o.queue_size));
    VMM_TRY(power_of_two_in(k, "queue_size", o.queue_size, 2, BlockOptions::MAX_QUEUE_SIZE));

    VMM_TRY(k.string("serial", &o.serial));
    if (o.serial.size() > VIRTIO_BLK_ID_BYTES) {
        return fail(Errc::invalid_argument, "\"serial\": \"{}\" is {} bytes long; GET_ID holds at most {}", o.serial,
            o.serial.size(), VIRTIO_BLK_ID_BYTES);
    }
    for (const char ch : o.serial) {
        if (ch < 0x20 || ch > 0x7e) {
            return fail(Errc::invalid_argument, "\"serial\": only printable ASCII characters are allowed");
        }
    }

    VMM_TRY(k.boolean("discard", &o.discard));
    VMM_TRY(k.boolean("write_zeroes", &o.write_zeroes));
    VMM_TRY(k.boolean("secure_erase", &o.secure_erase));
    VMM_TRY(k.boolean("coalesce", &o.coalesce));
    if (const json* f = k.find("faults")) {
        c.faults = VMM_TRY(parse_block_faults(*f, "faults"));
    }
    if (const json* lt = k.find("lifetime"); lt != nullptr) {
        o.lifetime = VMM_TRY(parse_lifetime(*lt));
    }

    // readv/writev take at most 1024 iovecs: one per data segment.
    VMM_TRY(k.integer("seg_max", 1, 1024, &o.seg_max));
    VMM_TRY(k.integer("size_max", 0, UINT32_MAX, &o.size_max));
    if (o.size_max != 0 && o.size_max < 4096) {
        return fail(Errc::out_of_range, "\"size_max\": {} is below one page (4096 bytes); use 0 to not offer it",
            o.size_max);
    }
    VMM_TRY(k.integer("blk_size", 512, 4096, &o.blk_size));
    VMM_TRY(power_of_two_in(k, "blk_size", o.blk_size, 512, 4096));
    VMM_TRY(k.integer("physical_block_size", 0, 1U << 20, &o.physical_block_size));
    if (o.physical_block_size != 0) {
        VMM_TRY(power_of_two_in(k, "physical_block_size", o.physical_block_size, o.blk_size, 1U << 20));
    }
    VMM_TRY(k.integer("alignment_offset", 0, 255, &o.alignment_offset));
    VMM_TRY(k.integer("min_io_size", 0, 65535, &o.min_io_size));
    VMM_TRY(k.integer("opt_io_size", 0, UINT32_MAX, &o.opt_io_size));
    VMM_TRY(k.integer("max_discard_sectors", 1, UINT32_MAX, &o.max_discard_sectors));
    VMM_TRY(k.integer("max_discard_seg", 1, BlockOptions::MAX_SEGMENTS, &o.max_discard_seg));
    VMM_TRY(k.integer("max_write_zeroes_sectors", 1, UINT32_MAX, &o.max_write_zeroes_sectors));
    VMM_TRY(k.integer("max_write_zeroes_seg", 1, BlockOptions::MAX_SEGMENTS, &o.max_write_zeroes_seg));
    VMM_TRY(k.integer("max_secure_erase_sectors", 1, UINT32_MAX, &o.max_secure_erase_sectors));
    VMM_TRY(k.integer("max_secure_erase_seg", 1, BlockOptions::MAX_SEGMENTS, &o.max_secure_erase_seg));
    if (o.read_only && (o.discard || o.secure_erase)) {
        return fail(Errc::invalid_argument,
            "\"readonly\": a read-only device cannot discard or erase; drop \"discard\"/\"secure_erase\"");
    }
    return c;
}

Result<> validate_block(const config::DeviceConfig& entry)
{
    const BlockConfig c = VMM_TRY(parse_block_config(entry));
    struct stat st { };
    if (::stat(c.path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return fail(Errc::not_found,
                "\"path\": \"{}\" does not exist; create the image (e.g. truncate -s 1G {}) or fix the path "
                "(relative paths in a config file resolve against the file's directory)",
                c.path.string(), c.path.string());
        }
        return fail_errno(errno, "\"path\": \"{}\"", c.path.string());
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        return fail(Errc::invalid_argument, "\"path\": \"{}\" is neither a regular file nor a block device",
            c.path.string());
    }
    return {};
}

Result<std::unique_ptr<Device>> make_block(const config::DeviceConfig& entry, DeviceResources& resources)
{
    const BlockConfig c = VMM_TRY(parse_block_config(entry));
    IoUringOptions io;
    io.read_only = c.options.read_only;
    io.loop = resources.loop;
    // Enough submission entries for every queue slot at once.
    io.entries = std::bit_ceil(std::min<unsigned>(4096U, unsigned { c.options.num_queues } * c.options.queue_size));
    auto backend = IoUringBackend::open(c.path, io);
    if (!backend) {
        return fail(std::move(backend).error());
    }
    if ((*backend)->size() % VIRTIO_BLK_SECTOR_SIZE != 0) {
        spdlog::warn("virtio-blk {}: size {} is not a multiple of 512; the last {} bytes are not visible",
            c.path.string(), (*backend)->size(), (*backend)->size() % VIRTIO_BLK_SECTOR_SIZE);
    }
    // Every disk can take faults from the API at run time; without rules the wrapper only
    // passes requests on.
    auto faulty = std::make_unique<FaultBackend>(std::move(backend).value(), resources.loop);
    VMM_TRY(faulty->set_faults(c.faults));
    return std::unique_ptr<Device>(std::make_unique<BlockDevice>(std::move(faulty), c.options));
}

} // namespace vmm::virtio::block
