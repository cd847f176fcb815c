// SPDX-License-Identifier: Apache-2.0
// PciTransport: capabilities, BAR 0 register decoding, MSI-X and INTx.
#include "virtio/transport/pci_transport.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>
#include <thread>

#include "vmm/base/log.hpp"

namespace vmm::virtio {
namespace {

using namespace pci_spec;

constexpr std::uint64_t LOW_DWORD = 0xffff'ffff;

[[nodiscard]] std::uint64_t round_up(std::uint64_t v, std::uint64_t align) noexcept
{
    return (v + align - 1) & ~(align - 1);
}

[[nodiscard]] bool overlaps(std::uint32_t offset, std::size_t size, std::uint32_t start, std::size_t len) noexcept
{
    return offset < start + len && start < offset + size;
}

// [offset, offset + size) lies wholly inside [start, start + len); overflow-safe.
[[nodiscard]] bool within(std::uint64_t offset, std::uint64_t size, std::uint64_t start, std::uint64_t len) noexcept
{
    return offset >= start && offset - start <= len && size <= len - (offset - start);
}

// A naturally aligned access of a width a device configuration field can have (§4.1.3.1).
[[nodiscard]] bool natural(std::uint64_t offset, std::uint64_t size) noexcept
{
    return (size == 1 || size == 2 || size == 4 || size == 8) && offset % size == 0;
}

[[nodiscard]] std::uint64_t load_le(std::span<const std::byte> data) noexcept
{
    std::uint64_t v = 0;
    std::memcpy(&v, data.data(), std::min(data.size(), sizeof(v)));
    return v;
}

void store_le(std::span<std::byte> data, std::uint64_t v) noexcept
{
    std::memcpy(data.data(), &v, std::min(data.size(), sizeof(v)));
}

template<class T> [[nodiscard]] std::vector<std::uint8_t> bytes_of(const T& v)
{
    const auto b = std::as_bytes(std::span(&v, 1));
    std::vector<std::uint8_t> out;
    for (const auto x : b) {
        out.push_back(static_cast<std::uint8_t>(x));
    }
    return out;
}

[[nodiscard]] VirtioPciCap virtio_cap(std::uint8_t cfg_type, std::size_t len, std::uint8_t bar, std::uint8_t id,
    std::uint32_t offset, std::uint32_t length) noexcept
{
    VirtioPciCap c {};
    c.cap_vndr = vmm::pci::CAP_ID_VENDOR;
    c.cap_len = static_cast<std::uint8_t>(len);
    c.cfg_type = cfg_type;
    c.bar = bar;
    c.id = id;
    c.offset = le32(offset);
    c.length = le32(length);
    return c;
}

// The 64-bit fields of the common configuration, read and written as two 32-bit halves (or
// at once).
[[nodiscard]] std::uint64_t with_half(std::uint64_t v, bool high, std::uint64_t half) noexcept
{
    return high ? (v & LOW_DWORD) | (half << 32) : (v & ~LOW_DWORD) | (half & LOW_DWORD);
}

} // namespace

std::uint32_t pci_class_code(DeviceType type) noexcept
{
    switch (type) {
    case DeviceType::net:
        return 0x020000; // network controller, Ethernet
    case DeviceType::block:
    case DeviceType::fs:
    case DeviceType::pmem:
        return 0x018000; // mass storage controller, other
    case DeviceType::scsi:
        return 0x010000; // mass storage controller, SCSI
    case DeviceType::console:
        return 0x078000; // communication controller, other
    case DeviceType::gpu:
        return 0x038000; // display controller, other (not VGA compatible)
    case DeviceType::input:
        return 0x098000; // input device controller, other
    case DeviceType::sound:
        return 0x040100; // multimedia controller, audio
    case DeviceType::iommu:
        return 0x080600; // base system peripheral, IOMMU
    case DeviceType::balloon:
    case DeviceType::mem:
        return 0x050000; // memory controller, RAM
    default:
        return 0xff0000; // a device that fits no defined class
    }
}

// ---- Interrupts ---------------------------------------------------------------------------

PciTransport::PciInterrupt::PciInterrupt(pci::Msix& msix, std::unique_ptr<LevelIrqLine> intx, std::size_t queues)
    : msix_(&msix)
    , intx_(std::move(intx))
    , queue_vectors_(queues)
{
    for (auto& v : queue_vectors_) {
        v.store(VIRTIO_MSI_NO_VECTOR);
    }
}

void PciTransport::PciInterrupt::assert_intx() noexcept
{
    if (intx_allowed_.load()) {
        intx_->set_level(true);
        // A vCPU that disallowed INTx meanwhile lowered the line before this raised it.
        if (!intx_allowed_.load()) {
            intx_->set_level(false);
        }
    }
}

void PciTransport::PciInterrupt::fire_or_intx(std::uint16_t vector, std::uint8_t isr_bit) noexcept
{
    if (msix_->enabled()) {
        // §4.1.5.1.2 (and §4.1.5.3, §4.1.5.4): an event mapped to NO_VECTOR sends nothing.
        if (vector != VIRTIO_MSI_NO_VECTOR) {
            msix_->fire(vector);
        }
        return;
    }
    isr_.fetch_or(isr_bit);
    assert_intx();
}

void PciTransport::PciInterrupt::trigger_queue(std::uint16_t queue_index) noexcept
{
    if (queue_index < queue_vectors_.size()) {
        fire_or_intx(queue_vectors_[queue_index].load(), ISR_QUEUE);
    }
}

void PciTransport::PciInterrupt::trigger_config() noexcept
{
    // §4.1.4.5.1: the configuration bit is set before the notification, with MSI-X or not.
    isr_.fetch_or(ISR_CONFIG);
    fire_or_intx(config_vector_.load(), ISR_CONFIG);
}

std::uint8_t PciTransport::PciInterrupt::read_isr() noexcept
{
    // §4.1.4.5: reading clears the ISR and de-asserts INTx. An event that set a bit after the
    // exchange raises the line again here, unless the loop already did.
    const std::uint8_t v = isr_.exchange(0);
    intx_->set_level(false);
    if (isr_.load() != 0 && intx_allowed_.load()) {
        intx_->set_level(true);
    }
    return v;
}

void PciTransport::PciInterrupt::set_intx_allowed(bool allowed) noexcept
{
    intx_allowed_.store(allowed);
    intx_->set_level(allowed && isr_.load() != 0);
}

void PciTransport::PciInterrupt::reset() noexcept
{
    config_vector_.store(VIRTIO_MSI_NO_VECTOR);
    for (auto& v : queue_vectors_) {
        v.store(VIRTIO_MSI_NO_VECTOR);
    }
    isr_.store(0);
    intx_->set_level(false);
}

// ---- Construction -------------------------------------------------------------------------

namespace {

TransportOptions with_pci_defaults(TransportOptions o)
{
    if (!o.notification_data) {
        o.notification_data = true;
    }
    return o;
}

pci::PciIds virtio_ids(DeviceType type) noexcept
{
    const auto device_id = static_cast<std::uint16_t>(DEVICE_ID_BASE + static_cast<std::uint32_t>(type));
    return pci::PciIds { .vendor = VENDOR_ID,
        .device = device_id,
        .revision = REVISION,
        .class_code = pci_class_code(type),
        .subsystem_vendor = VENDOR_ID,
        .subsystem = device_id, // ≥ 0x40, as §4.1.2.1 asks of non-transitional devices
        .interrupt_pin = 1 };   // INTA#
}

} // namespace

PciTransport::PciTransport(std::unique_ptr<Device> device, TransportHost& host, std::unique_ptr<pci::Msix> msix,
    std::unique_ptr<LevelIrqLine> intx, PciTransportOptions options)
    : options_(std::move(options))
    , msix_(std::move(msix))
    , irq_(*msix_, std::move(intx), device->queue_max_sizes().size())
    , core_(std::move(device), host, irq_, with_pci_defaults(options_.transport))
    , config_(virtio_ids(core_.device().type()))
{
    // BAR 0: a page per structure; the notify area holds one 4-byte address per queue.
    notify_size_ = std::max<std::uint64_t>(core_.num_queues(), 1) * NOTIFY_OFF_MULTIPLIER;
    table_offset_ = NOTIFY_OFFSET + round_up(notify_size_, PAGE);
    pba_offset_ = table_offset_ + round_up(msix_->table_bytes(), PAGE);
    regs_size_ = std::bit_ceil(pba_offset_ + round_up(msix_->pba_bytes(), PAGE));
    config_.set_bar(REGS_BAR, pci::BarSpec { pci::BarKind::mem64, regs_size_, false });

    // BAR 2: each shared memory region at its natural alignment.
    std::uint64_t end = 0;
    for (const auto& r : options_.shm) {
        const std::uint64_t at = round_up(end, std::bit_ceil(std::max(r.length, PAGE)));
        shm_offsets_.push_back(at);
        end = at + r.length;
    }
    if (!options_.shm.empty()) {
        shm_size_ = std::bit_ceil(std::max(end, PAGE));
        config_.set_bar(SHM_BAR, pci::BarSpec { pci::BarKind::mem64, shm_size_, true });
    }
}

PciTransport::~PciTransport() = default;

Result<std::shared_ptr<PciTransport>> PciTransport::create(std::unique_ptr<Device> device, TransportHost& host,
    pci::MsiRouter& msi, std::unique_ptr<LevelIrqLine> intx, PciTransportOptions options)
{
    std::set<std::uint8_t> ids;
    for (const auto& r : options.shm) {
        if (r.length == 0 || r.length > (std::uint64_t { 1 } << 40) || !ids.insert(r.id).second) {
            return fail(Errc::invalid_argument,
                "{}: shared memory region {} of {:#x} bytes (ids must be unique, lengths 1 byte..1 TiB)",
                options.transport.name, r.id, r.length);
        }
    }
    // §4.1.5.1.2: one vector per queue plus one for configuration changes, as Linux asks for
    // first; at most the table's 2048.
    const std::size_t vectors = std::min(device->queue_max_sizes().size() + 1, pci::Msix::MAX_VECTORS);
    auto msix = VMM_TRY(pci::Msix::create(msi, vectors));
    auto t
        = std::make_shared<PciTransport>(std::move(device), host, std::move(msix), std::move(intx), std::move(options));
    VMM_TRY(t->core_.init());
    VMM_TRY(t->build_capabilities());
    return t;
}

Result<> PciTransport::build_capabilities()
{
    auto add
        = [&](std::span<const std::uint8_t> cap, std::span<const std::uint8_t> writable = {}) -> Result<std::uint32_t> {
        const auto at = config_.add_capability(cap, writable);
        if (!at) {
            return fail(Errc::out_of_range,
                "{}: the capabilities do not fit the PCI configuration space (too many "
                "shared memory regions?)",
                name());
        }
        return *at;
    };

    const auto msix = msix_->capability(
        REGS_BAR, static_cast<std::uint32_t>(table_offset_), REGS_BAR, static_cast<std::uint32_t>(pba_offset_));
    const auto msix_writable = pci::Msix::capability_writable();
    msix_cap_ = VMM_TRY(add(msix, msix_writable));

    // §4.1.4.3-7. Common and device configuration are 4-byte aligned; the notify area too,
    // with notification data.
    (void)VMM_TRY(add(bytes_of(virtio_cap(VIRTIO_PCI_CAP_COMMON_CFG, sizeof(VirtioPciCap), REGS_BAR, 0,
        static_cast<std::uint32_t>(COMMON_OFFSET), common::SIZE))));
    VirtioPciNotifyCap notify {};
    notify.cap = virtio_cap(VIRTIO_PCI_CAP_NOTIFY_CFG, sizeof(notify), REGS_BAR, 0,
        static_cast<std::uint32_t>(NOTIFY_OFFSET), static_cast<std::uint32_t>(notify_size_));
    notify.notify_off_multiplier = le32(NOTIFY_OFF_MULTIPLIER);
    (void)VMM_TRY(add(bytes_of(notify)));
    (void)VMM_TRY(add(bytes_of(virtio_cap(
        VIRTIO_PCI_CAP_ISR_CFG, sizeof(VirtioPciCap), REGS_BAR, 0, static_cast<std::uint32_t>(ISR_OFFSET), 1))));
    // §4.1.4.6: only a device with a configuration space has this one.
    if (const auto size = static_cast<std::uint32_t>(std::min<std::uint64_t>(core_.device().config_size(), PAGE));
        size != 0) {
        (void)VMM_TRY(add(bytes_of(virtio_cap(VIRTIO_PCI_CAP_DEVICE_CFG, sizeof(VirtioPciCap), REGS_BAR, 0,
            static_cast<std::uint32_t>(DEVICE_OFFSET), size))));
    }

    // §4.1.4.9: cap.bar, cap.offset, cap.length and pci_cfg_data are the driver's to write.
    VirtioPciCfgCap cfg {};
    cfg.cap = virtio_cap(VIRTIO_PCI_CAP_PCI_CFG, sizeof(cfg), 0, 0, 0, 0);
    std::vector<std::uint8_t> cfg_writable(sizeof(cfg), 0);
    cfg_writable[CAP_BAR] = 0xff;
    std::fill_n(cfg_writable.begin() + CAP_OFFSET, 4, 0xff);
    std::fill_n(cfg_writable.begin() + CAP_LENGTH, 4, 0xff);
    std::fill_n(cfg_writable.begin() + CFG_CAP_DATA, 4, 0xff);
    cfg_cap_ = VMM_TRY(add(bytes_of(cfg), cfg_writable));

    // §4.1.4.7: one cap64 per shared memory region, cap.id the shmid.
    for (std::size_t i = 0; i < options_.shm.size(); ++i) {
        VirtioPciCap64 shm {};
        shm.cap = virtio_cap(VIRTIO_PCI_CAP_SHARED_MEMORY_CFG, sizeof(shm), SHM_BAR, options_.shm[i].id,
            static_cast<std::uint32_t>(shm_offsets_[i]), static_cast<std::uint32_t>(options_.shm[i].length));
        shm.offset_hi = le32(static_cast<std::uint32_t>(shm_offsets_[i] >> 32));
        shm.length_hi = le32(static_cast<std::uint32_t>(options_.shm[i].length >> 32));
        (void)VMM_TRY(add(bytes_of(shm)));
    }

    // §4.1.4.8: vendor data, read without side effects.
    VirtioPciVendorCap vendor {};
    vendor.cap_vndr = vmm::pci::CAP_ID_VENDOR;
    vendor.cap_len = sizeof(vendor);
    vendor.cfg_type = VIRTIO_PCI_CAP_VENDOR_CFG;
    vendor.vendor_id = le16(VENDOR_CAP_VENDOR_ID);
    const std::string_view version = VIREO_VERSION;
    std::copy_n(version.begin(), std::min(version.size(), vendor.version.size()), vendor.version.begin());
    (void)VMM_TRY(add(bytes_of(vendor)));
    return {};
}

// ---- PciDevice ------------------------------------------------------------------------------

pci::BarSpecs PciTransport::bars() const
{
    return config_.bars();
}

std::uint64_t PciTransport::bar_address(std::uint8_t index) const
{
    std::lock_guard lock(mutex_);
    return config_.bar_address(index);
}

void PciTransport::set_bar_address(std::uint8_t index, std::uint64_t address)
{
    std::lock_guard lock(mutex_);
    config_.set_bar_address(index, address);
    snapshot_bars();
}

void PciTransport::snapshot_bars() noexcept
{
    for (std::uint8_t i = 0; i < vmm::pci::BAR_COUNT; ++i) {
        bar_snapshot_[i].store(config_.bar_address(i), std::memory_order_relaxed);
    }
}

std::uint64_t PciTransport::current_bar_address(std::uint8_t index) const noexcept
{
    return index < bar_snapshot_.size() ? bar_snapshot_[index].load(std::memory_order_relaxed) : 0;
}

void PciTransport::attach(pci::BarMapper& mapper)
{
    std::lock_guard lock(mutex_);
    config_.attach(
        mapper, [this](std::uint8_t index, std::optional<std::uint64_t> base) { on_bar_moved(index, base); });
}

void PciTransport::on_bar_moved(std::uint8_t index, std::optional<std::uint64_t> base)
{
    if (index != REGS_BAR) {
        return;
    }
    // The ioeventfds follow the notify addresses. len 0: a 16-bit queue index and a 32-bit
    // notification both match, whatever the value.
    for (std::uint16_t q = 0; q < core_.num_queues(); ++q) {
        QueueKick* kick = core_.kick(q);
        if (!base) {
            kick->unbind();
            continue;
        }
        const std::uint64_t addr = *base + NOTIFY_OFFSET + std::uint64_t { q } * NOTIFY_OFF_MULTIPLIER;
        if (auto r = kick->bind(addr, 0, std::nullopt); !r) {
            // Guest-controlled: BAR 0 moved onto an address another ioeventfd holds. Notifies
            // then arrive as trapped writes, or not at all if the other one claims them.
            VMM_LOG_GUEST(spdlog::level::warn, "{}: queue {} notify ioeventfd at {:#x}: {}", name(), q, addr,
                r.error().describe());
        }
    }
}

void PciTransport::update_intx_allowed() noexcept
{
    irq_.set_intx_allowed(!msix_->enabled() && (config_.command() & vmm::pci::COMMAND_INTX_DISABLE) == 0);
}

bool PciTransport::gone() noexcept
{
    if (!unplugged_.load(std::memory_order_relaxed)) {
        return false;
    }
    late_accesses_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void PciTransport::config_read(std::uint32_t offset, std::span<std::byte> data) noexcept
{
    std::lock_guard lock(mutex_);
    if (gone()) {
        std::fill(data.begin(), data.end(), std::byte { 0xff });
        return;
    }
    // §4.1.4.5.1: with MSI-X disabled, the status register's Interrupt bit is the OR of the ISR.
    config_.set_interrupt_status(!msix_->enabled() && irq_.isr() != 0);
    if (overlaps(offset, data.size(), cfg_cap_ + CFG_CAP_DATA, 4)) {
        cfg_window_access(false);
    }
    config_.read(offset, data);
}

void PciTransport::config_write(std::uint32_t offset, std::span<const std::byte> data) noexcept
{
    std::lock_guard lock(mutex_);
    if (gone()) {
        return;
    }
    // Read-only bits are masked, BAR changes move the mappings (and, through on_bar_moved, the
    // ioeventfds).
    config_.write(offset, data);
    if (overlaps(offset, data.size(), vmm::pci::BAR0, 4 * vmm::pci::BAR_COUNT)) {
        snapshot_bars();
    }
    if (overlaps(offset, data.size(), msix_cap_ + pci::Msix::CAP_CONTROL, 2)) {
        msix_->set_control(static_cast<std::uint16_t>(config_.get(msix_cap_ + pci::Msix::CAP_CONTROL, 2)));
        update_intx_allowed();
    }
    if (overlaps(offset, data.size(), vmm::pci::COMMAND, 2)) {
        update_intx_allowed();
    }
    if (overlaps(offset, data.size(), cfg_cap_ + CFG_CAP_DATA, 4)) {
        cfg_window_access(true);
    }
}

void PciTransport::cfg_window_access(bool write)
{
    // Guest-controlled: bar, offset and length. §4.1.4.9.1 has the driver name 1, 2 or 4 bytes,
    // aligned, inside a BAR; anything else is ignored and the data window reads as zero.
    const auto bar = static_cast<std::uint8_t>(config_.get(cfg_cap_ + CAP_BAR, 1));
    const std::uint32_t off = config_.get(cfg_cap_ + CAP_OFFSET, 4);
    const std::uint32_t len = config_.get(cfg_cap_ + CAP_LENGTH, 4);
    const pci::BarSpecs specs = config_.bars();
    const bool valid = (len == 1 || len == 2 || len == 4) && off % len == 0 && bar < vmm::pci::BAR_COUNT
        && specs[bar].kind != pci::BarKind::none && off <= specs[bar].size - len;
    std::array<std::byte, 4> window {};
    if (!valid) {
        // Length 0 is the reset state (a config space dump reads the window without setting it
        // up): nothing to say about it.
        if (len != 0) {
            VMM_LOG_GUEST(spdlog::level::warn, "{}: PCI_CFG access of {} bytes at BAR {} offset {:#x} ignored", name(),
                len, bar, off);
        }
        if (!write) {
            config_.set(cfg_cap_ + CFG_CAP_DATA, 4, 0);
        }
        return;
    }
    const auto access = std::span(window).first(len);
    if (write) {
        store_le(window, config_.get(cfg_cap_ + CFG_CAP_DATA, 4));
        if (bar == REGS_BAR) {
            regs_write(off, access);
        }
        return;
    }
    if (bar == REGS_BAR) {
        regs_read(off, access);
    }
    config_.set(cfg_cap_ + CFG_CAP_DATA, 4, static_cast<std::uint32_t>(load_le(window)));
}

void PciTransport::bar_read(std::uint8_t index, std::uint64_t offset, std::span<std::byte> data) noexcept
{
    std::lock_guard lock(mutex_);
    if (gone()) {
        std::fill(data.begin(), data.end(), std::byte { 0xff });
        return;
    }
    if (index == REGS_BAR) {
        regs_read(offset, data);
        return;
    }
    // Shared memory windows have no memory behind them yet.
    std::fill(data.begin(), data.end(), std::byte { 0 });
}

void PciTransport::bar_write(std::uint8_t index, std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    std::lock_guard lock(mutex_);
    if (gone()) {
        return;
    }
    if (index == REGS_BAR) {
        regs_write(offset, data);
    }
}

void PciTransport::reset()
{
    std::lock_guard lock(mutex_);
    core_.reset();
    irq_.reset();
}

void PciTransport::unplug(const std::function<void()>& wait_step)
{
    std::unique_lock lock(mutex_, std::try_to_lock);
    while (!lock.owns_lock()) {
        wait_step();
        std::this_thread::yield();
        (void)lock.try_lock();
    }
    if (unplugged_.load(std::memory_order_relaxed)) {
        return;
    }
    unplugged_.store(true, std::memory_order_release);
    spdlog::info("{}: surprise-removed from the PCI bus (injected fault)", name());
    on_bar_moved(REGS_BAR, std::nullopt); // the notify ioeventfds go
    msix_->set_control(0);
    irq_.set_intx_allowed(false);
    core_.reset();
    irq_.reset();
}

// ---- BAR 0 ------------------------------------------------------------------------------------

void PciTransport::regs_read(std::uint64_t offset, std::span<std::byte> data) noexcept
{
    std::fill(data.begin(), data.end(), std::byte { 0 });
    const std::uint64_t size = data.size();
    // Guest-controlled: offset and width. Each structure is decoded only for accesses wholly
    // inside it; the rest of BAR 0 reads as zero.
    auto inside = [&](std::uint64_t start, std::uint64_t len) { return within(offset, size, start, len); };
    if (inside(COMMON_OFFSET, common::SIZE)) {
        store_le(data, common_read(static_cast<std::uint32_t>(offset - COMMON_OFFSET), data.size()));
    } else if (inside(ISR_OFFSET, PAGE)) {
        if (offset == ISR_OFFSET) {
            data[0] = std::byte { irq_.read_isr() };
        }
    } else if (inside(DEVICE_OFFSET, PAGE)) {
        if (natural(offset, size)) {
            core_.device().read_config(static_cast<std::uint32_t>(offset - DEVICE_OFFSET), data);
        } else {
            VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte device configuration read at {:#x} ignored", name(), size,
                offset - DEVICE_OFFSET);
        }
    } else if (inside(table_offset_, msix_->table_bytes())) {
        msix_->read_table(offset - table_offset_, data);
    } else if (inside(pba_offset_, msix_->pba_bytes())) {
        msix_->read_pba(offset - pba_offset_, data);
    }
}

void PciTransport::regs_write(std::uint64_t offset, std::span<const std::byte> data)
{
    const std::uint64_t size = data.size();
    auto inside = [&](std::uint64_t start, std::uint64_t len) { return within(offset, size, start, len); };
    if (inside(COMMON_OFFSET, common::SIZE)) {
        common_write(static_cast<std::uint32_t>(offset - COMMON_OFFSET), data.size(), load_le(data));
    } else if (inside(DEVICE_OFFSET, PAGE)) {
        if (natural(offset, size)) {
            if (!core_.device().write_config(static_cast<std::uint32_t>(offset - DEVICE_OFFSET), data)) {
                core_.conformance().record(DriverRule::config_write_read_only);
            }
        } else {
            VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte device configuration write at {:#x} ignored", name(), size,
                offset - DEVICE_OFFSET);
        }
    } else if (inside(NOTIFY_OFFSET, notify_size_)) {
        // A notify no ioeventfd took (decoding just moved, or it came through PCI_CFG). The
        // address names the queue, as for the ioeventfds: the value (index or notification
        // data) is not needed to find it.
        if ((size == 2 || size == 4) && (offset - NOTIFY_OFFSET) % NOTIFY_OFF_MULTIPLIER == 0) {
            core_.notify_trapped(static_cast<std::uint32_t>((offset - NOTIFY_OFFSET) / NOTIFY_OFF_MULTIPLIER));
        } else {
            VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte notify at {:#x} ignored", name(), size, offset);
        }
    } else if (inside(table_offset_, msix_->table_bytes())) {
        msix_->write_table(offset - table_offset_, data);
    } else {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte write at BAR 0 offset {:#x} ignored", name(), size, offset);
    }
}

std::uint16_t PciTransport::checked_vector(std::uint64_t value) const noexcept
{
    // §4.1.5.1.2.1: a vector past the table does not map; the register reads NO_VECTOR, which
    // is how the driver learns that the mapping failed.
    return value < msix_->size() ? static_cast<std::uint16_t>(value) : VIRTIO_MSI_NO_VECTOR;
}

std::uint8_t PciTransport::config_generation() noexcept
{
    const std::uint32_t g = core_.config_generation();
    if (g != seen_generation_) {
        seen_generation_ = g;
        ++generation_;
    }
    return generation_;
}

std::uint64_t PciTransport::common_read(std::uint32_t offset, std::size_t width) noexcept
{
    using namespace common;
    QueueConfig* q = core_.queue(queue_sel_);
    // 64-bit fields: either half with a 32-bit access, or all of it at once.
    auto wide = [&](std::uint32_t field, std::uint64_t value) -> std::optional<std::uint64_t> {
        if (offset == field && (width == 4 || width == 8)) {
            return width == 4 ? value & LOW_DWORD : value;
        }
        if (offset == field + 4 && width == 4) {
            return value >> 32;
        }
        return std::nullopt;
    };
    if (offset >= QUEUE_DESC && offset < QUEUE_NOTIFY_DATA) {
        const std::uint32_t field = offset & ~7U;
        std::uint64_t value = 0;
        if (q != nullptr) {
            value = field == QUEUE_DESC ? q->desc_addr() : field == QUEUE_DRIVER ? q->driver_addr() : q->device_addr();
        }
        if (auto v = wide(field, value)) {
            return *v;
        }
        VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte read of common configuration {:#x}", name(), width, offset);
        return 0;
    }
    struct Field {
        std::uint32_t offset;
        std::size_t width;
    };
    static constexpr Field FIELDS[] = {
        { DEVICE_FEATURE_SELECT, 4 },
        { DEVICE_FEATURE, 4 },
        { DRIVER_FEATURE_SELECT, 4 },
        { DRIVER_FEATURE, 4 },
        { CONFIG_MSIX_VECTOR, 2 },
        { NUM_QUEUES, 2 },
        { DEVICE_STATUS, 1 },
        { CONFIG_GENERATION, 1 },
        { QUEUE_SELECT, 2 },
        { QUEUE_SIZE, 2 },
        { QUEUE_MSIX_VECTOR, 2 },
        { QUEUE_ENABLE, 2 },
        { QUEUE_NOTIFY_OFF, 2 },
        { QUEUE_NOTIFY_DATA, 2 },
        { QUEUE_RESET, 2 },
        { ADMIN_QUEUE_INDEX, 2 },
        { ADMIN_QUEUE_NUM, 2 },
    };
    const bool known = std::any_of(
        std::begin(FIELDS), std::end(FIELDS), [&](const Field& f) { return f.offset == offset && f.width == width; });
    if (!known) {
        // §4.1.3.1: the driver accesses each field with its own width.
        VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte read of common configuration {:#x}", name(), width, offset);
        return 0;
    }
    switch (offset) {
    case DEVICE_FEATURE_SELECT:
        return device_features_sel_;
    case DEVICE_FEATURE:
        return core_.device_features_word(device_features_sel_);
    case DRIVER_FEATURE_SELECT:
        return driver_features_sel_;
    case DRIVER_FEATURE:
        return core_.driver_features_word(driver_features_sel_);
    case CONFIG_MSIX_VECTOR:
        return irq_.config_vector();
    case NUM_QUEUES:
        return core_.num_queues();
    case DEVICE_STATUS:
        reset_unconfirmed_ = false;
        return core_.status();
    case CONFIG_GENERATION:
        return config_generation();
    case QUEUE_SELECT:
        return queue_sel_;
    default:
        break;
    }
    // Per-queue fields: a queue_select past the queues reads zero everywhere (§4.1.4.3.2:
    // queue_size 0 means "not available").
    if (q == nullptr) {
        return 0;
    }
    switch (offset) {
    case QUEUE_SIZE:
        return q->size();
    case QUEUE_MSIX_VECTOR:
        return irq_.queue_vector(queue_sel_);
    case QUEUE_ENABLE:
        return q->ready() ? 1 : 0;
    case QUEUE_NOTIFY_OFF:
    case QUEUE_NOTIFY_DATA:
        // The notify address is cap.offset + index * multiplier; the notification data for
        // VIRTIO_F_NOTIF_CONFIG_DATA (never offered) would be the index.
        return queue_sel_;
    case QUEUE_RESET:
        return 0; // queue resets complete before the write returns (§4.1.4.3.1)
    default:
        return 0; // admin queues: none
    }
}

void PciTransport::common_write(std::uint32_t offset, std::size_t width, std::uint64_t value)
{
    using namespace common;
    QueueConfig* q = core_.queue(queue_sel_);
    auto bad_width = [&] {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: {}-byte write of {:#x} to common configuration {:#x} ignored", name(),
            width, value, offset);
    };
    auto no_queue = [&] {
        VMM_LOG_GUEST(spdlog::level::warn, "{}: write to common configuration {:#x} for queue {}, which does not exist",
            name(), offset, queue_sel_);
    };

    if (offset >= QUEUE_DESC && offset < QUEUE_NOTIFY_DATA) {
        const std::uint32_t field = offset & ~7U;
        const bool high = offset != field;
        if (!(width == 4 || (width == 8 && !high))) {
            bad_width();
            return;
        }
        if (q == nullptr) {
            no_queue();
            return;
        }
        auto merge = [&](std::uint64_t old) { return width == 8 ? value : with_half(old, high, value); };
        if (field == QUEUE_DESC) {
            q->set_desc_addr(merge(q->desc_addr()));
        } else if (field == QUEUE_DRIVER) {
            q->set_driver_addr(merge(q->driver_addr()));
        } else {
            q->set_device_addr(merge(q->device_addr()));
        }
        return;
    }

    auto expect = [&](std::size_t w) {
        if (width != w) {
            bad_width();
            return false;
        }
        return true;
    };
    switch (offset) {
    case DEVICE_FEATURE_SELECT:
        if (expect(4)) {
            device_features_sel_ = static_cast<std::uint32_t>(value);
        }
        return;
    case DRIVER_FEATURE_SELECT:
        if (expect(4)) {
            driver_features_sel_ = static_cast<std::uint32_t>(value);
        }
        return;
    case DRIVER_FEATURE:
        if (expect(4)) {
            core_.write_driver_features_word(driver_features_sel_, static_cast<std::uint32_t>(value));
        }
        return;
    case CONFIG_MSIX_VECTOR:
        if (expect(2)) {
            irq_.set_config_vector(checked_vector(value));
        }
        return;
    case DEVICE_STATUS:
        if (expect(1)) {
            if (value != 0 && reset_unconfirmed_) {
                core_.conformance().record(DriverRule::reset_not_awaited);
            }
            reset_unconfirmed_ = value == 0;
            core_.write_status(static_cast<std::uint8_t>(value));
            if (value == 0) {
                irq_.reset(); // §4.1.5.1.2.1: every event is unmapped after reset
            }
        }
        return;
    case QUEUE_SELECT:
        if (expect(2)) {
            queue_sel_ = static_cast<std::uint16_t>(value);
        }
        return;
    case QUEUE_SIZE:
    case QUEUE_MSIX_VECTOR:
    case QUEUE_ENABLE:
    case QUEUE_RESET:
        break;
    default:
        // device_feature, num_queues, config_generation, queue_notify_off, queue_notify_data
        // and the admin fields are read-only (§4.1.4.3.2).
        VMM_LOG_GUEST(spdlog::level::warn, "{}: write of {:#x} to read-only common configuration {:#x} ignored", name(),
            value, offset);
        return;
    }

    if (!expect(2)) {
        return;
    }
    if (q == nullptr) {
        no_queue();
        return;
    }
    switch (offset) {
    case QUEUE_SIZE:
        q->set_size(static_cast<std::uint16_t>(value)); // ignored (and logged) once enabled
        return;
    case QUEUE_MSIX_VECTOR:
        irq_.set_queue_vector(queue_sel_, checked_vector(value));
        return;
    case QUEUE_ENABLE:
        // §4.1.4.3.2: the driver MUST NOT write 0; only a (queue) reset disables a queue.
        if (value == 0) {
            VMM_LOG_GUEST(
                spdlog::level::warn, "{}: driver wrote 0 to queue_enable of queue {}; ignored", name(), queue_sel_);
            return;
        }
        core_.set_queue_ready(queue_sel_, true);
        return;
    case QUEUE_RESET:
        if (value != 1) {
            return;
        }
        core_.reset_queue(queue_sel_); // logs and ignores it without VIRTIO_F_RING_RESET
        if (has_feature(core_.negotiated_features(), VIRTIO_F_RING_RESET)) {
            // The queue's state returns to its reset values, its vector among them.
            irq_.set_queue_vector(queue_sel_, VIRTIO_MSI_NO_VECTOR);
        }
        return;
    default:
        return;
    }
}

} // namespace vmm::virtio
