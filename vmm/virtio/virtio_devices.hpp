// SPDX-License-Identifier: Apache-2.0
// VirtioDevices: the VM's virtio devices, each built from its config entry and put behind its
// transport.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmware/acpi/tables.hpp"
#include "firmware/acpi/viot_topology.hpp"
#include "virtio/devices/iommu/iommu.hpp"
#include "virtio/memory/direct_dma.hpp"
#include "virtio/transport/mmio_transport.hpp"
#include "virtio/transport/pci_transport.hpp"
#include "vmm/bus/bus.hpp"
#include "vmm/config/config.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/loop/event_loop.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/pci/bar_allocator.hpp"
#include "vmm/pci/host_bridge.hpp"
#include "vmm/pci/msix.hpp"
#include "vmm/virtio/kvm_transport_host.hpp"

namespace vmm {

// Where each device goes, decided from the config alone (before KVM is opened), so that the
// kernel command line and the firmware tables can be written first.
struct VirtioPlan {
    struct Entry {
        const config::DeviceConfig* config = nullptr;
        acpi::MmioSlot mmio;       // virtio-mmio only
        std::uint8_t pci_slot = 0; // virtio-pci only: device number on bus 0
        // Behind the virtio-iommu: the endpoint ID (virtio-mmio: MMIO_ENDPOINT_BASE + slot;
        // virtio-pci: the BDF).
        std::optional<std::uint32_t> endpoint;
        // The hot-plug memory the device brings (virtio-mem's region), placed after the 64-bit
        // PCI window, each at a DEVICE_MEMORY_ALIGN boundary.
        std::optional<MemoryRegionSpec> hotplug;
    };
    // virtio-mmio endpoint IDs start above every 16-bit PCI BDF.
    static constexpr std::uint32_t MMIO_ENDPOINT_BASE = 0x10000;

    std::vector<Entry> entries;
    // Every entry's hot-plug region in address order (MemoryRegionSpec::hotplug), and where
    // device memory goes after them (virtio-pmem windows).
    std::vector<MemoryRegionSpec> hotplug;
    std::uint64_t device_memory_start = 0;
    std::vector<acpi::MmioSlot> mmio_slots;
    // Index into entries of the "iommu" device, and the VIOT that describes what is behind it.
    std::optional<std::size_t> iommu;
    std::optional<acpi::ViotTopology> viot;
    // virtio_mmio.device=... options, with vm.mmio_discovery = cmdline.
    std::string cmdline_extra;
};

// Fails when more virtio-mmio devices are asked for than there are slots and interrupt pins,
// more virtio-pci devices than bus 0 has slots (1..31, in config order; 0 is the host bridge),
// and when "iommu": true has no (or more than one) "iommu" device to go behind.
[[nodiscard]] Result<VirtioPlan> plan_virtio(const config::VmConfig& cfg);

class VirtioDevices {
public:
    struct Context {
        EventLoop* loop = nullptr;
        std::uint32_t cpus = 1;
        const kvm::VmFd* vm = nullptr;
        const GuestMemory* memory = nullptr;
        Bus* mmio_bus = nullptr;
        // What Ctrl-A x on a console port attached to the terminal does: stop the VM.
        std::function<void()> on_console_quit;
        // For virtio-pci.
        pci::PciHostBridge* pci = nullptr;
        pci::MsiRouter* msi = nullptr;
        pci::BarAllocator* bars = nullptr;
        // Tells the guest to look for PCI functions that went (the GED's bus check).
        std::function<void()> pci_bus_check;
        // Devices' guest windows (virtio-pmem ranges) go from here up, each a KVM memory slot
        // numbered from first_free_memory_slot (RAM has the ones below).
        std::uint64_t device_memory_start = 0;
        std::uint32_t first_free_memory_slot = 0;
    };

    // Builds every planned device. An error names the entry; `config_error` says whether the
    // user's input is at fault (a bad key, a missing file) rather than the host.
    [[nodiscard]] static Result<std::unique_ptr<VirtioDevices>> create(
        const VirtioPlan& plan, const Context& ctx, bool* config_error);
    ~VirtioDevices();
    VirtioDevices(const VirtioDevices&) = delete;
    VirtioDevices& operator=(const VirtioDevices&) = delete;

    // Per device: type, transport, address (PCI: BDF and BARs), status and notification
    // counters (API `status`).
    [[nodiscard]] nlohmann::json status() const;
    // Resets every device (they stop touching guest memory); on the loop thread at shutdown.
    void reset_all();
    // The vCPUs run again after a pause of `paused_for` (API resume); loop thread.
    void resumed(std::chrono::nanoseconds paused_for);
    // API iommu-state: the virtio-iommu's domains, mappings and faults; null without one.
    [[nodiscard]] nlohmann::json iommu_state() const;
    // API "block-resize": the block device whose "id" (or, without one, origin such as
    // "devices[0]") is `id` gets `bytes` of storage and tells its driver. Loop thread.
    [[nodiscard]] Result<nlohmann::json> resize_block(const std::string& id, std::uint64_t bytes);
    // API "scsi-add" {"id", "target", "lun", "path", ...}, "scsi-remove" {"id", "target", "lun"} and
    // "scsi-resize" {"id", "target", "lun", "size"}: a virtio-scsi device's units changed while
    // the guest runs, which its driver hears of through the event queue. Loop thread.
    [[nodiscard]] Result<nlohmann::json> scsi_command(const std::string& command, const nlohmann::json& request);
    // API "net-link": the net device `id` reports its link up or down to its driver.
    [[nodiscard]] Result<nlohmann::json> set_net_link(const std::string& id, bool up);
    // API "vsock-reset": the vsock device `id` drops its connections and sends its driver
    // TRANSPORT_RESET (the guest's sockets see the reset; a guest agent reconnects).
    [[nodiscard]] Result<nlohmann::json> vsock_reset(const std::string& id);
    // Each device whose driver broke a driver requirement of the spec the transport can see:
    // [{"id", "type", "transport", "violations": [{"rule", "section", "text", "count"}]}].
    [[nodiscard]] nlohmann::json driver_violations() const;
    // The API's fault-inject on one device: "faults" replaces a block device's request rules
    // (an empty array clears them), "needs_reset": true sets DEVICE_NEEDS_RESET with a config
    // interrupt, "refuse_features_ok" makes FEATURES_OK fail (true) or work again (false),
    // "unplug": true removes a virtio-pci device from the bus by surprise. Loop thread.
    [[nodiscard]] Result<nlohmann::json> inject_faults(const std::string& id, const nlohmann::json& request);
    // API "net-announce": the net device `id` asks its driver to announce itself.
    [[nodiscard]] Result<nlohmann::json> net_announce(const std::string& id);
    // API "balloon-set" {"id", "size"}, "balloon-stats" {"id"}, "balloon-hint-start" and
    // "balloon-hint-stop" {"id"}: the balloon's target, its driver's statistics, and free page
    // hinting rounds (memory_commands.cpp). Loop thread.
    [[nodiscard]] Result<nlohmann::json> balloon_command(const std::string& command, const nlohmann::json& request);
    // API "mem-resize" {"id", "requested_size"}: the virtio-mem device's requested size, which
    // its driver hears of with a config interrupt and then plugs or unplugs towards. Loop thread.
    [[nodiscard]] Result<nlohmann::json> mem_resize(const nlohmann::json& request);

private:
    struct Slot {
        std::string origin;
        std::string id; // the device's "id" key, else its origin
        std::string type;
        config::Transport transport;
        std::uint64_t address = 0;
        std::shared_ptr<virtio::MmioTransport> mmio;
        std::shared_ptr<virtio::PciTransport> pci;
        std::uint8_t pci_slot = 0;
    };

    explicit VirtioDevices(const Context& ctx);
    // `config_error` is set when the entry's own keys are at fault.
    [[nodiscard]] Result<> add(const VirtioPlan::Entry& entry, std::unique_ptr<virtio::Device> device, bool* config_error);
    // Maps the device's GuestWindow, if it has one, into guest-physical space.
    [[nodiscard]] Result<> map_guest_window(const config::DeviceConfig& cfg, virtio::Device& device);
    [[nodiscard]] virtio::TransportCore* core(const Slot& slot) const noexcept;
    // The model of the device of `type` whose id is `id`; the error lists the known ids.
    [[nodiscard]] Result<virtio::Device*> find_device(const std::string& id, std::string_view type);
    // The same for the device an API request's "id" names; messages name the command.
    [[nodiscard]] Result<virtio::Device*> requested_device(
        const nlohmann::json& request, std::string_view command, std::string_view type);

    Context ctx_;
    KvmTransportHost host_;
    virtio::DirectDma direct_dma_;
    std::vector<Slot> slots_;
    virtio::IommuDevice* iommu_ = nullptr; // owned by its transport
    std::uint64_t next_window_ = 0;
    std::uint32_t next_memory_slot_ = 0;
};

} // namespace vmm
