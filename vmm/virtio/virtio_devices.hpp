// SPDX-License-Identifier: Apache-2.0
// VirtioDevices: the VM's virtio devices, each built from its config entry and put behind its
// transport.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmware/acpi/tables.hpp"
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
        acpi::MmioSlot mmio;      // virtio-mmio only
        std::uint8_t pci_slot = 0; // virtio-pci only: device number on bus 0
    };
    std::vector<Entry> entries;
    std::vector<acpi::MmioSlot> mmio_slots;
    // virtio_mmio.device=... options, with vm.mmio_discovery = cmdline.
    std::string cmdline_extra;
};

// Fails when more virtio-mmio devices are asked for than there are slots and interrupt pins, or
// more virtio-pci devices than bus 0 has slots (1..31, in config order; 0 is the host bridge).
[[nodiscard]] Result<VirtioPlan> plan_virtio(const config::VmConfig& cfg);

class VirtioDevices {
public:
    struct Context {
        EventLoop* loop = nullptr;
        const kvm::VmFd* vm = nullptr;
        const GuestMemory* memory = nullptr;
        Bus* mmio_bus = nullptr;
        // For virtio-pci.
        pci::PciHostBridge* pci = nullptr;
        pci::MsiRouter* msi = nullptr;
        pci::BarAllocator* bars = nullptr;
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

private:
    struct Slot {
        std::string origin;
        std::string type;
        config::Transport transport;
        std::uint64_t address = 0;
        std::shared_ptr<virtio::MmioTransport> mmio;
        std::shared_ptr<virtio::PciTransport> pci;
        std::uint8_t pci_slot = 0;
    };

    explicit VirtioDevices(const Context& ctx);
    [[nodiscard]] Result<> add(const VirtioPlan::Entry& entry, bool* config_error);
    [[nodiscard]] virtio::TransportCore* core(const Slot& slot) const noexcept;

    Context ctx_;
    KvmTransportHost host_;
    virtio::DirectDma direct_dma_;
    std::vector<Slot> slots_;
};

} // namespace vmm
