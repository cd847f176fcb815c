// SPDX-License-Identifier: Apache-2.0
// VirtioDevices: planning, building and reporting.
#include "vmm/virtio/virtio_devices.hpp"

#include <algorithm>
#include <iterator>

#include "arch/x86_64/layout.hpp"
#include "virtio/devices/block/block_device.hpp"
#include "virtio/devices/block/fault_backend.hpp"
#include "virtio/devices/net/backend/fault_backend.hpp"
#include "virtio/devices/net/net_device.hpp"
#include "virtio/devices/vsock/vsock_device.hpp"
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
    // Every device model first, so that the IOMMU exists (and takes its endpoints) before any
    // transport behind it is built.
    std::vector<std::unique_ptr<virtio::Device>> models;
    for (const auto& e : plan.entries) {
        virtio::DeviceResources resources;
        resources.loop = ctx.loop;
        resources.cpus = ctx.cpus;
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
        VMM_TRY(devices->add(plan.entries[i], std::move(models[i])));
    }
    return devices;
}

Result<> VirtioDevices::add(const VirtioPlan::Entry& entry, std::unique_ptr<virtio::Device> device)
{
    const config::DeviceConfig& cfg = *entry.config;
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

namespace {

nlohmann::json timing_json(const virtio::TimingFaults& t)
{
    return { { "delay_interrupts_ms", t.interrupt_delay().count() }, { "config_interrupt_every_ms", t.config_period().count() },
        { "delay_used_ms", t.used_delay().count() }, { "reorder_used_every", t.reorder_every() },
        { "drop_interrupts_every", t.drop_every() }, { "duplicate_interrupts_every", t.duplicate_every() },
        { "held_notifies", t.held_notifies() }, { "delayed_interrupts", t.delayed_interrupts() },
        { "config_interrupts", t.config_interrupts() }, { "delayed_used", t.delayed_used() },
        { "reordered_used", t.reordered_used() }, { "dropped_interrupts", t.dropped_interrupts() },
        { "duplicated_interrupts", t.duplicated_interrupts() } };
}

} // namespace

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
        if (const auto* t = c->timing(); t != nullptr && t->ever_used()) {
            entry["injected_timing"] = timing_json(*t);
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
        }
        out.push_back(std::move(entry));
    }
    return out;
}

nlohmann::json VirtioDevices::iommu_state() const
{
    return iommu_ != nullptr ? iommu_->state() : nlohmann::json();
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
    virtio::TransportCore* c = nullptr;
    for (auto& s : slots_) {
        if (s.id == id) {
            c = core(s);
        }
    }
    VMM_ASSERT(c != nullptr); // find_device found its transport
    // Checked first, applied after: a bad request changes nothing.
    std::optional<std::vector<virtio::block::BlockFault>> rules;
    virtio::block::FaultBackend* faulty = nullptr;
    std::optional<std::vector<virtio::net::NetFault>> net_rules;
    virtio::net::FaultNetBackend* net_faulty = nullptr;
    std::uint64_t seed = 1;
    if (const auto f = request.find("faults"); f != request.end()) {
        auto* blk = dynamic_cast<virtio::block::BlockDevice*>(device);
        auto* net = dynamic_cast<virtio::net::NetDevice*>(device);
        faulty = blk != nullptr ? dynamic_cast<virtio::block::FaultBackend*>(&blk->backend()) : nullptr;
        net_faulty = net != nullptr ? dynamic_cast<virtio::net::FaultNetBackend*>(&net->backend()) : nullptr;
        if (faulty != nullptr) {
            rules = VMM_TRY(virtio::block::parse_block_faults(*f, "faults"));
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
                "device \"{}\" takes no request fault rules (\"faults\"); block and net devices do", id);
        }
    }
    std::optional<bool> refuse;
    if (const auto r = request.find("refuse_features_ok"); r != request.end()) {
        if (!r->is_boolean()) {
            return fail(Errc::invalid_argument, "refuse_features_ok: expected true or false");
        }
        refuse = r->get<bool>();
    }
    // Timing faults: {"stall_queue": {"queue": 0, "ms": 2000}}, "delay_interrupts_ms": 50,
    // "config_interrupt_every_ms": 100 (0 turns either off).
    // Whole numbers, clamped rather than wrapped: a huge value stays huge and TimingFaults
    // refuses it. Milliseconds, or counts for the every-Nth faults (0 turns any of them off).
    auto whole = [&](const char* key) -> Result<std::optional<std::uint32_t>> {
        const auto v = request.find(key);
        if (v == request.end()) {
            return std::optional<std::uint32_t> {};
        }
        if (!v->is_number_unsigned()) {
            return fail(Errc::invalid_argument, "{}: expected a whole number (0 turns it off)", key);
        }
        return std::optional<std::uint32_t>(
            static_cast<std::uint32_t>(std::min<std::uint64_t>(v->get<std::uint64_t>(), UINT32_MAX)));
    };
    auto millis = [&](const char* key) -> Result<std::optional<std::chrono::milliseconds>> {
        const auto n = VMM_TRY(whole(key));
        return n ? std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(*n)) : std::nullopt;
    };
    const auto irq_delay = VMM_TRY(millis("delay_interrupts_ms"));
    const auto config_every = VMM_TRY(millis("config_interrupt_every_ms"));
    const auto used_delay = VMM_TRY(millis("delay_used_ms"));
    const auto reorder = VMM_TRY(whole("reorder_used_every"));
    const auto drop = VMM_TRY(whole("drop_interrupts_every"));
    const auto duplicate = VMM_TRY(whole("duplicate_interrupts_every"));
    std::optional<std::pair<std::uint16_t, std::chrono::milliseconds>> stall;
    if (const auto st = request.find("stall_queue"); st != request.end()) {
        const auto q = st->is_object() ? st->find("queue") : st->end();
        const auto ms = st->is_object() ? st->find("ms") : st->end();
        if (!st->is_object() || q == st->end() || ms == st->end() || !q->is_number_unsigned() || !ms->is_number_unsigned()
            || q->get<std::uint64_t>() > 0xffff) {
            return fail(Errc::invalid_argument, "stall_queue: expected {{\"queue\": INDEX, \"ms\": MILLISECONDS}}");
        }
        stall.emplace(static_cast<std::uint16_t>(q->get<std::uint64_t>()),
            std::chrono::milliseconds(std::min<std::uint64_t>(ms->get<std::uint64_t>(), UINT32_MAX)));
    }
    bool needs_reset = false;
    if (const auto n = request.find("needs_reset"); n != request.end()) {
        if (!n->is_boolean()) {
            return fail(Errc::invalid_argument, "needs_reset: expected true (false does nothing)");
        }
        needs_reset = n->get<bool>();
    }
    if (!rules && !net_rules && !refuse && !needs_reset && !irq_delay && !config_every && !stall && !used_delay
        && !reorder && !drop && !duplicate) {
        return fail(Errc::invalid_argument,
            "fault-inject needs one of \"faults\" (block and net rules), \"needs_reset\": true, \"refuse_features_ok\", "
            "\"stall_queue\", \"delay_used_ms\", \"reorder_used_every\", \"delay_interrupts_ms\", "
            "\"drop_interrupts_every\", \"duplicate_interrupts_every\" or \"config_interrupt_every_ms\"");
    }
    virtio::TimingFaults& timing = *c->timing();
    // The counts are checked before anything changes.
    VMM_TRY(timing.check_every("reorder_used_every", reorder.value_or(0), 2));
    VMM_TRY(timing.check_every("drop_interrupts_every", drop.value_or(0), 2));
    VMM_TRY(timing.check_every("duplicate_interrupts_every", duplicate.value_or(0), 1));
    if (stall) {
        VMM_TRY(timing.stall_queue(stall->first, stall->second));
    }
    if (irq_delay) {
        VMM_TRY(timing.delay_interrupts(*irq_delay));
    }
    if (config_every) {
        VMM_TRY(timing.config_interrupts_every(*config_every));
    }
    if (used_delay) {
        VMM_TRY(timing.delay_used(*used_delay));
    }
    if (reorder) {
        VMM_TRY(timing.reorder_used_every(*reorder));
    }
    if (drop) {
        VMM_TRY(timing.drop_interrupts_every(*drop));
    }
    if (duplicate) {
        VMM_TRY(timing.duplicate_interrupts_every(*duplicate));
    }
    if (rules) {
        VMM_TRY(faulty->set_faults(std::move(*rules)));
    }
    if (net_rules) {
        VMM_TRY(net_faulty->set_faults(std::move(*net_rules), seed));
    }
    if (refuse) {
        c->set_refuse_features_ok(*refuse);
    }
    if (needs_reset) {
        spdlog::info("{}: DEVICE_NEEDS_RESET (injected fault)", c->name());
        c->signal_needs_reset();
    }
    nlohmann::json out = { { "id", id }, { "status", c->status() }, { "refuse_features_ok", c->refuses_features_ok() },
        { "timing", timing_json(timing) } };
    if (faulty != nullptr) {
        out["faults"] = virtio::block::faults_json(faulty->faults());
    }
    if (net_faulty != nullptr) {
        out["faults"] = virtio::net::net_faults_json(net_faulty->faults(), net_faulty->seed());
    }
    return out;
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
