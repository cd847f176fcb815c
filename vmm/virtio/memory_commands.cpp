// SPDX-License-Identifier: Apache-2.0
// The API's memory commands: the balloon's and virtio-mem's.
#include "vmm/virtio/virtio_devices.hpp"

#include "virtio/devices/balloon/balloon.hpp"
#include "virtio/devices/mem/mem.hpp"
#include "vmm/base/log.hpp"

namespace vmm {

Result<nlohmann::json> VirtioDevices::balloon_command(const std::string& command, const nlohmann::json& request)
{
    auto* b = dynamic_cast<virtio::balloon::BalloonDevice*>(VMM_TRY(requested_device(request, command, "balloon")));
    VMM_ASSERT(b != nullptr); // the registry builds a BalloonDevice for "balloon"
    if (command == "balloon-set") {
        // {"command": "balloon-set", "id": "balloon0", "size": "512M" | 536870912}
        const auto size = request.find("size");
        const std::uint64_t bytes = VMM_TRY(config::size_value(
            size == request.end() ? nullptr : &*size, "balloon-set needs \"size\", what the balloon should hold"));
        VMM_TRY(b->set_target(bytes));
        return b->status();
    }
    if (command == "balloon-stats") {
        // The last numbers the driver sent, and a request for fresh ones (they arrive shortly).
        auto out = b->stats();
        if (auto asked = b->request_stats(); !asked) {
            out["request"] = asked.error().describe();
        }
        return out;
    }
    if (command == "balloon-hint-start") {
        const std::uint32_t cmd_id = VMM_TRY(b->start_hinting());
        return nlohmann::json { { "id", request.at("id") }, { "cmd_id", cmd_id } };
    }
    // balloon-hint-stop
    VMM_TRY(b->stop_hinting());
    return b->status();
}

Result<nlohmann::json> VirtioDevices::mem_resize(const nlohmann::json& request)
{
    // {"command": "mem-resize", "id": "mem0", "requested_size": "1G" | 1073741824}
    auto* m = dynamic_cast<virtio::mem::MemDevice*>(VMM_TRY(requested_device(request, "mem-resize", "mem")));
    VMM_ASSERT(m != nullptr); // the registry builds a MemDevice for "mem"
    const auto size = request.find("requested_size");
    const std::uint64_t bytes = VMM_TRY(config::size_value(size == request.end() ? nullptr : &*size,
        "mem-resize needs \"requested_size\", how much of its region the guest should have"));
    VMM_TRY(m->resize(bytes));
    return m->status();
}

} // namespace vmm
