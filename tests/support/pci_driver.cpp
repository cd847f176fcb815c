// SPDX-License-Identifier: Apache-2.0
// PciDriver.
#include "tests/support/pci_driver.hpp"

#include <cstring>

#include "virtio/spec/pci.hpp"
#include "vmm/pci/msix.hpp"
#include "vmm/pci/pci_regs.hpp"

namespace vmm::virtio::test {
namespace {

using namespace pci_spec;
namespace regs = vmm::pci;

// Linux's PCI_FIND_CAP_TTL: a capability list longer than this is a loop.
constexpr int CAP_TTL = 48;

} // namespace

PciDriver::PciDriver(const Bus& mmio, TestHost& host, std::uint64_t ecam_base, std::uint8_t slot,
    const FakeMsiRouter& msi, const LineState& intx, Options options)
    : mmio_(&mmio)
    , host_(&host)
    , ecam_base_(ecam_base)
    , slot_(slot)
    , msi_(&msi)
    , intx_(&intx)
    , options_(options)
{
}

std::uint64_t PciDriver::ecam_address(std::uint32_t reg) const noexcept
{
    return ecam_base_ + (std::uint64_t { slot_ } << 15) + reg;
}

std::uint64_t PciDriver::mmio_read(std::uint64_t addr, std::size_t width)
{
    std::uint64_t v = 0;
    auto bytes = std::as_writable_bytes(std::span(&v, 1)).first(width);
    if (!mmio_->read(addr, bytes)) {
        std::memset(bytes.data(), 0xff, bytes.size());
    }
    return v;
}

void PciDriver::mmio_write(std::uint64_t addr, std::size_t width, std::uint64_t value)
{
    (void)host_->mmio_write(*mmio_, addr, std::as_bytes(std::span(&value, 1)).first(width));
}

std::uint32_t PciDriver::config_read(std::uint32_t reg, std::size_t width)
{
    return static_cast<std::uint32_t>(mmio_read(ecam_address(reg), width));
}

void PciDriver::config_write(std::uint32_t reg, std::size_t width, std::uint32_t value)
{
    mmio_write(ecam_address(reg), width, value);
}

std::uint64_t PciDriver::bar_read(std::uint8_t bar, std::uint64_t offset, std::size_t width)
{
    return mmio_read(bar_base(bar) + offset, width);
}

void PciDriver::bar_write(std::uint8_t bar, std::uint64_t offset, std::size_t width, std::uint64_t value)
{
    mmio_write(bar_base(bar) + offset, width, value);
}

std::uint64_t PciDriver::common_read(std::uint32_t field, std::size_t width)
{
    return bar_read(common_->bar, common_->offset + field, width);
}

void PciDriver::common_write(std::uint32_t field, std::size_t width, std::uint64_t value)
{
    bar_write(common_->bar, common_->offset + field, width, value);
}

std::uint8_t PciDriver::read_isr()
{
    return static_cast<std::uint8_t>(bar_read(isr_->bar, isr_->offset, 1));
}

void PciDriver::reread_bars()
{
    // pci_read_bases(), without the sizing: the firmware assigned the addresses.
    for (std::uint32_t i = 0; i < regs::BAR_COUNT; ++i) {
        const std::uint32_t low = config_read(regs::BAR0 + 4 * i, 4);
        bars_[i] = 0;
        if ((low & regs::BAR_IO_SPACE) != 0) {
            bars_[i] = low & ~3U;
            continue;
        }
        bars_[i] = low & ~0xfU;
        if ((low & 0x6U) == regs::BAR_MEM_TYPE_64 && i + 1 < regs::BAR_COUNT) {
            bars_[i] |= std::uint64_t { config_read(regs::BAR0 + 4 * (i + 1), 4) } << 32;
            ++i;
        }
    }
}

bool PciDriver::probe()
{
    const std::uint32_t vendor = config_read(regs::VENDOR_ID, 2);
    const std::uint32_t device = config_read(regs::DEVICE_ID, 2);
    if (vendor != VENDOR_ID || device < DEVICE_ID_BASE || device > 0x107f) {
        return false;
    }
    reread_bars();
    // pci_enable_device() and pci_set_master().
    const std::uint32_t command = config_read(regs::COMMAND, 2);
    config_write(regs::COMMAND, 2, command | regs::COMMAND_MEMORY | regs::COMMAND_BUS_MASTER);

    // virtio_pci_find_capability(): the first of each type, reserved BARs skipped.
    if ((config_read(regs::STATUS, 2) & regs::STATUS_CAPABILITIES) == 0) {
        return false;
    }
    std::uint32_t pos = config_read(regs::CAPABILITIES_POINTER, 1) & ~3U;
    for (int ttl = CAP_TTL; pos >= regs::CAPABILITIES_START && ttl > 0; --ttl) {
        const std::uint32_t id = config_read(pos, 1);
        if (id == regs::CAP_ID_MSIX && msix_cap_ == 0) {
            msix_cap_ = pos;
        }
        if (id == regs::CAP_ID_VENDOR) {
            const std::uint32_t type = config_read(pos + 3, 1);
            const Cap cap { pos, static_cast<std::uint8_t>(config_read(pos + CAP_BAR, 1)),
                config_read(pos + CAP_OFFSET, 4), config_read(pos + CAP_LENGTH, 4) };
            auto take = [&](std::optional<Cap>& slot) {
                if (!slot && cap.bar < regs::BAR_COUNT) {
                    slot = cap;
                }
            };
            switch (type) {
            case VIRTIO_PCI_CAP_COMMON_CFG:
                take(common_);
                break;
            case VIRTIO_PCI_CAP_NOTIFY_CFG:
                if (!notify_) {
                    notify_multiplier_ = config_read(pos + 16, 4);
                }
                take(notify_);
                break;
            case VIRTIO_PCI_CAP_ISR_CFG:
                take(isr_);
                break;
            case VIRTIO_PCI_CAP_DEVICE_CFG:
                take(device_);
                break;
            case VIRTIO_PCI_CAP_PCI_CFG:
                if (!pci_cfg_) {
                    pci_cfg_ = cap; // its bar field is the driver's to set
                }
                break;
            default:
                break; // reserved and vendor types are not the driver's business
            }
        }
        pos = config_read(pos + 1, 1) & ~3U;
    }
    if (!common_ || !notify_ || !isr_) {
        return false;
    }
    if (msix_cap_ != 0) {
        msix_vectors_ = static_cast<std::uint16_t>((config_read(msix_cap_ + 2, 2) & pci::Msix::CONTROL_TABLE_SIZE) + 1);
        const std::uint32_t table = config_read(msix_cap_ + 4, 4);
        msix_bar_ = static_cast<std::uint8_t>(table & 7U);
        msix_table_ = table & ~7U;
    }
    if (options_.msix && msix_cap_ != 0) {
        enable_msix();
    }
    return true;
}

void PciDriver::set_msix_control(bool enable, bool function_mask)
{
    std::uint32_t control = config_read(msix_cap_ + 2, 2);
    control &= ~std::uint32_t { pci::Msix::CONTROL_ENABLE | pci::Msix::CONTROL_FUNCTION_MASK };
    control |= (enable ? pci::Msix::CONTROL_ENABLE : 0U) | (function_mask ? pci::Msix::CONTROL_FUNCTION_MASK : 0U);
    config_write(msix_cap_ + 2, 2, control);
}

void PciDriver::program_vector(std::uint16_t v)
{
    const std::uint64_t entry = msix_table_ + std::uint64_t { v } * pci::Msix::ENTRY_SIZE;
    bar_write(msix_bar_, entry + 0, 4, static_cast<std::uint32_t>(MSI_ADDRESS));
    bar_write(msix_bar_, entry + 4, 4, MSI_ADDRESS >> 32);
    bar_write(msix_bar_, entry + 8, 4, MSI_DATA_BASE + v);
}

void PciDriver::mask_vector(std::uint16_t v, bool masked)
{
    const std::uint64_t entry = msix_table_ + std::uint64_t { v } * pci::Msix::ENTRY_SIZE;
    bar_write(msix_bar_, entry + 12, 4, masked ? pci::Msix::ENTRY_CONTROL_MASKED : 0U);
}

void PciDriver::enable_msix()
{
    // msix_capability_init(): enable with everything masked, program and unmask the entries,
    // turn INTx off, then lift the function mask.
    set_msix_control(true, true);
    for (std::uint16_t v = 0; v < msix_vectors_; ++v) {
        mask_vector(v, true);
    }
    for (std::uint16_t v = 0; v < msix_vectors_; ++v) {
        program_vector(v);
        mask_vector(v, false);
    }
    config_write(regs::COMMAND, 2, config_read(regs::COMMAND, 2) | regs::COMMAND_INTX_DISABLE);
    set_msix_control(true, false);
    msix_enabled_ = true;
}

std::uint32_t PciDriver::device_id()
{
    return config_read(regs::DEVICE_ID, 2) - DEVICE_ID_BASE;
}

std::uint8_t PciDriver::status()
{
    return static_cast<std::uint8_t>(common_read(common::DEVICE_STATUS, 1));
}

void PciDriver::set_status(std::uint8_t status)
{
    // Linux maps the configuration vector in vp_find_vqs(), before DRIVER_OK; mapping it as the
    // driver starts (and after every reset, which unmaps it) lets configuration interrupts be
    // counted from the first status write on.
    if (status != 0 && msix_enabled_ && !config_vector_set_) {
        common_write(common::CONFIG_MSIX_VECTOR, 2, 0);
        config_vector_set_ = common_read(common::CONFIG_MSIX_VECTOR, 2) == 0;
    }
    common_write(common::DEVICE_STATUS, 1, status);
    if (status == 0) {
        config_vector_set_ = false;
    }
}

std::uint64_t PciDriver::device_features()
{
    common_write(common::DEVICE_FEATURE_SELECT, 4, 0);
    const std::uint64_t low = common_read(common::DEVICE_FEATURE, 4);
    common_write(common::DEVICE_FEATURE_SELECT, 4, 1);
    const std::uint64_t high = common_read(common::DEVICE_FEATURE, 4);
    return low | high << 32;
}

void PciDriver::set_driver_features(std::uint64_t features)
{
    common_write(common::DRIVER_FEATURE_SELECT, 4, 0);
    common_write(common::DRIVER_FEATURE, 4, static_cast<std::uint32_t>(features));
    common_write(common::DRIVER_FEATURE_SELECT, 4, 1);
    common_write(common::DRIVER_FEATURE, 4, features >> 32);
}

std::uint16_t PciDriver::queue_max(std::uint16_t index)
{
    common_write(common::QUEUE_SELECT, 2, index);
    return static_cast<std::uint16_t>(common_read(common::QUEUE_SIZE, 2));
}

void PciDriver::set_queue(
    std::uint16_t index, std::uint16_t size, std::uint64_t desc, std::uint64_t driver, std::uint64_t device)
{
    // vp_modern_set_queue_size(), vp_modern_queue_vector(), vp_modern_queue_address(): 64-bit
    // fields as two 32-bit halves, low first.
    common_write(common::QUEUE_SELECT, 2, index);
    common_write(common::QUEUE_SIZE, 2, size);
    if (msix_enabled_) {
        common_write(common::QUEUE_MSIX_VECTOR, 2, index + 1U);
    }
    auto write64 = [&](std::uint32_t field, std::uint64_t v) {
        common_write(field, 4, static_cast<std::uint32_t>(v));
        common_write(field + 4, 4, v >> 32);
    };
    write64(common::QUEUE_DESC, desc);
    write64(common::QUEUE_DRIVER, driver);
    write64(common::QUEUE_DEVICE, device);
}

void PciDriver::set_queue_ready(std::uint16_t index, bool ready)
{
    common_write(common::QUEUE_SELECT, 2, index);
    common_write(common::QUEUE_ENABLE, 2, ready ? 1 : 0);
}

bool PciDriver::queue_ready(std::uint16_t index)
{
    common_write(common::QUEUE_SELECT, 2, index);
    return common_read(common::QUEUE_ENABLE, 2) != 0;
}

void PciDriver::reset_queue(std::uint16_t index)
{
    common_write(common::QUEUE_SELECT, 2, index);
    common_write(common::QUEUE_RESET, 2, 1);
}

bool PciDriver::queue_reset_pending(std::uint16_t index)
{
    common_write(common::QUEUE_SELECT, 2, index);
    return common_read(common::QUEUE_RESET, 2) != 0;
}

void PciDriver::notify(std::uint16_t index, std::optional<std::uint32_t> data)
{
    // vp_modern_map_vq_notify(): cap.offset + queue_notify_off * notify_off_multiplier; then
    // vp_notify() writes the 16-bit index, vp_notify_with_data() the 32-bit data.
    common_write(common::QUEUE_SELECT, 2, index);
    const std::uint64_t off = common_read(common::QUEUE_NOTIFY_OFF, 2);
    const std::uint64_t addr = bar_base(notify_->bar) + notify_->offset + off * notify_multiplier_;
    if (data) {
        mmio_write(addr, 4, *data);
    } else {
        mmio_write(addr, 2, index);
    }
}

void PciDriver::read_config(std::uint32_t offset, std::span<std::byte> out)
{
    const std::uint64_t addr = bar_base(device_->bar) + device_->offset + offset;
    const std::size_t n = out.size();
    if (n == 1 || n == 2 || n == 4 || n == 8) {
        const std::uint64_t v = mmio_read(addr, n);
        std::memcpy(out.data(), &v, n);
        return;
    }
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = std::byte { static_cast<std::uint8_t>(mmio_read(addr + i, 1)) };
    }
}

void PciDriver::write_config(std::uint32_t offset, std::span<const std::byte> in)
{
    (void)host_->mmio_write(*mmio_, bar_base(device_->bar) + device_->offset + offset, in);
}

std::uint32_t PciDriver::config_generation()
{
    return static_cast<std::uint32_t>(common_read(common::CONFIG_GENERATION, 1));
}

void PciDriver::handle_intx()
{
    // vp_interrupt(): runs while the line is asserted; the ISR read says why and lowers it.
    if (intx_->rising_edges == edges_seen_ && !intx_->level) {
        return;
    }
    edges_seen_ = intx_->rising_edges;
    const std::uint8_t isr = read_isr();
    if ((isr & ISR_QUEUE) != 0) {
        ++intx_queue_;
    }
    if ((isr & ISR_CONFIG) != 0) {
        ++intx_config_;
    }
}

std::uint32_t PciDriver::queue_interrupts(std::uint16_t index)
{
    if (msix_enabled_) {
        return msi_->delivered(MSI_DATA_BASE + index + 1U);
    }
    handle_intx();
    return intx_queue_;
}

std::uint32_t PciDriver::config_interrupts()
{
    if (msix_enabled_) {
        return msi_->delivered(MSI_DATA_BASE);
    }
    handle_intx();
    return intx_config_;
}

} // namespace vmm::virtio::test
