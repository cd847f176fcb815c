// SPDX-License-Identifier: Apache-2.0
// VirtioDevices: planning, building and reporting.
#include "vmm/virtio/virtio_devices.hpp"

#include <iterator>

#include "arch/x86_64/layout.hpp"
#include "virtio/registry.hpp"

namespace vmm {

Result<VirtioPlan> plan_virtio(const config::VmConfig& cfg)
{
    constexpr std::size_t MAX_MMIO = std::min<std::size_t>(std::size(x86::VIRTIO_MMIO_IRQS), x86::VIRTIO_MMIO_MAX_SLOTS);
    VirtioPlan plan;
    std::uint8_t next_pci_slot = 1; // 00:00.0 is the host bridge
    for (const auto& d : cfg.devices) {
        VirtioPlan::Entry e;
        e.config = &d;
        if (d.transport == config::Transport::pci) {
            if (next_pci_slot >= pci::DEVICES_PER_BUS) {
                return fail(Errc::out_of_range, "{} (type \"{}\"): at most {} devices fit on PCI bus 0", d.origin,
                    d.type, pci::DEVICES_PER_BUS - 1);
            }
            e.pci_slot = next_pci_slot++;
        }
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
    case config::Transport::pci: {
        const std::uint8_t dev = entry.pci_slot;
        slot.pci_slot = dev;
        options.name = fmt::format("virtio-pci 00:{:02x}.0 ({})", dev, cfg.type);
        // The transport raises INTA#, which the swizzle puts on one of the INTx pins.
        auto line = VMM_TRY(host_.make_level_irq_line(x86::pci_intx_irq(dev, 0)));
        virtio::PciTransportOptions po;
        po.transport = std::move(options);
        slot.pci = VMM_TRY(
            virtio::PciTransport::create(std::move(device).value(), host_, *ctx_.msi, std::move(line), std::move(po)));
        VMM_TRY(ctx_.bars->assign(*slot.pci));
        VMM_TRY(ctx_.pci->add(dev, slot.pci));
        slot.address = slot.pci->bar_address(virtio::PciTransport::REGS_BAR);
        break;
    }
    }
    slots_.push_back(std::move(slot));
    return {};
}

virtio::TransportCore* VirtioDevices::core(const Slot& slot) const noexcept
{
    if (slot.mmio) {
        return &slot.mmio->core();
    }
    if (slot.pci) {
        return &slot.pci->core();
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
        // Loop thread: only lock-free reads of the transports (the vCPUs hold their locks while
        // they wait for the loop).
        nlohmann::json entry = {
            { "origin", s.origin },
            { "type", s.type },
            { "transport", config::to_string(s.transport) },
            { "address",
                fmt::format("{:#x}", s.pci ? s.pci->current_bar_address(virtio::PciTransport::REGS_BAR) : s.address) },
            { "status", c->status() },
            { "features", fmt::format("{:#x}", c->negotiated_features()) },
            { "activations", c->activations() },
            { "notifies", c->kicked_notifies() },
            { "trapped_notifies", c->trapped_notifies() },
        };
        if (s.pci) {
            // Where the guest has the BARs now (it may have moved them), and how it interrupts.
            nlohmann::json bars = nlohmann::json::array();
            const pci::BarSpecs specs = s.pci->bars();
            for (std::uint8_t i = 0; i < specs.size(); ++i) {
                if (specs[i].kind != pci::BarKind::none) {
                    bars.push_back({ { "index", i }, { "address", fmt::format("{:#x}", s.pci->current_bar_address(i)) },
                        { "size", fmt::format("{:#x}", specs[i].size) } });
                }
            }
            entry["bdf"] = fmt::format("0000:00:{:02x}.0", s.pci_slot);
            entry["bars"] = std::move(bars);
            entry["msix"] = s.pci->msix_enabled();
        }
        out.push_back(std::move(entry));
    }
    return out;
}

void VirtioDevices::reset_all()
{
    for (auto& s : slots_) {
        if (s.mmio) {
            s.mmio->reset();
        }
        if (s.pci) {
            s.pci->reset();
        }
    }
}

} // namespace vmm
