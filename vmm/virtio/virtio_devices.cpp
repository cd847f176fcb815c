// SPDX-License-Identifier: Apache-2.0
// VirtioDevices: planning, building and reporting.
#include "vmm/virtio/virtio_devices.hpp"

#include <iterator>

#include "arch/x86_64/layout.hpp"
#include "virtio/devices/block/block_device.hpp"
#include "virtio/registry.hpp"

namespace vmm {

Result<VirtioPlan> plan_virtio(const config::VmConfig& cfg)
{
    constexpr std::size_t MAX_MMIO = std::min<std::size_t>(std::size(x86::VIRTIO_MMIO_IRQS), x86::VIRTIO_MMIO_MAX_SLOTS);
    VirtioPlan plan;
    for (const auto& d : cfg.devices) {
        VirtioPlan::Entry e;
        e.config = &d;
        if (d.transport == config::Transport::mmio) {
            const std::size_t i = plan.mmio_slots.size();
            if (i >= MAX_MMIO) {
                return fail(Errc::out_of_range,
                    "{} (type \"{}\"): at most {} devices fit on virtio-mmio (one interrupt pin each); put the rest "
                    "on \"transport\": \"pci\"",
                    d.origin, d.type, MAX_MMIO);
            }
            e.mmio = acpi::MmioSlot { x86::VIRTIO_MMIO_START + i * x86::VIRTIO_MMIO_SLOT_SIZE,
                x86::VIRTIO_MMIO_SLOT_SIZE, x86::VIRTIO_MMIO_IRQS[i] };
            plan.mmio_slots.push_back(e.mmio);
            if (cfg.mmio_discovery == config::MmioDiscovery::cmdline) {
                // Linux's virtio_mmio.device=<size>@<base>:<irq> (drivers/virtio/virtio_mmio.c).
                plan.cmdline_extra += fmt::format(" virtio_mmio.device=4K@{:#x}:{}", e.mmio.base, e.mmio.irq);
            }
        }
        plan.entries.push_back(e);
    }
    if (cfg.mmio_discovery == config::MmioDiscovery::cmdline) {
        plan.mmio_slots.clear(); // described on the command line instead of in the DSDT
    }
    return plan;
}

VirtioDevices::VirtioDevices(const Context& ctx)
    : ctx_(ctx)
    , host_(*ctx.loop, *ctx.vm)
    , direct_dma_(*ctx.memory)
{
}

VirtioDevices::~VirtioDevices() = default;

Result<std::unique_ptr<VirtioDevices>> VirtioDevices::create(
    const VirtioPlan& plan, const Context& ctx, bool* config_error)
{
    auto devices = std::unique_ptr<VirtioDevices>(new VirtioDevices(ctx));
    for (const auto& e : plan.entries) {
        VMM_TRY(devices->add(e, config_error));
    }
    return devices;
}

Result<> VirtioDevices::add(const VirtioPlan::Entry& entry, bool* config_error)
{
    const config::DeviceConfig& cfg = *entry.config;
    virtio::DeviceResources resources;
    resources.loop = ctx_.loop;
    auto device = virtio::make_device(cfg, resources);
    if (!device) {
        *config_error = true; // unknown type, bad keys, a file that cannot be opened
        return fail(std::move(device).error());
    }

    Slot slot;
    slot.origin = cfg.origin;
    const auto id = cfg.params.find("id");
    slot.id = id != cfg.params.end() && id->is_string() ? id->get<std::string>() : cfg.origin;
    slot.type = cfg.type;
    slot.transport = cfg.transport;
    virtio::TransportOptions options;
    options.dma.direct = &direct_dma_;

    switch (cfg.transport) {
    case config::Transport::mmio: {
        slot.address = entry.mmio.base;
        options.name = fmt::format("virtio-mmio@{:#x} ({})", entry.mmio.base, cfg.type);
        auto line = VMM_TRY(host_.make_irq_line(entry.mmio.irq));
        virtio::MmioOptions mo;
        mo.base = entry.mmio.base;
        mo.transport = std::move(options);
        slot.mmio = VMM_TRY(virtio::MmioTransport::create(std::move(device).value(), host_, std::move(line), mo));
        VMM_TRY(ctx_.mmio_bus->insert(slot.mmio, entry.mmio.base, entry.mmio.size));
        break;
    }
    case config::Transport::pci:
        *config_error = true;
        return fail(Errc::unsupported, "{} (type \"{}\"): transport \"pci\" is not available in this build; use \"mmio\"",
            cfg.origin, cfg.type);
    }
    slots_.push_back(std::move(slot));
    return {};
}

virtio::TransportCore* VirtioDevices::core(const Slot& slot) const noexcept
{
    if (slot.mmio) {
        return &slot.mmio->core();
    }
    return nullptr;
}

nlohmann::json VirtioDevices::status() const
{
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : slots_) {
        const virtio::TransportCore* c = core(s);
        if (c == nullptr) {
            continue;
        }
        out.push_back({
            { "origin", s.origin },
            { "id", s.id },
            { "type", s.type },
            { "transport", config::to_string(s.transport) },
            { "address", fmt::format("{:#x}", s.address) },
            { "status", c->status() },
            { "features", fmt::format("{:#x}", c->negotiated_features()) },
            { "activations", c->activations() },
            { "notifies", c->kicked_notifies() },
            { "trapped_notifies", c->trapped_notifies() },
        });
    }
    return out;
}

Result<nlohmann::json> VirtioDevices::resize_block(const std::string& id, std::uint64_t bytes)
{
    std::string known;
    for (auto& s : slots_) {
        if (s.type != "block") {
            continue;
        }
        if (s.id != id) {
            known += (known.empty() ? "" : ", ") + s.id;
            continue;
        }
        virtio::TransportCore* c = core(s);
        auto* blk = c != nullptr ? dynamic_cast<virtio::block::BlockDevice*>(&c->device()) : nullptr;
        if (blk == nullptr) {
            return fail(Errc::not_found, "device \"{}\" is not a block device", id);
        }
        const std::uint64_t capacity = VMM_TRY(blk->resize(bytes));
        return nlohmann::json { { "id", s.id }, { "capacity_sectors", capacity }, { "size", capacity * 512 } };
    }
    return fail(Errc::not_found, "no block device \"{}\" (block devices: {})", id, known.empty() ? "none" : known);
}

void VirtioDevices::reset_all()
{
    for (auto& s : slots_) {
        if (s.mmio) {
            s.mmio->reset();
        }
    }
}

} // namespace vmm
