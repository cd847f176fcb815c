// SPDX-License-Identifier: Apache-2.0
// VirtioDevices: planning, building and reporting.
#include "vmm/virtio/virtio_devices.hpp"

#include <algorithm>
#include <iterator>

#include "arch/x86_64/cpu/ram_layout.hpp"
#include "arch/x86_64/layout.hpp"
#include "virtio/devices/block/block_device.hpp"
#include "virtio/devices/block/fault_backend.hpp"
#include "virtio/devices/net/backend/fault_backend.hpp"
#include "virtio/devices/net/net_device.hpp"
#include "virtio/devices/pmem/pmem_config.hpp"
#include "virtio/devices/pmem/pmem_device.hpp"
#include "virtio/devices/params.hpp"
#include "virtio/devices/scsi/scsi_config.hpp"
#include "virtio/devices/vsock/vsock_device.hpp"
#include "virtio/fault_plan.hpp"
#include "virtio/registry.hpp"
#include "vmm/base/log.hpp"

namespace vmm {

namespace {

// Endpoint IDs and the VIOT for the devices behind the virtio-iommu.
Result<> plan_iommu(const config::VmConfig& cfg, VirtioPlan& plan)
{
    const config::DeviceConfig* first_behind = nullptr;
    for (std::size_t i = 0; i < plan.entries.size(); ++i) {
        const auto& d = *plan.entries[i].config;
        if (d.type == "iommu") {
            if (plan.iommu) {
                return fail(Errc::invalid_argument, "{} (type \"iommu\"): there can be only one virtio-iommu ({} is one)",
                    d.origin, plan.entries[*plan.iommu].config->origin);
            }
            plan.iommu = i;
        }
        if (d.iommu && first_behind == nullptr) {
            first_behind = &d;
        }
    }
    if (first_behind != nullptr && !plan.iommu) {
        return fail(Errc::invalid_argument,
            "{} (type \"{}\"): \"iommu\": true, but no device of type \"iommu\" is configured; add one, e.g. "
            "--device type=iommu",
            first_behind->origin, first_behind->type);
    }
    if (!plan.iommu) {
        return {};
    }
    // Bus 0, function 0: the BDF is the device number shifted past the 3 function bits.
    const auto bdf = [](const VirtioPlan::Entry& e) { return static_cast<std::uint16_t>(e.pci_slot << 3); };
    acpi::ViotTopology viot;
    const auto& iommu = plan.entries[*plan.iommu];
    if (iommu.config->transport == config::Transport::mmio) {
        viot.iommu_mmio_base = iommu.mmio.base;
    } else {
        viot.iommu_pci_bdf = bdf(iommu);
    }
    for (auto& e : plan.entries) {
        if (!e.config->iommu) {
            continue;
        }
        if (e.config->transport == config::Transport::mmio) {
            const auto slot = static_cast<std::uint32_t>((e.mmio.base - x86::VIRTIO_MMIO_START) / x86::VIRTIO_MMIO_SLOT_SIZE);
            e.endpoint = VirtioPlan::MMIO_ENDPOINT_BASE + slot;
            viot.mmio_endpoints.push_back({ *e.endpoint, e.mmio.base });
        } else {
            // One range per function: the functions not behind the IOMMU must stay out of it,
            // or the guest would program translations that their DMA never uses.
            e.endpoint = bdf(e);
            viot.pci_ranges.push_back({ *e.endpoint, bdf(e), bdf(e) });
        }
    }
    (void)cfg;
    plan.viot = viot;
    return {};
}

// Hot-plug regions go first in device memory, after the 64-bit PCI window: RAM the guest's
// memory hot-plug adds must not overlap anything its firmware tables describe.
Result<> plan_hotplug(const config::VmConfig& cfg, VirtioPlan& plan)
{
    const auto ram = x86::ram_layout(cfg.memory);
    std::uint64_t next = x86::device_memory_start(ram.back().base.raw + ram.back().size);
    for (auto& e : plan.entries) {
        const std::uint64_t size = VMM_TRY(virtio::device_hotplug_size(*e.config));
        if (size == 0) {
            continue;
        }
        const std::uint64_t base = (next + x86::DEVICE_MEMORY_ALIGN - 1) / x86::DEVICE_MEMORY_ALIGN * x86::DEVICE_MEMORY_ALIGN;
        e.hotplug = MemoryRegionSpec { GuestAddress { base }, size, true };
        plan.hotplug.push_back(*e.hotplug);
        next = base + size;
    }
    plan.device_memory_start = next;
    return {};
}

} // namespace

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
    VMM_TRY(plan_iommu(cfg, plan));
    VMM_TRY(plan_hotplug(cfg, plan));
    if (cfg.mmio_discovery == config::MmioDiscovery::cmdline) {
        plan.mmio_slots.clear(); // described on the command line instead of in the DSDT
    }
    return plan;
}

VirtioDevices::VirtioDevices(const Context& ctx)
    : ctx_(ctx)
    , host_(*ctx.loop, *ctx.vm)
    , direct_dma_(*ctx.memory)
    , next_window_(ctx.device_memory_start)
    , next_memory_slot_(ctx.first_free_memory_slot)
{
}

VirtioDevices::~VirtioDevices() = default;

Result<std::unique_ptr<VirtioDevices>> VirtioDevices::create(
    const VirtioPlan& plan, const Context& ctx, bool* config_error)
{
    auto devices = std::unique_ptr<VirtioDevices>(new VirtioDevices(ctx));
    // Every device model first, so that the IOMMU exists (and takes its endpoints) before any
    // transport behind it is built.
    std::vector<std::unique_ptr<virtio::Device>> models;
    for (const auto& e : plan.entries) {
        virtio::DeviceResources resources;
        resources.loop = ctx.loop;
        resources.cpus = ctx.cpus;
        resources.memory = ctx.memory;
        if (e.hotplug) {
            resources.hotplug_region = e.hotplug->base;
        }
        resources.on_console_quit = ctx.on_console_quit;
        auto device = virtio::make_device(*e.config, resources);
        if (!device) {
            *config_error = true; // unknown type, bad keys, a file that cannot be opened
            return fail(std::move(device).error());
        }
        models.push_back(std::move(device).value());
    }
    if (plan.iommu) {
        // Invariant: plan_virtio() picked the entry by its type, and the registry builds an
        // IommuDevice for that type.
        devices->iommu_ = dynamic_cast<virtio::IommuDevice*>(models[*plan.iommu].get());
        VMM_ASSERT(devices->iommu_ != nullptr);
    }
    for (std::size_t i = 0; i < plan.entries.size(); ++i) {
        VMM_TRY(devices->add(plan.entries[i], std::move(models[i]), config_error));
    }
    return devices;
}

Result<> VirtioDevices::add(const VirtioPlan::Entry& entry, std::unique_ptr<virtio::Device> device, bool* config_error)
{
    const config::DeviceConfig& cfg = *entry.config;
    VMM_TRY(map_guest_window(cfg, *device));
    Slot slot;
    slot.origin = cfg.origin;
    slot.id = cfg.id.value_or(cfg.origin);
    slot.type = cfg.type;
    slot.transport = cfg.transport;
    virtio::TransportOptions options;
    options.dma.direct = &direct_dma_;
    options.packed = cfg.packed;
    options.notification_data = cfg.notification_data; // unset: the transport's default
    if (entry.endpoint) {
        // Invariant: plan_virtio() gives endpoints only when there is an IOMMU.
        options.dma.translated = &iommu_->add_endpoint(*entry.endpoint, direct_dma_);
    }

    switch (cfg.transport) {
    case config::Transport::mmio: {
        slot.address = entry.mmio.base;
        options.name = fmt::format("virtio-mmio@{:#x} ({})", entry.mmio.base, cfg.type);
        auto line = VMM_TRY(host_.make_irq_line(entry.mmio.irq));
        virtio::MmioOptions mo;
        mo.base = entry.mmio.base;
        mo.transport = std::move(options);
        slot.mmio = VMM_TRY(virtio::MmioTransport::create(std::move(device), host_, std::move(line), mo));
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
            virtio::PciTransport::create(std::move(device), host_, *ctx_.msi, std::move(line), std::move(po)));
        VMM_TRY(ctx_.bars->assign(*slot.pci));
        VMM_TRY(ctx_.pci->add(dev, slot.pci));
        slot.address = slot.pci->bar_address(virtio::PciTransport::REGS_BAR);
        break;
    }
    }
    if (!cfg.virtio_faults.is_null()) {
        // Invariant: make_device() validated the entry, virtio_faults included.
        const auto plan = virtio::parse_fault_plan(cfg.virtio_faults, "virtio_faults", virtio::FaultPlanSource::config);
        VMM_ASSERT(plan.has_value());
        if (auto applied = virtio::apply_fault_plan(*plan, *core(slot), "virtio_faults"); !applied) {
            // The status rules are read against the device's own table only now.
            *config_error = true;
            return fail(Errc::invalid_argument, "{} (type \"{}\"): {}", cfg.origin, cfg.type, applied.error().describe());
        }
    }
    slots_.push_back(std::move(slot));
    return {};
}

Result<> VirtioDevices::map_guest_window(const config::DeviceConfig& cfg, virtio::Device& device)
{
    const auto w = device.guest_window();
    if (!w) {
        return {};
    }
    // Invariant: a device's window is page aligned with a power-of-two alignment.
    VMM_ASSERT(w->align != 0 && (w->align & (w->align - 1)) == 0 && w->size % w->align == 0);
    const std::uint64_t align = std::max(w->align, x86::DEVICE_MEMORY_ALIGN);
    const std::uint64_t gpa = (next_window_ + align - 1) / align * align;
    // KVM_MEM_READONLY: guest writes exit to the VMM as MMIO, where nothing claims them.
    VMM_TRY(ctx_.vm->set_user_memory_region(
        next_memory_slot_, gpa, w->size, w->host, w->read_only ? KVM_MEM_READONLY : 0));
    ++next_memory_slot_;
    next_window_ = gpa + w->size;
    device.place_guest_window(gpa);
    spdlog::debug("{} (type \"{}\"): {} MiB{} at guest-physical {:#x}", cfg.origin, cfg.type, w->size >> 20,
        w->read_only ? " read-only" : "", gpa);
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
            { "id", s.id },
            { "type", s.type },
            { "transport", config::to_string(s.transport) },
            { "address",
                fmt::format("{:#x}", s.pci ? s.pci->current_bar_address(virtio::PciTransport::REGS_BAR) : s.address) },
            { "status", c->status() },
            { "features", fmt::format("{:#x}", c->negotiated_features()) },
            { "activations", c->activations() },
            { "notifies", c->kicked_notifies() },
            { "trapped_notifies", c->trapped_notifies() },
            { "driver_violations", c->conformance().to_json() },
        };
        if (const auto* sf = core(s)->device().status_faults(); sf != nullptr && !sf->empty()) {
            entry["injected_status"] = sf->to_json();
        }
        if (const auto* t = c->timing(); t != nullptr && t->ever_used()) {
            entry["injected_timing"] = virtio::timing_json(*t);
        }
        if (auto device = c->device().status(); !device.is_null()) {
            entry["device"] = std::move(device);
        }
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
            if (s.pci->unplugged()) {
                entry["unplugged"] = true;
                entry["accesses_after_unplug"] = s.pci->accesses_after_unplug();
            }
        }
        out.push_back(std::move(entry));
    }
    return out;
}

nlohmann::json VirtioDevices::iommu_state() const
{
    return iommu_ != nullptr ? iommu_->state() : nlohmann::json();
}

Result<nlohmann::json> VirtioDevices::scsi_command(const std::string& command, const nlohmann::json& request)
{
    auto* scsi = dynamic_cast<virtio::scsi::ScsiController*>(VMM_TRY(requested_device(request, command, "scsi")));
    VMM_ASSERT(scsi != nullptr); // the registry builds a ScsiController for "scsi"
    // The unit's address and, for scsi-add, its image and options: the keys of a "luns" element.
    nlohmann::json unit = request;
    unit.erase("command");
    unit.erase("id");
    if (command == "scsi-add") {
        VMM_TRY(virtio::params::check_keys(unit, "", virtio::scsi::scsi_lun_keys()));
        const auto lun = VMM_TRY(virtio::scsi::parse_lun(unit, "", std::filesystem::current_path()));
        auto disk = VMM_TRY(virtio::scsi::open_lun(lun, ctx_.loop));
        VMM_TRY(scsi->add_lun(lun.at, std::move(disk)));
        return nlohmann::json { { "target", lun.at.target }, { "lun", lun.at.lun } };
    }
    virtio::scsi::LunAddress at;
    const auto t = request.find("target");
    const auto l = request.find("lun");
    if (t == request.end() || !t->is_number_unsigned() || l == request.end() || !l->is_number_unsigned()) {
        return fail(Errc::invalid_argument, "{} needs \"target\" and \"lun\" (numbers)", command);
    }
    at.target = static_cast<std::uint16_t>(std::min<std::uint64_t>(t->get<std::uint64_t>(), UINT16_MAX));
    at.lun = static_cast<std::uint16_t>(std::min<std::uint64_t>(l->get<std::uint64_t>(), UINT16_MAX));
    if (command == "scsi-remove") {
        VMM_TRY(scsi->remove_lun(at));
        return nlohmann::json { { "target", at.target }, { "lun", at.lun } };
    }
    const auto size = request.find("size");
    const std::uint64_t bytes
        = VMM_TRY(config::size_value(size == request.end() ? nullptr : &*size, "scsi-resize needs \"size\""));
    const std::uint64_t blocks = VMM_TRY(scsi->resize_lun(at, bytes));
    return nlohmann::json { { "target", at.target }, { "lun", at.lun }, { "blocks", blocks } };
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

nlohmann::json VirtioDevices::driver_violations() const
{
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : slots_) {
        const virtio::TransportCore* c = core(s);
        if (c == nullptr || c->conformance().total() == 0) {
            continue;
        }
        out.push_back({ { "id", s.id }, { "type", s.type }, { "transport", config::to_string(s.transport) },
            { "violations", c->conformance().to_json() } });
    }
    return out;
}

Result<nlohmann::json> VirtioDevices::inject_faults(const std::string& id, const nlohmann::json& request)
{
    virtio::Device* device = VMM_TRY(find_device(id, ""));
    Slot* slot = nullptr;
    for (auto& s : slots_) {
        if (s.id == id) {
            slot = &s;
        }
    }
    VMM_ASSERT(slot != nullptr && core(*slot) != nullptr); // find_device found its transport
    virtio::TransportCore* c = core(*slot);
    // Checked first, applied after: a bad request changes nothing.
    // The fault-taking parts of the device kinds that have their own rules (null elsewhere).
    // Block and pmem devices both sit on a block FaultBackend (pmem's takes its flushes).
    virtio::block::BlockBackend* storage = nullptr;
    auto* pmem = dynamic_cast<virtio::pmem::PmemDevice*>(device);
    if (auto* blk = dynamic_cast<virtio::block::BlockDevice*>(device)) {
        storage = &blk->backend();
    } else if (pmem != nullptr) {
        storage = &pmem->backend();
    }
    auto* faulty = dynamic_cast<virtio::block::FaultBackend*>(storage);
    auto* net = dynamic_cast<virtio::net::NetDevice*>(device);
    auto* net_faulty = net != nullptr ? dynamic_cast<virtio::net::FaultNetBackend*>(&net->backend()) : nullptr;
    auto* iommu = dynamic_cast<virtio::IommuDevice*>(device);
    std::optional<std::vector<virtio::block::BlockFault>> rules;
    std::optional<std::vector<virtio::net::NetFault>> net_rules;
    std::optional<std::vector<virtio::IommuFaultRule>> iommu_rules;
    std::uint64_t seed = 1;
    const bool has_rules = request.contains("faults");
    if (const auto f = request.find("faults"); f != request.end()) {
        if (faulty != nullptr) {
            rules = pmem != nullptr ? VMM_TRY(virtio::pmem::parse_pmem_faults(*f, "faults"))
                                    : VMM_TRY(virtio::block::parse_block_faults(*f, "faults"));
        } else if (iommu != nullptr) {
            iommu_rules = VMM_TRY(virtio::parse_iommu_faults(*f, "faults"));
        } else if (net_faulty != nullptr) {
            net_rules = VMM_TRY(virtio::net::parse_net_faults(*f, "faults"));
            if (const auto sd = request.find("seed"); sd != request.end()) {
                if (!sd->is_number_unsigned()) {
                    return fail(Errc::invalid_argument, "seed: expected a whole number");
                }
                seed = sd->get<std::uint64_t>();
            }
        } else {
            return fail(Errc::unsupported,
                "device \"{}\" takes no request fault rules (\"faults\"); block, pmem, net and iommu devices do", id);
        }
    }
    // A net device's link going down and up by itself: {"link_flap": {"down_ms": D, "up_ms": U}}.
    std::optional<virtio::net::LinkFlap> flap;
    if (const auto lf = request.find("link_flap"); lf != request.end()) {
        if (net_faulty == nullptr) {
            return fail(Errc::unsupported, "device \"{}\" has no link to flap; net devices do", id);
        }
        flap = VMM_TRY(virtio::net::parse_link_flap(*lf, "link_flap"));
    }
    // Surprise removal of a virtio-pci function: {"unplug": true}. For good: nothing plugs it back.
    virtio::PciTransport* unplug = nullptr;
    if (const auto u = request.find("unplug"); u != request.end()) {
        if (!u->is_boolean() || !u->get<bool>()) {
            return fail(Errc::invalid_argument, "unplug: expected true (a removed device does not come back)");
        }
        unplug = slot->pci.get();
        if (unplug == nullptr) {
            return fail(Errc::unsupported, "unplug: device \"{}\" is on virtio-mmio, which has no hot-plug; "
                "virtio-pci devices can be unplugged", id);
        }
    }
    // The request's other keys are the plan that any device takes.
    constexpr std::array<std::string_view, 6> REQUEST_KEYS { "command", "id", "faults", "seed", "link_flap", "unplug" };
    const auto plan = VMM_TRY(virtio::parse_fault_plan(request, "", virtio::FaultPlanSource::api, REQUEST_KEYS));
    if (!rules && !net_rules && !iommu_rules && !flap && unplug == nullptr && plan.empty()) {
        std::string keys;
        for (std::string_view k : virtio::fault_plan_keys(virtio::FaultPlanSource::api)) {
            keys += fmt::format(", \"{}\"", k);
        }
        return fail(Errc::invalid_argument,
            "fault-inject needs one of \"faults\" (block, pmem, net and iommu rules), \"link_flap\" (net), \"unplug\" (pci){}",
            keys);
    }
    VMM_TRY(virtio::apply_fault_plan(plan, *c));
    if (rules) {
        VMM_TRY(faulty->set_faults(std::move(*rules)));
    }
    if (net_rules) {
        VMM_TRY(net_faulty->set_faults(std::move(*net_rules), seed));
    }
    if (iommu_rules) {
        iommu->injected_faults().set(std::move(*iommu_rules));
    }
    if (flap) {
        VMM_TRY(net_faulty->set_link_flap(flap->down, flap->up));
    }
    if (unplug != nullptr && !unplug->unplugged()) {
        // This is the loop thread: a vCPU holding the transport's lock may be waiting for it.
        unplug->unplug([this] {
            if (ctx_.loop != nullptr) {
                (void)ctx_.loop->run_waiting_calls();
            }
        });
        if (ctx_.pci_bus_check) {
            ctx_.pci_bus_check();
        }
    }
    nlohmann::json out = { { "id", id }, { "status", c->status() }, { "refuse_features_ok", c->refuses_features_ok() },
        { "timing", virtio::timing_json(*c->timing()) } };
    if (unplug != nullptr) {
        out["unplugged"] = true;
    }
    if (auto* sf = c->device().status_faults(); sf != nullptr) {
        out["status_faults"] = sf->to_json();
    }
    // The device's own rules are in the reply when the request was about them.
    if (faulty != nullptr && has_rules) {
        out["faults"] = virtio::block::faults_json(faulty->faults());
    }
    if (net_faulty != nullptr && (has_rules || flap)) {
        out["faults"] = virtio::net::net_faults_json(net_faulty->faults(), net_faulty->seed());
        out["link_flap"] = virtio::net::link_flap_json(net_faulty->link_flap());
        out["link_up"] = net_faulty->link_up();
    }
    if (iommu != nullptr) {
        out["faults"] = virtio::iommu_faults_json(iommu->injected_faults().rules());
    }
    return out;
}

Result<virtio::Device*> VirtioDevices::requested_device(
    const nlohmann::json& request, std::string_view command, std::string_view type)
{
    const auto id = request.find("id");
    if (id == request.end() || !id->is_string()) {
        return fail(Errc::invalid_argument, "{} needs \"id\" (a {} device's id)", command, type);
    }
    return find_device(id->get<std::string>(), type);
}

Result<virtio::Device*> VirtioDevices::find_device(const std::string& id, std::string_view type)
{
    std::string known;
    for (auto& s : slots_) {
        if (!type.empty() && s.type != type) {
            continue; // an empty type: any device
        }
        if (s.id == id) {
            virtio::TransportCore* c = core(s);
            if (c == nullptr) {
                return fail(Errc::not_found, "device \"{}\" has no transport", id);
            }
            return &c->device();
        }
        known += (known.empty() ? "" : ", ") + s.id;
    }
    const std::string_view kind = type.empty() ? std::string_view("virtio") : type;
    return fail(Errc::not_found, "no {} device \"{}\" ({} devices: {})", kind, id, kind, known.empty() ? "none" : known);
}

Result<nlohmann::json> VirtioDevices::set_net_link(const std::string& id, bool up)
{
    auto* net = dynamic_cast<virtio::net::NetDevice*>(VMM_TRY(find_device(id, "net")));
    if (net == nullptr) {
        return fail(Errc::not_found, "device \"{}\" is not a net device", id);
    }
    net->set_link(up);
    return nlohmann::json { { "id", id }, { "link_up", net->link_up() } };
}

Result<nlohmann::json> VirtioDevices::vsock_reset(const std::string& id)
{
    auto* vsock = dynamic_cast<virtio::vsock::VsockDevice*>(VMM_TRY(find_device(id, "vsock")));
    if (vsock == nullptr) {
        return fail(Errc::not_found, "device \"{}\" is not a vsock device", id);
    }
    vsock->transport_reset();
    return nlohmann::json { { "id", id }, { "transport_resets", vsock->counters().transport_resets } };
}

Result<nlohmann::json> VirtioDevices::net_announce(const std::string& id)
{
    auto* net = dynamic_cast<virtio::net::NetDevice*>(VMM_TRY(find_device(id, "net")));
    if (net == nullptr) {
        return fail(Errc::not_found, "device \"{}\" is not a net device", id);
    }
    VMM_TRY(net->announce());
    return nlohmann::json { { "id", id } };
}

void VirtioDevices::resumed(std::chrono::nanoseconds paused_for)
{
    for (auto& s : slots_) {
        if (virtio::TransportCore* c = core(s)) {
            c->device().on_resume(paused_for);
        }
    }
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
