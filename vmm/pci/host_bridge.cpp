// SPDX-License-Identifier: Apache-2.0
// PciHostBridge: configuration access decoding and BAR mappings.
#include "vmm/pci/host_bridge.hpp"

#include <cstring>
#include <mutex>
#include <optional>

#include "vmm/base/log.hpp"
#include "vmm/pci/config_space.hpp"

namespace vmm::pci {
namespace {

// 00:00.0: a header with IDs and a class code, nothing to drive.
class HostBridgeFunction final : public PciDevice {
public:
    HostBridgeFunction()
        : config_(PciIds { .vendor = PciHostBridge::VENDOR_ID,
            .device = PciHostBridge::DEVICE_ID,
            .revision = 0,
            .class_code = CLASS_HOST_BRIDGE,
            .subsystem_vendor = PciHostBridge::VENDOR_ID,
            .subsystem = PciHostBridge::DEVICE_ID,
            .interrupt_pin = 0 })
    {
    }

    void config_read(std::uint32_t offset, std::span<std::byte> data) noexcept override
    {
        std::lock_guard lock(mutex_);
        config_.read(offset, data);
    }
    void config_write(std::uint32_t offset, std::span<const std::byte> data) noexcept override
    {
        std::lock_guard lock(mutex_);
        config_.write(offset, data);
    }
    void bar_read(std::uint8_t, std::uint64_t, std::span<std::byte> data) noexcept override
    {
        std::memset(data.data(), 0xff, data.size());
    }
    void bar_write(std::uint8_t, std::uint64_t, std::span<const std::byte>) noexcept override { }
    [[nodiscard]] BarSpecs bars() const override { return {}; }
    [[nodiscard]] std::uint64_t bar_address(std::uint8_t) const override { return 0; }
    void set_bar_address(std::uint8_t, std::uint64_t) override { }
    void attach(BarMapper&) override { }

private:
    std::mutex mutex_;
    ConfigSpace config_;
};

// A BAR's range on a bus: accesses go to the device with the offset inside the BAR.
class BarWindow final : public BusDevice {
public:
    BarWindow(PciDevice& device, std::uint8_t index)
        : device_(&device)
        , index_(index)
    {
    }
    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override
    {
        device_->bar_read(index_, offset, data);
    }
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override
    {
        device_->bar_write(index_, offset, data);
    }

private:
    PciDevice* device_;
    std::uint8_t index_;
};

// ECAM: the offset into the window names bus, device, function and register.
class EcamWindow final : public BusDevice {
public:
    explicit EcamWindow(const PciHostBridge& bridge)
        : bridge_(&bridge)
    {
    }
    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override
    {
        bridge_->config_read(bus(offset), device(offset), function(offset), reg(offset), data);
    }
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override
    {
        bridge_->config_write(bus(offset), device(offset), function(offset), reg(offset), data);
    }

private:
    static std::uint8_t bus(std::uint64_t o) { return static_cast<std::uint8_t>(o >> 20); }
    static std::uint8_t device(std::uint64_t o) { return static_cast<std::uint8_t>((o >> 15) & 0x1f); }
    static std::uint8_t function(std::uint64_t o) { return static_cast<std::uint8_t>((o >> 12) & 0x7); }
    static std::uint32_t reg(std::uint64_t o) { return static_cast<std::uint32_t>(o & 0xfff); }

    const PciHostBridge* bridge_;
};

// Configuration mechanism #1: CONFIG_ADDRESS at offset 0, CONFIG_DATA at offsets 4..7.
class ConfigPorts final : public BusDevice {
public:
    static constexpr std::uint32_t ENABLE = 1U << 31;
    // Bits 30:24 are reserved and bits 1:0 select type 0/1 cycles on old chipsets: both read
    // as zero.
    static constexpr std::uint32_t ADDRESS_MASK = ENABLE | 0x00ff'fffc;

    explicit ConfigPorts(const PciHostBridge& bridge)
        : bridge_(&bridge)
    {
    }

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override
    {
        if (offset < 4) {
            // Only a 32-bit access reaches CONFIG_ADDRESS; narrower ones go to the legacy
            // ports that share the addresses (mechanism #2), which are not there.
            std::memset(data.data(), 0xff, data.size());
            if (offset == 0 && data.size() == 4) {
                const std::uint32_t v = address_.load(std::memory_order_relaxed);
                std::memcpy(data.data(), &v, sizeof(v));
            }
            return;
        }
        const std::uint32_t a = address_.load(std::memory_order_relaxed);
        if ((a & ENABLE) == 0 || offset - 4 + data.size() > 4) {
            std::memset(data.data(), 0xff, data.size());
            return;
        }
        bridge_->config_read(bus(a), device(a), function(a), reg(a) + static_cast<std::uint32_t>(offset - 4), data);
    }

    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override
    {
        if (offset < 4) {
            if (offset == 0 && data.size() == 4) {
                std::uint32_t v = 0;
                std::memcpy(&v, data.data(), sizeof(v));
                address_.store(v & ADDRESS_MASK, std::memory_order_relaxed);
            }
            return;
        }
        const std::uint32_t a = address_.load(std::memory_order_relaxed);
        if ((a & ENABLE) == 0 || offset - 4 + data.size() > 4) {
            return;
        }
        bridge_->config_write(bus(a), device(a), function(a), reg(a) + static_cast<std::uint32_t>(offset - 4), data);
    }

private:
    static std::uint8_t bus(std::uint32_t a) { return static_cast<std::uint8_t>(a >> 16); }
    static std::uint8_t device(std::uint32_t a) { return static_cast<std::uint8_t>((a >> 11) & 0x1f); }
    static std::uint8_t function(std::uint32_t a) { return static_cast<std::uint8_t>((a >> 8) & 0x7); }
    static std::uint32_t reg(std::uint32_t a) { return a & 0xfc; }

    const PciHostBridge* bridge_;
    // One register for the whole machine, as on a PC: guests serialise the address/data pair
    // themselves (Linux's pci_config_lock).
    std::atomic<std::uint32_t> address_ { 0 };
};

} // namespace

// Inserts and removes one device's BAR ranges.
class PciHostBridge::SlotMapper final : public BarMapper {
public:
    SlotMapper(Bus& mmio, Bus& pio, PciDevice& device)
        : mmio_(&mmio)
        , pio_(&pio)
        , device_(&device)
    {
    }
    SlotMapper(const SlotMapper&) = delete;
    SlotMapper& operator=(const SlotMapper&) = delete;
    ~SlotMapper() override
    {
        for (std::uint8_t i = 0; i < BAR_COUNT; ++i) {
            unmap_bar(i);
        }
    }

    Result<> map_bar(std::uint8_t index, BarKind kind, std::uint64_t base, std::uint64_t size) override
    {
        unmap_bar(index);
        Bus* bus = kind == BarKind::io ? pio_ : mmio_;
        VMM_TRY(bus->insert(std::make_shared<BarWindow>(*device_, index), base, size));
        mapped_[index] = Mapping { bus, base };
        return {};
    }

    void unmap_bar(std::uint8_t index) noexcept override
    {
        if (index < BAR_COUNT && mapped_[index]) {
            mapped_[index]->bus->remove(mapped_[index]->base);
            mapped_[index].reset();
        }
    }

private:
    struct Mapping {
        Bus* bus;
        std::uint64_t base;
    };
    Bus* mmio_;
    Bus* pio_;
    PciDevice* device_;
    std::array<std::optional<Mapping>, BAR_COUNT> mapped_;
};

PciHostBridge::PciHostBridge(Bus& mmio, Bus& pio)
    : mmio_(&mmio)
    , pio_(&pio)
    , ecam_(std::make_shared<EcamWindow>(*this))
    , ports_(std::make_shared<ConfigPorts>(*this))
{
    devices_[0] = std::make_shared<HostBridgeFunction>();
}

// mappers_ is declared after devices_: the mappers take the BAR ranges off the buses before
// the devices can go.
PciHostBridge::~PciHostBridge() = default;

Result<> PciHostBridge::add(std::uint8_t slot, std::shared_ptr<PciDevice> device)
{
    if (slot == 0 || slot >= DEVICES_PER_BUS) {
        return fail(Errc::out_of_range, "PCI slot {} is not 1..{}", slot, DEVICES_PER_BUS - 1);
    }
    if (devices_[slot]) {
        return fail(Errc::busy, "PCI slot {} is taken", slot);
    }
    mappers_[slot] = std::make_unique<SlotMapper>(*mmio_, *pio_, *device);
    device->attach(*mappers_[slot]);
    devices_[slot] = std::move(device);
    return {};
}

PciDevice* PciHostBridge::device(std::uint8_t slot) const noexcept
{
    return slot < DEVICES_PER_BUS ? devices_[slot].get() : nullptr;
}

PciDevice* PciHostBridge::find(
    std::uint8_t bus, std::uint8_t device, std::uint8_t function, std::uint32_t reg, std::size_t size) const noexcept
{
    // Guest-controlled: all of it. Single-function devices: functions 1..7 are absent, and the
    // header type says so, so that a guest does not look for them.
    if (bus != BUS || device >= DEVICES_PER_BUS || function != 0) {
        return nullptr;
    }
    if ((size != 1 && size != 2 && size != 4) || reg % size != 0 || reg >= CONFIG_SPACE_SIZE) {
        VMM_LOG_GUEST(spdlog::level::debug, "PCI: {}-byte configuration access at {:#x} of 00:{:02x}.0 ignored", size,
            reg, device);
        return nullptr;
    }
    return devices_[device].get();
}

void PciHostBridge::config_read(std::uint8_t bus, std::uint8_t device, std::uint8_t function, std::uint32_t reg,
    std::span<std::byte> data) const noexcept
{
    if (PciDevice* d = find(bus, device, function, reg, data.size())) {
        d->config_read(reg, data);
        return;
    }
    std::memset(data.data(), 0xff, data.size());
}

void PciHostBridge::config_write(std::uint8_t bus, std::uint8_t device, std::uint8_t function, std::uint32_t reg,
    std::span<const std::byte> data) const noexcept
{
    if (PciDevice* d = find(bus, device, function, reg, data.size())) {
        d->config_write(reg, data);
    }
}

} // namespace vmm::pci
