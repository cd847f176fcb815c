// SPDX-License-Identifier: Apache-2.0
// VM assembly: memory → platform devices → firmware tables → kernel → vCPUs; then the loop.
#include "vmm/vm.hpp"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <vector>

#include <cstdio>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "arch/x86_64/cpu/ram_layout.hpp"
#include "arch/x86_64/cpu/vcpu_init.hpp"
#include "arch/x86_64/e820.hpp"
#include "arch/x86_64/layout.hpp"
#include "firmware/acpi/tables.hpp"
#include "firmware/loader/kernel.hpp"
#include "vmm/api/api_server.hpp"
#include "vmm/base/log.hpp"
#include "vmm/bus/bus.hpp"
#include "vmm/config/exit_status.hpp"
#include "vmm/console/console.hpp"
#include "vmm/devices/acpi_pm.hpp"
#include "vmm/devices/debug_ports.hpp"
#include "vmm/devices/i8042.hpp"
#include "vmm/devices/serial.hpp"
#include "vmm/kvm/irq_routing.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/loop/event_loop.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/pci/bar_allocator.hpp"
#include "vmm/pci/host_bridge.hpp"
#include "vmm/vcpu/vcpu.hpp"
#include "vmm/virtio/virtio_devices.hpp"

namespace vmm {

using namespace vmm::x86;

struct Vm::Impl {
    config::VmConfig cfg;
    VmHooks hooks;
    EventLoop loop;
    std::optional<kvm::Kvm> kvm_sys;
    std::optional<kvm::VmFd> vm_fd;
    std::optional<GuestMemory> memory;
    Bus pio { "pio" };
    Bus mmio { "mmio" };
    std::unique_ptr<Console> console;
    std::shared_ptr<Serial> serial;
    std::shared_ptr<AcpiGed> ged;
    VirtioPlan virtio_plan;
    // MSI-X routes outlive the devices whose vectors they carry.
    std::unique_ptr<kvm::KvmMsiRouter> msi;
    std::optional<pci::BarAllocator> bar_allocator;
    std::unique_ptr<VirtioDevices> virtio;
    // Destroyed before the devices: it takes their BARs off the buses first.
    std::unique_ptr<pci::PciHostBridge> pci;
    std::vector<std::unique_ptr<Vcpu>> vcpus;
    std::unique_ptr<ApiServer> api;
    std::optional<boost::asio::signal_set> signals;
    std::optional<boost::asio::signal_set> state_signal; // SIGUSR1: log every vCPU's state
    std::optional<boost::asio::steady_timer> deadline_timer;
    nlohmann::json timeout_vcpus;         // the vCPUs' state when the deadline passed
    std::optional<StopEvent> stop_event; // loop thread only
    bool paused = false;                 // loop thread only
    std::chrono::steady_clock::time_point paused_at; // when `paused` was set
    std::chrono::steady_clock::time_point started;
    BootInfo boot_info {};

    Result<> build(bool* config_error);
    Result<> setup_memory();
    Result<> open_kvm(bool* config_error);
    Result<> setup_devices();
    Result<> setup_pci();
    pci::Window pci_mmio64_window() const;
    Result<> setup_virtio(bool* config_error);
    Result<> load_kernel(bool* config_error);
    Result<> write_acpi();
    Result<> setup_vcpus();
    void request_stop(StopEvent e); // any thread
    void on_stop(StopEvent e);      // loop thread
    Result<nlohmann::json> on_api(const std::string& command, const nlohmann::json& request);
    nlohmann::json status() const;
    void pause_vcpus();                  // loop thread
    nlohmann::json vcpu_state();         // loop thread
    void log_vcpu_state(const char* why); // loop thread
    void wait_state_signal();             // loop thread
};

namespace {

ConsoleSpec console_spec(const config::ConsoleConfig& c)
{
    ConsoleSpec spec;
    switch (c.mode) {
    case config::ConsoleMode::stdio:
        spec.mode = ConsoleSpec::Mode::stdio;
        break;
    case config::ConsoleMode::file:
        spec.mode = ConsoleSpec::Mode::file;
        break;
    case config::ConsoleMode::socket:
        spec.mode = ConsoleSpec::Mode::socket;
        break;
    case config::ConsoleMode::off:
        spec.mode = ConsoleSpec::Mode::off;
        break;
    }
    spec.path = c.path;
    return spec;
}

const char* kvm_device_path()
{
    // Tests point this elsewhere to check the "no KVM" message on machines that have KVM.
    const char* p = std::getenv("VIREO_KVM_DEVICE");
    return p != nullptr && *p != '\0' ? p : "/dev/kvm";
}

} // namespace

Result<> Vm::Impl::setup_memory()
{
    auto specs = ram_layout(cfg.memory);
    specs.insert(specs.end(), virtio_plan.hotplug.begin(), virtio_plan.hotplug.end());
    memory.emplace(
        VMM_TRY(GuestMemory::create(specs, MemoryOptions { .memfd = cfg.memfd, .hugepages = cfg.hugepages })));
    return {};
}

Result<> Vm::Impl::open_kvm(bool* config_error)
{
    auto k = kvm::Kvm::open(kvm_device_path());
    if (!k) {
        *config_error = true; // no KVM is the user's set-up to fix; the message says how
        return fail(std::move(k).error());
    }
    kvm_sys.emplace(std::move(k).value());
    vm_fd.emplace(VMM_TRY(kvm_sys->create_vm()));
    VMM_TRY(vm_fd->set_tss_addr(KVM_TSS_ADDR));
    VMM_TRY(vm_fd->set_identity_map_addr(KVM_IDENTITY_MAP_ADDR));
    VMM_TRY(vm_fd->create_irqchip());
    VMM_TRY(vm_fd->create_pit2());
    std::uint32_t slot = 0;
    for (const auto& r : memory->regions()) {
        VMM_TRY(vm_fd->set_user_memory_region(slot++, r.base().raw, r.size(), r.host()));
    }
    return {};
}

Result<> Vm::Impl::setup_devices()
{
    const kvm::VmFd* vmfd = &*vm_fd;
    ConsoleCallbacks callbacks;
    callbacks.on_input = [this](std::span<const std::byte> data) {
        if (serial) {
            serial->enqueue_input(data);
        }
    };
    callbacks.on_quit = [this] { on_stop(StopEvent { StopReason::poweroff, 0, "quit from the console" }); };
    console = VMM_TRY(open_console(loop.io(), console_spec(cfg.console), std::move(callbacks)));

    std::shared_ptr<CharSink> serial_out = console->sink();
    if (hooks.wrap_console) {
        serial_out = hooks.wrap_console(std::move(serial_out));
    }
    serial = std::make_shared<Serial>(
        [vmfd](bool level) { (void)vmfd->irq_line(IRQ_COM1, level); }, std::move(serial_out));
    VMM_TRY(pio.insert(serial, PORT_COM1, Serial::SIZE));

    auto i8042 = std::make_shared<I8042>([this] { request_stop({ StopReason::reset, 0, "i8042 reset" }); });
    static_assert(PORT_I8042_DATA + I8042::COMMAND_OFFSET == PORT_I8042_COMMAND);
    VMM_TRY(pio.insert(i8042, PORT_I8042_DATA, I8042::SIZE));

    VMM_TRY(pio.insert(std::make_shared<TestExitPort>([this](std::uint8_t code) {
        request_stop({ StopReason::test_exit, code, fmt::format("guest wrote exit code {}", code) });
    }),
        PORT_TEST_EXIT, PORT_TEST_EXIT_SIZE));
    VMM_TRY(pio.insert(std::make_shared<PostPort>(), PORT_POST, 1));
    VMM_TRY(pio.insert(std::make_shared<PvPanicPort>([this](std::uint8_t) {
        request_stop({ StopReason::crash, config::EXIT_GUEST_CRASHED, "the guest kernel panicked (pvpanic)" });
    }),
        PORT_PVPANIC, 1));

    VMM_TRY(pio.insert(std::make_shared<AcpiSleepDevice>(
                           [this] { request_stop({ StopReason::poweroff, 0, "ACPI power off" }); },
                           [this] { request_stop({ StopReason::reset, 0, "ACPI reset" }); }),
        PORT_ACPI_SLEEP, AcpiSleepDevice::SIZE));
    ged = std::make_shared<AcpiGed>([vmfd] {
        // Edge-triggered in the DSDT: a pulse on the line.
        (void)vmfd->irq_line(IRQ_ACPI_GED, true);
        (void)vmfd->irq_line(IRQ_ACPI_GED, false);
    });
    VMM_TRY(pio.insert(ged, PORT_ACPI_GED, AcpiGed::SIZE));
    return {};
}

// The PCIe host bridge is always there, with or without devices behind it, as a chipset is:
// the guest sees one machine whatever the config, and an empty bus costs it only a scan of
// 32 slots at boot.
Result<> Vm::Impl::setup_pci()
{
    pci = std::make_unique<pci::PciHostBridge>(mmio, pio);
    VMM_TRY(mmio.insert(pci->ecam(), PCI_ECAM_START, (PCI_LAST_BUS + 1) * PCI_ECAM_BUS_SIZE));
    VMM_TRY(pio.insert(pci->config_ports(), PORT_PCI_CONFIG_ADDRESS, pci::PciHostBridge::CONFIG_PORTS_SIZE));
    msi = std::make_unique<kvm::KvmMsiRouter>(*vm_fd);
    bar_allocator.emplace(pci::Window { PCI_MMIO32_START, PCI_MMIO32_SIZE }, pci_mmio64_window());
    return {};
}

pci::Window Vm::Impl::pci_mmio64_window() const
{
    return pci::Window { pci_mmio64_start(memory->ram_end().raw), PCI_MMIO64_SIZE };
}

Result<> Vm::Impl::setup_virtio(bool* config_error)
{
    VirtioDevices::Context ctx;
    ctx.loop = &loop;
    ctx.cpus = cfg.cpus;
    ctx.vm = &*vm_fd;
    ctx.memory = &*memory;
    ctx.mmio_bus = &mmio;
    ctx.on_console_quit = [this] { on_stop(StopEvent { StopReason::poweroff, 0, "quit from a console port" }); };
    ctx.pci = pci.get();
    ctx.msi = msi.get();
    ctx.bars = &*bar_allocator;
    ctx.pci_bus_check = [this] {
        if (ged) {
            ged->pci_bus_check();
        }
    };
    ctx.device_memory_start = virtio_plan.device_memory_start;
    ctx.first_free_memory_slot = static_cast<std::uint32_t>(memory->regions().size());
    virtio = VMM_TRY(VirtioDevices::create(virtio_plan, ctx, config_error));
    return {};
}

Result<> Vm::Impl::load_kernel(bool* config_error)
{
    BootRequest req;
    req.kernel = cfg.kernel;
    req.initrd = cfg.initrd;
    req.cmdline = cfg.cmdline + virtio_plan.cmdline_extra;
    // Linux uses ECAM only where the firmware reserved it (in e820, and as a motherboard
    // resource in the DSDT).
    const E820Entry ecam { PCI_ECAM_START, (PCI_LAST_BUS + 1) * PCI_ECAM_BUS_SIZE, E820_RESERVED };
    req.memory_map = build_e820(*memory, std::span(&ecam, 1));
    // build_acpi() puts the RSDP first in its blob, which write_acpi() copies to ACPI_START.
    req.rsdp_addr = ACPI_START;
    auto info = x86::load_kernel(*memory, req);
    if (!info) {
        *config_error = true; // the file given is not a kernel, or does not fit
        return fail(std::move(info).error());
    }
    boot_info = *info;
    return {};
}

Result<> Vm::Impl::write_acpi()
{
    acpi::AcpiPlatform platform;
    platform.cpus = cfg.cpus;
    platform.com1 = true;
    platform.pvpanic = true;
    platform.i8042 = true;
    platform.mmio_slots = virtio_plan.mmio_slots;
    platform.viot = virtio_plan.viot;
    const pci::Window mmio64 = pci_mmio64_window();
    platform.pci = acpi::PciHostBridgeInfo {
        .ecam_base = PCI_ECAM_START,
        .bus_start = 0,
        .bus_end = PCI_LAST_BUS,
        .mmio32_base = PCI_MMIO32_START,
        .mmio32_size = PCI_MMIO32_SIZE,
        .mmio64_base = mmio64.base,
        .mmio64_size = mmio64.size,
        .intx_gsis = { PCI_INTX_IRQS[0], PCI_INTX_IRQS[1], PCI_INTX_IRQS[2], PCI_INTX_IRQS[3] },
    };
    auto blob = VMM_TRY(acpi::build_acpi(platform, ACPI_START, ACPI_SIZE));
    VMM_ASSERT(blob.rsdp_addr == ACPI_START);
    VMM_TRY(memory->write(GuestAddress { ACPI_START }, blob.bytes));
    return {};
}

Result<> Vm::Impl::setup_vcpus()
{
    const auto supported = VMM_TRY(kvm_sys->supported_cpuid());
    const bool tsc_deadline = kvm_sys->check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    VcpuContext ctx;
    ctx.pio = &pio;
    ctx.mmio = &mmio;
    ctx.memory = &*memory;
    ctx.on_stop = [this](StopEvent e) { request_stop(std::move(e)); };
    for (std::uint32_t i = 0; i < cfg.cpus; ++i) {
        auto fd = VMM_TRY(vm_fd->create_vcpu(i));
        VMM_TRY(init_vcpu(fd, supported, CpuidTopology { .cpu_index = i, .cpu_count = cfg.cpus, .tsc_deadline = tsc_deadline }));
        if (i == 0) {
            auto regs = VMM_TRY(fd.get_regs());
            auto sregs = VMM_TRY(fd.get_sregs());
            VMM_TRY(setup_boot_cpu(*memory, boot_info, &regs, &sregs));
            VMM_TRY(fd.set_sregs(sregs));
            VMM_TRY(fd.set_regs(regs));
        }
        vcpus.push_back(std::make_unique<Vcpu>(i, std::move(fd), ctx));
    }
    return {};
}

Result<> Vm::Impl::build(bool* config_error)
{
    // The user's files are checked first (loading the kernel needs only mapped memory), so a
    // wrong kernel path or format is reported as such even on a host without KVM.
    // The plan first: it places the devices' hot-plug memory, which is mapped with RAM.
    if (auto plan = plan_virtio(cfg); plan) {
        virtio_plan = std::move(plan).value();
    } else {
        *config_error = true;
        return fail(std::move(plan).error());
    }
    VMM_TRY(setup_memory());
    VMM_TRY(load_kernel(config_error));
    VMM_TRY(open_kvm(config_error));
    VMM_TRY(setup_devices());
    VMM_TRY(setup_pci());
    VMM_TRY(setup_virtio(config_error));
    VMM_TRY(write_acpi());
    VMM_TRY(setup_vcpus());
    if (cfg.api_socket) {
        api = VMM_TRY(ApiServer::open(loop.io(), *cfg.api_socket,
            [this](const std::string& command, const nlohmann::json& request) { return on_api(command, request); }));
    }
    return {};
}

void Vm::Impl::request_stop(StopEvent e)
{
    // The machine is off (or resetting) the moment the guest asked: no vCPU runs another
    // instruction, so the guest cannot run on past its own power-off write.
    for (auto& v : vcpus) {
        v->request_stop();
    }
    loop.post([this, e = std::move(e)]() mutable { on_stop(std::move(e)); });
}

void Vm::Impl::on_stop(StopEvent e)
{
    if (stop_event) {
        return; // the first reason wins
    }
    stop_event = std::move(e);
    for (auto& v : vcpus) {
        v->request_stop();
    }
    loop.stop();
}

// A vCPU can be blocked in EventLoop::call (a device activation it must see complete) while
// this handler waits for it to park: its work runs here, or neither would move.
void Vm::Impl::pause_vcpus()
{
    for (auto& v : vcpus) {
        v->request_pause();
    }
    for (auto& v : vcpus) {
        while (!v->wait_paused(std::chrono::milliseconds(5))) {
            loop.run_waiting_calls();
        }
    }
}

// How long a report waits for each vCPU to come out of KVM_RUN: a running or halted vCPU
// answers a kick in microseconds, so this only runs out for a thread held in the VMM.
constexpr std::chrono::milliseconds VCPU_REPORT_WAIT { 200 };

nlohmann::json Vm::Impl::vcpu_state()
{
    nlohmann::json out = nlohmann::json::array();
    for (auto& v : vcpus) {
        loop.run_waiting_calls();
        out.push_back(to_json(v->report(VCPU_REPORT_WAIT)));
    }
    return out;
}

void Vm::Impl::log_vcpu_state(const char* why)
{
    spdlog::warn("vCPU state ({}):", why);
    for (auto& v : vcpus) {
        loop.run_waiting_calls();
        spdlog::warn("  {}", describe(v->report(VCPU_REPORT_WAIT)));
    }
}

void Vm::Impl::wait_state_signal()
{
    state_signal->async_wait([this](const boost::system::error_code& ec, int) {
        if (!ec) {
            log_vcpu_state("SIGUSR1");
            wait_state_signal();
        }
    });
}

nlohmann::json Vm::Impl::status() const
{
    nlohmann::json exits = nlohmann::json::array();
    for (const auto& v : vcpus) {
        exits.push_back(v->exit_count());
    }
    const auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return {
        { "state", paused ? "paused" : "running" },
        { "cpus", cfg.cpus },
        { "memory", cfg.memory },
        { "uptime_seconds", uptime },
        { "vcpu_exits", exits },
        { "devices", virtio ? virtio->status() : nlohmann::json::array() },
    };
}

Result<nlohmann::json> Vm::Impl::on_api(const std::string& command, const nlohmann::json& request)
{
    if (command == "status") {
        return status();
    }
    if (command == "pause") {
        if (!paused) {
            pause_vcpus();
            paused = true;
            paused_at = std::chrono::steady_clock::now();
        }
        return status();
    }
    if (command == "vcpu-state") {
        return vcpu_state();
    }
    if (command == "resume") {
        if (paused) {
            for (auto& v : vcpus) {
                v->resume();
            }
            paused = false;
            if (virtio) {
                virtio->resumed(std::chrono::steady_clock::now() - paused_at);
            }
        }
        return status();
    }
    if (command == "shutdown") {
        // The guest sees the ACPI power button and shuts itself down.
        ged->press_power_button();
        return nlohmann::json::object();
    }
    if (command == "iommu-state") {
        auto state = virtio ? virtio->iommu_state() : nlohmann::json();
        if (state.is_null()) {
            return fail(Errc::not_found, "this VM has no virtio-iommu");
        }
        return state;
    }
    if (command == "quit") {
        on_stop({ StopReason::poweroff, 0, "quit requested through the API" });
        return nlohmann::json::object();
    }
    if (command == "block-resize") {
        // {"command": "block-resize", "id": "data", "size": 2147483648 | "2G"}
        const auto id = request.find("id");
        const auto size = request.find("size");
        if (id == request.end() || !id->is_string() || size == request.end()) {
            return fail(Errc::invalid_argument,
                "block-resize needs \"id\" (a block device's id) and \"size\" (bytes, or a size such as \"2G\")");
        }
        const std::uint64_t bytes = VMM_TRY(config::size_value(&*size, "block-resize: \"size\""));
        return virtio ? virtio->resize_block(id->get<std::string>(), bytes)
                      : fail(Errc::not_found, "no block device \"{}\"", id->get<std::string>());
    }
    if (command == "net-link" || command == "net-announce") {
        // {"command": "net-link", "id": "net0", "up": false} / {"command": "net-announce", "id": "net0"}
        const auto id = request.find("id");
        if (id == request.end() || !id->is_string()) {
            return fail(Errc::invalid_argument, "{} needs \"id\" (a net device's id)", command);
        }
        if (!virtio) {
            return fail(Errc::not_found, "this VM has no net device");
        }
        if (command == "net-announce") {
            return virtio->net_announce(id->get<std::string>());
        }
        const auto up = request.find("up");
        if (up == request.end() || !up->is_boolean()) {
            return fail(Errc::invalid_argument, "net-link needs \"up\": true or false");
        }
        return virtio->set_net_link(id->get<std::string>(), up->get<bool>());
    }
    if (command == "scsi-add" || command == "scsi-remove" || command == "scsi-resize") {
        return virtio ? virtio->scsi_command(command, request) : fail(Errc::not_found, "this VM has no scsi device");
    }
    if (command == "balloon-set" || command == "balloon-stats" || command == "balloon-hint-start"
        || command == "balloon-hint-stop") {
        return virtio ? virtio->balloon_command(command, request)
                      : fail(Errc::not_found, "this VM has no balloon device");
    }
    if (command == "mem-resize") {
        return virtio ? virtio->mem_resize(request) : fail(Errc::not_found, "this VM has no mem device");
    }
    if (command == "vsock-reset") {
        // {"command": "vsock-reset", "id": "vsock0"}
        const auto id = request.find("id");
        if (id == request.end() || !id->is_string()) {
            return fail(Errc::invalid_argument, "vsock-reset needs \"id\" (a vsock device's id)");
        }
        return virtio ? virtio->vsock_reset(id->get<std::string>())
                      : fail(Errc::not_found, "this VM has no vsock device");
    }
    if (command == "fault-inject") {
        // {"command": "fault-inject", "id": "disk0", "faults": [{"op": "read", "error": "eio"}]}
        // {"command": "fault-inject", "id": "rng0", "needs_reset": true, "refuse_features_ok": true}
        const auto id = request.find("id");
        if (id == request.end() || !id->is_string()) {
            return fail(Errc::invalid_argument, "fault-inject needs \"id\" (a virtio device's id)");
        }
        return virtio ? virtio->inject_faults(id->get<std::string>(), request)
                      : fail(Errc::not_found, "this VM has no virtio device");
    }
    return fail(Errc::not_found,
        "unknown command '{}' (known: status, pause, resume, vcpu-state, shutdown, quit, iommu-state, "
        "block-resize, scsi-add, scsi-remove, scsi-resize, net-link, net-announce, vsock-reset, balloon-set, "
        "balloon-stats, balloon-hint-start, balloon-hint-stop, mem-resize, fault-inject)",
        command);
}

Vm::Vm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { }

Vm::~Vm()
{
    if (impl_) {
        for (auto& v : impl_->vcpus) {
            v->request_stop();
        }
        impl_->vcpus.clear(); // joins
    }
}

Result<std::unique_ptr<Vm>> Vm::create(const config::VmConfig& cfg, bool* config_error, const VmHooks& hooks)
{
    *config_error = false;
    auto impl = std::make_unique<Impl>();
    impl->cfg = cfg;
    impl->hooks = hooks;
    VMM_TRY(impl->build(config_error));
    return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

RunOutcome Vm::run()
{
    auto& d = *impl_;
    Vcpu::install_kick_signal();
    d.signals.emplace(d.loop.io(), SIGINT, SIGTERM);
    int signal_number = 0;
    d.signals->async_wait([&d, &signal_number](const boost::system::error_code& ec, int sig) {
        if (!ec) {
            signal_number = sig;
            d.on_stop({ StopReason::poweroff, 128 + sig, fmt::format("signal {}", sig) });
        }
    });
    d.state_signal.emplace(d.loop.io(), SIGUSR1);
    d.wait_state_signal();
    d.started = std::chrono::steady_clock::now();
    if (d.hooks.deadline) {
        d.deadline_timer.emplace(d.loop.io(), *d.hooks.deadline);
        d.deadline_timer->async_wait([&d](const boost::system::error_code& ec) {
            if (ec) {
                return;
            }
            // Where each vCPU is, before they stop: the first question about a hung guest.
            d.timeout_vcpus = d.vcpu_state();
            d.log_vcpu_state("timeout");
            d.on_stop({ StopReason::timeout, config::EXIT_TIMEOUT, "the test's time limit passed" });
        });
    }
    // The vCPUs start from inside the loop: whatever they ask of it (device activation) finds
    // it running.
    d.loop.post([&d] {
        for (auto& v : d.vcpus) {
            v->start();
        }
    });
    d.loop.run();
    for (auto& v : d.vcpus) {
        v->request_stop();
    }
    for (auto& v : d.vcpus) {
        v->join();
    }
    RunOutcome out;
    if (d.virtio) {
        out.driver_violations = d.virtio->driver_violations();
        // No vCPU runs now; stop every device from touching guest memory before it goes away.
        d.virtio->reset_all();
    }

    const StopEvent e = d.stop_event.value_or(StopEvent { StopReason::error, 1, "event loop ended unexpectedly" });
    out.detail = e.detail;
    switch (e.reason) {
    case StopReason::poweroff:
        spdlog::info("{}", e.detail);
        out.exit_status = e.code;
        out.end = signal_number != 0 ? RunOutcome::End::signal : RunOutcome::End::poweroff;
        break;
    case StopReason::reset:
        spdlog::info("guest reboot ({})", e.detail);
        out.restart = d.cfg.on_reboot == config::OnReboot::restart;
        out.end = RunOutcome::End::reset;
        break;
    case StopReason::test_exit:
        spdlog::info("{}", e.detail);
        out.exit_status = e.code;
        out.guest_code = e.code;
        out.end = RunOutcome::End::test_exit;
        break;
    case StopReason::crash:
        spdlog::error("guest crashed: {}", e.detail);
        out.exit_status = config::EXIT_GUEST_CRASHED;
        out.end = RunOutcome::End::crash;
        break;
    case StopReason::error:
        spdlog::error("{}", e.detail);
        out.exit_status = config::EXIT_VMM_ERROR;
        out.end = RunOutcome::End::error;
        break;
    case StopReason::timeout:
        spdlog::error("{}", e.detail);
        out.exit_status = config::EXIT_TIMEOUT;
        out.end = RunOutcome::End::timeout;
        out.vcpus = std::move(d.timeout_vcpus);
        break;
    }
    return out;
}

RunOutcome run_vm(const config::VmConfig& cfg, const VmHooks& hooks)
{
    // Violations of the VMs a guest reboot ended, reported with the last one's.
    nlohmann::json earlier = nlohmann::json::array();
    for (;;) {
        bool user_error = false;
        auto vm = Vm::create(cfg, &user_error, hooks);
        if (!vm) {
            RunOutcome out;
            out.end = RunOutcome::End::error;
            out.detail = vm.error().describe();
            if (user_error) {
                std::fprintf(stderr, "vireo: error: %s\n", out.detail.c_str());
                out.exit_status = config::EXIT_CONFIG_ERROR;
            } else {
                spdlog::error("{}", out.detail);
                out.exit_status = config::EXIT_VMM_ERROR;
            }
            return out;
        }
        auto outcome = (*vm)->run();
        for (auto& v : outcome.driver_violations) {
            earlier.push_back(std::move(v));
        }
        if (!outcome.restart) {
            outcome.driver_violations = std::move(earlier);
            return outcome;
        }
        spdlog::info("guest rebooted: restarting the VM");
    }
}

} // namespace vmm
