// SPDX-License-Identifier: Apache-2.0
// The "console" device kind.
#include "virtio/devices/console/console_config.hpp"

#include <sys/un.h>

#include <array>
#include <string_view>

#include "virtio/devices/console/console.hpp"
#include "virtio/devices/console/host_backend.hpp"
#include "virtio/devices/params.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 8> KEYS { "ports", "backend", "path", "name", "console_port", "cols",
    "rows", "emergency_write" };
constexpr std::array<std::string_view, 3> PORT_KEYS { "backend", "path", "name" };
// Indexed like MODES.
constexpr std::array<std::string_view, 5> BACKENDS { "stdio", "file", "socket", "pty", "none" };
constexpr std::array<ConsoleSpec::Mode, 5> MODES { ConsoleSpec::Mode::stdio, ConsoleSpec::Mode::file,
    ConsoleSpec::Mode::socket, ConsoleSpec::Mode::pty, ConsoleSpec::Mode::off };
// Room for the NUL that bind() expects.
constexpr std::size_t MAX_SOCKET_PATH = sizeof(sockaddr_un {}.sun_path) - 1;

bool wants_path(ConsoleSpec::Mode mode)
{
    return mode == ConsoleSpec::Mode::file || mode == ConsoleSpec::Mode::socket;
}

Result<std::string> parse_name(const json& v, std::string_view where)
{
    std::string name = VMM_TRY(params::as_nonempty_string(v, where));
    if (name.size() > ConsoleDevice::MAX_NAME) {
        return fail(Errc::invalid_argument, "{}: {} bytes long; at most {}", where, name.size(),
            ConsoleDevice::MAX_NAME);
    }
    for (const char c : name) {
        // The guest shows it in sysfs and udev makes it a file name.
        if (c <= ' ' || c > '~' || c == '/') {
            return fail(Errc::invalid_argument,
                "{}: \"{}\" has a space, \"/\" or a character that is not printable ASCII", where, name);
        }
    }
    return name;
}

// One port's keys, from `obj` (a ports[] entry, or the device entry itself for the one-port
// form); `prefix` is "ports[1]" or "".
Result<ConsolePortParams> parse_port(
    const json& obj, std::string_view prefix, const std::filesystem::path& base_dir)
{
    ConsolePortParams port;
    const json* backend = params::find(obj, "backend");
    if (backend == nullptr && !prefix.empty()) {
        return fail(Errc::invalid_argument,
            "{}: required; one of \"stdio\", \"file\", \"socket\", \"pty\", \"none\"",
            params::join(prefix, "backend"));
    }
    if (backend != nullptr) {
        port.mode = MODES[VMM_TRY(params::as_choice(*backend, params::join(prefix, "backend"), BACKENDS))];
    }
    const std::string path_key = params::join(prefix, "path");
    if (const json* path = params::find(obj, "path")) {
        if (!wants_path(port.mode)) {
            return fail(
                Errc::invalid_argument, "{}: only used with the \"file\" and \"socket\" backends", path_key);
        }
        port.path = VMM_TRY(params::as_path(*path, path_key, base_dir));
    } else if (wants_path(port.mode)) {
        return fail(Errc::invalid_argument, "{}: required for the \"{}\" backend", path_key,
            port.mode == ConsoleSpec::Mode::file ? "file" : "socket");
    }
    if (port.mode == ConsoleSpec::Mode::socket && port.path.native().size() > MAX_SOCKET_PATH) {
        return fail(Errc::invalid_argument,
            "{}: \"{}\" is {} bytes long, but a Unix socket path holds at most {}; use a shorter path",
            path_key, port.path.native(), port.path.native().size(), MAX_SOCKET_PATH);
    }
    if (const json* name = params::find(obj, "name")) {
        port.name = VMM_TRY(parse_name(*name, params::join(prefix, "name")));
    }
    return port;
}

Result<std::vector<ConsolePortParams>> parse_ports(const json& p, const std::filesystem::path& base_dir)
{
    const json* ports = params::find(p, "ports");
    if (ports == nullptr) {
        return std::vector<ConsolePortParams> { VMM_TRY(parse_port(p, "", base_dir)) };
    }
    for (const std::string_view key : PORT_KEYS) {
        if (p.contains(key)) {
            return fail(
                Errc::invalid_argument, "{}: goes inside \"ports\" entries when \"ports\" is given", key);
        }
    }
    if (!ports->is_array() || ports->empty() || ports->size() > ConsoleDevice::MAX_PORTS) {
        return fail(Errc::invalid_argument, "ports: expected an array of 1 to {} port objects",
            ConsoleDevice::MAX_PORTS);
    }
    std::vector<ConsolePortParams> out;
    for (std::size_t i = 0; i < ports->size(); ++i) {
        const json& entry = (*ports)[i];
        const std::string prefix = fmt::format("ports[{}]", i);
        if (!entry.is_object()) {
            return fail(Errc::invalid_argument, "{}: expected an object with a \"backend\" key", prefix);
        }
        VMM_TRY(params::check_keys(entry, prefix, PORT_KEYS));
        out.push_back(VMM_TRY(parse_port(entry, prefix, base_dir)));
    }
    return out;
}

Result<> check_ports_together(const std::vector<ConsolePortParams>& ports)
{
    std::size_t stdio = 0;
    for (std::size_t i = 0; i < ports.size(); ++i) {
        stdio += ports[i].mode == ConsoleSpec::Mode::stdio ? 1U : 0U;
        if (stdio > 1) {
            return fail(Errc::invalid_argument,
                "ports[{}].backend: only one port can use \"stdio\" (there is one terminal)", i);
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (!ports[i].name.empty() && ports[i].name == ports[j].name) {
                return fail(Errc::invalid_argument, "ports[{}].name: \"{}\" is already the name of ports[{}]",
                    i, ports[i].name, j);
            }
            if (!ports[i].path.empty() && ports[i].path == ports[j].path) {
                return fail(Errc::invalid_argument, "ports[{}].path: \"{}\" is already used by ports[{}]", i,
                    ports[i].path.native(), j);
            }
        }
    }
    return {};
}

} // namespace

Result<ConsoleParams> parse_console_params(const config::DeviceConfig& entry)
{
    const json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", KEYS));
    ConsoleParams out;
    out.ports = VMM_TRY(parse_ports(p, entry.base_dir));
    VMM_TRY(check_ports_together(out.ports));
    if (const json* v = params::find(p, "console_port")) {
        out.console_port = VMM_TRY(params::as_bool(*v, "console_port"));
    }
    if (const json* v = params::find(p, "cols")) {
        out.cols = static_cast<std::uint16_t>(VMM_TRY(params::as_uint(*v, "cols", 1, 0xffff)));
    }
    if (const json* v = params::find(p, "rows")) {
        out.rows = static_cast<std::uint16_t>(VMM_TRY(params::as_uint(*v, "rows", 1, 0xffff)));
    }
    if (const json* v = params::find(p, "emergency_write")) {
        out.emergency_write = VMM_TRY(params::as_bool(*v, "emergency_write"));
    }
    return out;
}

Result<> validate_console(const config::DeviceConfig& entry)
{
    VMM_TRY(parse_console_params(entry));
    return {};
}

Result<std::unique_ptr<Device>> make_console(const config::DeviceConfig& entry, DeviceResources& resources)
{
    const ConsoleParams p = VMM_TRY(parse_console_params(entry));
    if (resources.loop == nullptr) {
        return fail(Errc::invalid_argument, "the console device needs the event loop for its backends");
    }
    ConsoleOptions options;
    options.console_port = p.console_port;
    options.cols = p.cols;
    options.rows = p.rows;
    options.emergency_write = p.emergency_write;
    for (std::size_t i = 0; i < p.ports.size(); ++i) {
        const ConsolePortParams& port = p.ports[i];
        ConsoleSpec spec;
        spec.mode = port.mode;
        spec.path = port.path;
        auto backend = open_host_backend(resources.loop->io(), spec, resources.on_console_quit);
        if (!backend) {
            return fail(
                Error { backend.error().code, fmt::format("port {}: {}", i, backend.error().describe()) });
        }
        options.ports.push_back(ConsolePortSpec { port.name, std::move(backend).value() });
    }
    return std::unique_ptr<Device>(std::make_unique<ConsoleDevice>(std::move(options)));
}

} // namespace vmm::virtio
