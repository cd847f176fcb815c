// SPDX-License-Identifier: Apache-2.0
// JSON document → VmConfig: keys, types and path resolution (bounds are validate()'s).
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "vmm/base/log.hpp"
#include "vmm/config/config.hpp"
#include "vmm/config/internal.hpp"
#include "vmm/config/suggest.hpp"

namespace vmm::config {

namespace fs = std::filesystem;
using nlohmann::json;

namespace detail {

std::optional<std::uint64_t> integral_value(const json& value)
{
    if (value.is_number_unsigned()) {
        return value.get<std::uint64_t>();
    }
    if (!value.is_number_float()) {
        return std::nullopt;
    }
    // JSON Schema counts 2.0 as an integer, and nlohmann stores 1e9 as a double; accept both
    // so that the parser and configs/vireo.schema.json agree. 2^64 is exactly representable.
    const double d = value.get<double>();
    if (!(d >= 0.0 && d < 18446744073709551616.0) || std::floor(d) != d) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(d);
}

std::string_view type_name(const json& value)
{
    switch (value.type()) {
    case json::value_t::object:
        return "an object";
    case json::value_t::array:
        return "an array";
    case json::value_t::string:
        return "a string";
    case json::value_t::boolean:
        return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
        return "an integer";
    case json::value_t::number_float:
        return integral_value(value) ? "an integer" : "a fractional number";
    case json::value_t::null:
        return "null";
    case json::value_t::binary:
    case json::value_t::discarded:
        break;
    }
    return "an unsupported value";
}

} // namespace detail

namespace {

using detail::type_name;

constexpr std::array<std::string_view, 7> TOP_KEYS { "vm", "boot", "console", "devices", "api_socket",
    "on_reboot", "log_level" };
constexpr std::array<std::string_view, 5> VM_KEYS { "cpus", "memory", "hugepages", "memfd", "mmio_discovery" };
constexpr std::array<std::string_view, 3> BOOT_KEYS { "kernel", "initrd", "cmdline" };
constexpr std::array<std::string_view, 2> CONSOLE_KEYS { "mode", "path" };

std::string join(std::string_view parent, std::string_view key)
{
    if (parent.empty()) {
        return std::string(key);
    }
    return std::string(parent) + "." + std::string(key);
}

Unexpected<Error> wrong_type(std::string_view path, std::string_view expected, const json& got)
{
    return fail(Errc::invalid_argument, "{}: expected {}, got {}", path, expected, type_name(got));
}

template <std::size_t N>
Result<> check_keys(const json& obj, std::string_view path, const std::array<std::string_view, N>& allowed)
{
    for (const auto& [key, value] : obj.items()) {
        bool known = false;
        for (std::string_view name : allowed) {
            known = known || name == key;
        }
        if (!known) {
            return fail(
                Errc::invalid_argument, "{}: unknown key{}", join(path, key), suggestion(key, allowed));
        }
    }
    return {};
}

// The object under `key`, after checking its keys; nullptr if the key is absent.
template <std::size_t N>
Result<const json*> section(
    const json& parent, std::string_view key, const std::array<std::string_view, N>& allowed)
{
    const auto it = parent.find(key);
    if (it == parent.end()) {
        return nullptr;
    }
    if (!it->is_object()) {
        return wrong_type(key, "an object", *it);
    }
    VMM_TRY(check_keys(*it, key, allowed));
    return &*it;
}

const json* find(const json* obj, std::string_view key)
{
    if (obj == nullptr) {
        return nullptr;
    }
    const auto it = obj->find(key);
    return it == obj->end() ? nullptr : &*it;
}

Result<bool> as_bool(const json& v, std::string_view path)
{
    if (!v.is_boolean()) {
        return wrong_type(path, "true or false", v);
    }
    return v.get<bool>();
}

Result<std::string> as_string(const json& v, std::string_view path)
{
    if (!v.is_string()) {
        return wrong_type(path, "a string", v);
    }
    return v.get<std::string>();
}

Result<std::string> as_nonempty_string(const json& v, std::string_view path)
{
    std::string s = VMM_TRY(as_string(v, path));
    if (s.empty()) {
        return fail(Errc::invalid_argument, "{}: must not be empty", path);
    }
    return s;
}

Result<fs::path> as_path(const json& v, std::string_view path, const fs::path& base_dir)
{
    const fs::path p = VMM_TRY(as_nonempty_string(v, path));
    // An absolute p replaces base_dir, so this is also right for absolute paths.
    return base_dir / p;
}

template <class E, std::size_t N>
Result<E> as_enum(const json& v, std::string_view path, const std::array<std::string_view, N>& names)
{
    const std::string s = VMM_TRY(as_string(v, path));
    if (auto e = detail::from_name<E>(s, names)) {
        return *e;
    }
    return fail(Errc::invalid_argument, "{}: \"{}\" is not valid{}", path, s, suggestion(s, names));
}

// True for a number that is a whole number but not one integral_value() accepts.
bool is_out_of_range_integer(const json& v)
{
    return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
}

Result<std::uint32_t> as_cpus(const json& v, std::string_view path)
{
    if (auto n = detail::integral_value(v); n && *n <= std::numeric_limits<std::uint32_t>::max()) {
        return static_cast<std::uint32_t>(*n);
    }
    if (is_out_of_range_integer(v)) {
        return fail(Errc::out_of_range, "{}: {} is out of range; expected 1 to {}", path, v.dump(), MAX_CPUS);
    }
    return wrong_type(path, "an integer", v);
}

Result<std::uint64_t> as_size(const json& v, std::string_view path)
{
    if (auto n = detail::integral_value(v)) {
        return *n;
    }
    if (is_out_of_range_integer(v)) {
        return fail(Errc::out_of_range, "{}: {} is negative or too large", path, v.dump());
    }
    if (!v.is_string()) {
        return wrong_type(path, "a number of bytes or a string such as \"512M\"", v);
    }
    auto size = parse_size(v.get<std::string>());
    if (!size) {
        return fail(Error { size.error().code, fmt::format("{}: {}", path, size.error().message) });
    }
    return *size;
}

Result<> read_vm(const json& doc, VmConfig& cfg)
{
    const json* vm = VMM_TRY(section(doc, "vm", VM_KEYS));
    if (const json* v = find(vm, "cpus")) {
        cfg.cpus = VMM_TRY(as_cpus(*v, "vm.cpus"));
    }
    if (const json* v = find(vm, "memory")) {
        cfg.memory = VMM_TRY(as_size(*v, "vm.memory"));
    }
    if (const json* v = find(vm, "hugepages")) {
        cfg.hugepages = VMM_TRY(as_bool(*v, "vm.hugepages"));
    }
    if (const json* v = find(vm, "memfd")) {
        cfg.memfd = VMM_TRY(as_bool(*v, "vm.memfd"));
    }
    if (const json* v = find(vm, "mmio_discovery")) {
        cfg.mmio_discovery = VMM_TRY(as_enum<MmioDiscovery>(*v, "vm.mmio_discovery", detail::MMIO_DISCOVERY_NAMES));
    }
    return {};
}

Result<> read_boot(const json& doc, const fs::path& base_dir, VmConfig& cfg)
{
    const json* boot = VMM_TRY(section(doc, "boot", BOOT_KEYS));
    if (const json* v = find(boot, "kernel")) {
        cfg.kernel = VMM_TRY(as_path(*v, "boot.kernel", base_dir));
    }
    if (const json* v = find(boot, "initrd")) {
        cfg.initrd = VMM_TRY(as_path(*v, "boot.initrd", base_dir));
    }
    if (const json* v = find(boot, "cmdline")) {
        cfg.cmdline = VMM_TRY(as_string(*v, "boot.cmdline"));
    }
    return {};
}

Result<> read_console(const json& doc, const fs::path& base_dir, VmConfig& cfg)
{
    const json* console = VMM_TRY(section(doc, "console", CONSOLE_KEYS));
    if (const json* v = find(console, "mode")) {
        cfg.console.mode = VMM_TRY(as_enum<ConsoleMode>(*v, "console.mode", detail::CONSOLE_MODE_NAMES));
    }
    const bool wants_path = cfg.console.mode == ConsoleMode::file || cfg.console.mode == ConsoleMode::socket;
    if (const json* v = find(console, "path")) {
        if (!wants_path) {
            return fail(Errc::invalid_argument,
                "console.path: only used when console.mode is \"file\" or \"socket\"; set the mode or "
                "remove the path");
        }
        cfg.console.path = VMM_TRY(as_path(*v, "console.path", base_dir));
    } else if (wants_path) {
        return fail(Errc::invalid_argument, "console.path: required when console.mode is \"{}\"",
            to_string(cfg.console.mode));
    }
    return {};
}

Result<> read_devices(const json& doc, const fs::path& base_dir, VmConfig& cfg)
{
    const json* devices = find(&doc, "devices");
    if (devices == nullptr) {
        return {};
    }
    if (!devices->is_array()) {
        return wrong_type("devices", "an array", *devices);
    }
    for (std::size_t i = 0; i < devices->size(); ++i) {
        std::string origin = fmt::format("devices[{}]", i);
        std::string prefix = origin + ".";
        cfg.devices.push_back(
            VMM_TRY(detail::device_from_json((*devices)[i], std::move(origin), prefix, base_dir)));
    }
    return {};
}

} // namespace

Result<DeviceConfig> detail::device_from_json(
    const json& entry, std::string origin, std::string_view key_prefix, const fs::path& base_dir)
{
    if (!entry.is_object()) {
        return wrong_type(origin, "an object with a \"type\" key", entry);
    }
    DeviceConfig dev;
    dev.origin = std::move(origin);
    dev.base_dir = base_dir;
    const auto type = entry.find("type");
    if (type == entry.end()) {
        return fail(
            Errc::invalid_argument, "{}: missing key \"type\" (the device kind, e.g. \"rng\")", dev.origin);
    }
    dev.type = VMM_TRY(as_nonempty_string(*type, fmt::format("{}type", key_prefix)));
    for (const auto& [key, value] : entry.items()) {
        if (key == "transport") {
            dev.transport
                = VMM_TRY(as_enum<Transport>(value, fmt::format("{}transport", key_prefix), TRANSPORT_NAMES));
        } else if (key == "packed") {
            dev.packed = VMM_TRY(as_bool(value, fmt::format("{}packed", key_prefix)));
        } else if (key == "notification_data") {
            dev.notification_data = VMM_TRY(as_bool(value, fmt::format("{}notification_data", key_prefix)));
        } else if (key == "iommu") {
            dev.iommu = VMM_TRY(as_bool(value, fmt::format("{}iommu", key_prefix)));
        } else if (key == "id") {
            dev.id = VMM_TRY(as_nonempty_string(value, fmt::format("{}id", key_prefix)));
        } else if (key == "virtio_faults") {
            if (!value.is_object()) {
                return wrong_type(fmt::format("{}virtio_faults", key_prefix), "an object", value);
            }
            dev.virtio_faults = value;
        } else if (key != "type") {
            dev.params[key] = value;
        }
    }
    return dev;
}

Result<VmConfig> parse_json(const json& doc, const fs::path& base_dir)
{
    if (!doc.is_object()) {
        return wrong_type("top level", "an object", doc);
    }
    VMM_TRY(check_keys(doc, "", TOP_KEYS));
    VmConfig cfg;
    VMM_TRY(read_vm(doc, cfg));
    VMM_TRY(read_boot(doc, base_dir, cfg));
    VMM_TRY(read_console(doc, base_dir, cfg));
    VMM_TRY(read_devices(doc, base_dir, cfg));
    if (const json* v = find(&doc, "api_socket")) {
        cfg.api_socket = VMM_TRY(as_path(*v, "api_socket", base_dir));
    }
    if (const json* v = find(&doc, "on_reboot")) {
        cfg.on_reboot = VMM_TRY(as_enum<OnReboot>(*v, "on_reboot", detail::ON_REBOOT_NAMES));
    }
    if (const json* v = find(&doc, "log_level")) {
        const std::string level = VMM_TRY(as_string(*v, "log_level"));
        spdlog::level::level_enum parsed {};
        if (!parse_log_level(level, &parsed)) {
            return fail(Errc::invalid_argument, "log_level: \"{}\" is not valid{}", level,
                suggestion(level, detail::LOG_LEVEL_NAMES));
        }
        cfg.log_level = level;
    }
    return cfg;
}

std::string_view to_string(ConsoleMode mode) noexcept
{
    return detail::CONSOLE_MODE_NAMES[static_cast<std::size_t>(mode)];
}

std::string_view to_string(Transport transport) noexcept
{
    return detail::TRANSPORT_NAMES[static_cast<std::size_t>(transport)];
}

std::string_view to_string(OnReboot on_reboot) noexcept
{
    return detail::ON_REBOOT_NAMES[static_cast<std::size_t>(on_reboot)];
}

std::string_view to_string(MmioDiscovery discovery) noexcept
{
    return detail::MMIO_DISCOVERY_NAMES[static_cast<std::size_t>(discovery)];
}

} // namespace vmm::config
