// SPDX-License-Identifier: Apache-2.0
// The "vsock" device kind.
#include "virtio/devices/vsock/vsock_config.hpp"

#include <array>
#include <string_view>

#include "virtio/devices/params.hpp"
#include "virtio/devices/vsock/unix_host.hpp"
#include "vmm/loop/event_loop.hpp"

namespace vmm::virtio::vsock {
namespace {

constexpr std::array<std::string_view, 6> KEYS { "cid", "uds_path", "seqpacket", "max_connections", "buffer_size",
    "reset_after_pause" };
// A day: longer is surely a mistake of units.
constexpr std::uint64_t MAX_PAUSE_MS = 24ULL * 3600 * 1000;

Result<std::uint32_t> parse_buffer_size(const nlohmann::json& v)
{
    const std::uint64_t n = VMM_TRY(params::as_size(v, "buffer_size", UINT64_MAX));
    if (n < VsockOptions::MIN_BUFFER || n > VsockOptions::MAX_BUFFER) {
        return fail(Errc::invalid_argument, "buffer_size: {} is outside 4096 (4K) .. 67108864 (64M)", n);
    }
    return static_cast<std::uint32_t>(n);
}

} // namespace

Result<VsockConfig> parse_vsock_config(const config::DeviceConfig& entry)
{
    const nlohmann::json& p = entry.params;
    VMM_TRY(params::check_keys(p, "", KEYS));
    VsockConfig out;
    const auto* cid = params::find(p, "cid");
    if (cid == nullptr) {
        return fail(Errc::invalid_argument, "cid: required: the guest's context ID, 3 or more (e.g. cid=3)");
    }
    // §5.10.4: 0, 1 and 2 are the hypervisor, local and host; 2^32-1 is VMADDR_CID_ANY, and
    // the upper 32 bits are reserved.
    out.options.guest_cid = VMM_TRY(params::as_uint(*cid, "cid", 3, VSOCK_CID_RESERVED_32 - 1));
    const auto* path = params::find(p, "uds_path");
    if (path == nullptr) {
        return fail(Errc::invalid_argument,
            "uds_path: required: the Unix socket host programs connect to (e.g. uds_path=/tmp/vm.vsock)");
    }
    out.uds_path = VMM_TRY(params::as_path(*path, "uds_path", entry.base_dir));
    // A guest connection to port 4294967295 appends ten digits and "_": it must still fit.
    if (out.uds_path.native().size() + 11 >= 108) {
        return fail(Errc::invalid_argument, "uds_path: '{}' is too long: a Unix socket path has at most 107 bytes, "
            "and \"_<port>\" is appended to it", out.uds_path.native());
    }
    if (const auto* v = params::find(p, "seqpacket")) {
        out.options.seqpacket = VMM_TRY(params::as_bool(*v, "seqpacket"));
    }
    if (const auto* v = params::find(p, "max_connections")) {
        out.options.max_connections = static_cast<std::uint32_t>(VMM_TRY(params::as_uint(*v, "max_connections", 1, 65536)));
    }
    if (const auto* v = params::find(p, "buffer_size")) {
        out.options.buffer_size = VMM_TRY(parse_buffer_size(*v));
    }
    if (const auto* v = params::find(p, "reset_after_pause")) {
        out.options.reset_after_pause = std::chrono::milliseconds(VMM_TRY(params::as_uint(*v, "reset_after_pause", 0, MAX_PAUSE_MS)));
    }
    return out;
}

Result<> validate_vsock(const config::DeviceConfig& entry)
{
    const VsockConfig cfg = VMM_TRY(parse_vsock_config(entry));
    // What can be told before the VM is built: the socket's directory, and no other kind of
    // file in its place (a socket another program listens on is found when it is bound).
    std::error_code ec;
    const auto dir = cfg.uds_path.parent_path();
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
        return fail(Errc::not_found, "uds_path: the directory '{}' does not exist", dir.native());
    }
    const auto st = std::filesystem::symlink_status(cfg.uds_path, ec);
    if (!ec && std::filesystem::exists(st) && st.type() != std::filesystem::file_type::socket) {
        return fail(Errc::invalid_argument, "uds_path: '{}' exists and is not a socket; remove it or choose another path",
            cfg.uds_path.native());
    }
    return {};
}

Result<std::unique_ptr<Device>> make_vsock(const config::DeviceConfig& entry, DeviceResources& resources)
{
    VsockConfig cfg = VMM_TRY(parse_vsock_config(entry));
    if (resources.loop == nullptr) {
        return fail(Errc::invalid_argument, "vsock needs the event loop");
    }
    UnixHostOptions host;
    host.path = cfg.uds_path;
    host.seqpacket = cfg.options.seqpacket;
    auto unix_host = VMM_TRY(UnixHost::create(resources.loop->io(), host));
    return std::unique_ptr<Device>(std::make_unique<VsockDevice>(std::move(unix_host), cfg.options));
}

} // namespace vmm::virtio::vsock
