// SPDX-License-Identifier: Apache-2.0
// PciDriver: TransportDriver over a virtio-pci function, found and driven the way Linux does it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "tests/support/fake_msi.hpp"
#include "tests/support/test_host.hpp"
#include "tests/support/transport_driver.hpp"
#include "vmm/bus/bus.hpp"

namespace vmm::virtio::test {

// Reaches the function through ECAM configuration cycles and its BARs through MMIO on the bus
// (writes through TestHost::mmio_write, so that ioeventfds match as under KVM). probe() does
// what Linux's virtio_pci_modern_dev does: read the BARs the firmware assigned, enable memory
// decoding and bus mastering, walk the capability list for the first capability of each
// virtio type, and (unless told not to) enable MSI-X with one vector for configuration changes
// and one per queue (vp_find_vqs_msix).
class PciDriver final : public TransportDriver {
public:
    struct Options {
        bool msix = true;
    };
    // A virtio capability as found in configuration space.
    struct Cap {
        std::uint32_t pos = 0;
        std::uint8_t bar = 0;
        std::uint32_t offset = 0;
        std::uint32_t length = 0;
    };
    // Vector v's message data is MSI_DATA_BASE + v; vector 0 is for configuration changes,
    // vector q + 1 for queue q.
    static constexpr std::uint32_t MSI_DATA_BASE = 0x4000;
    static constexpr std::uint64_t MSI_ADDRESS = 0xfee0'0000;

    PciDriver(const Bus& mmio, TestHost& host, std::uint64_t ecam_base, std::uint8_t slot, const FakeMsiRouter& msi,
        const LineState& intx, Options options);

    // False when the function is not a modern virtio device with the capabilities it needs.
    bool probe();

    // ---- TransportDriver ----
    [[nodiscard]] std::uint32_t device_id() override;
    [[nodiscard]] std::uint8_t status() override;
    void set_status(std::uint8_t status) override;
    [[nodiscard]] std::uint64_t device_features() override;
    void set_driver_features(std::uint64_t features) override;
    [[nodiscard]] std::uint16_t queue_max(std::uint16_t index) override;
    void set_queue(std::uint16_t index, std::uint16_t size, std::uint64_t desc, std::uint64_t driver,
        std::uint64_t device) override;
    void set_queue_ready(std::uint16_t index, bool ready) override;
    [[nodiscard]] bool queue_ready(std::uint16_t index) override;
    void reset_queue(std::uint16_t index) override;
    [[nodiscard]] bool queue_reset_pending(std::uint16_t index) override;
    void notify(std::uint16_t index, std::optional<std::uint32_t> data = std::nullopt) override;
    void read_config(std::uint32_t offset, std::span<std::byte> out) override;
    void write_config(std::uint32_t offset, std::span<const std::byte> in) override;
    [[nodiscard]] std::uint32_t config_generation() override;
    // MSI-X: messages on the queue's (or the configuration) vector. INTx: as Linux's
    // vp_interrupt, the ISR read once per rising edge of the line, split by its bits.
    [[nodiscard]] std::uint32_t queue_interrupts(std::uint16_t index) override;
    [[nodiscard]] std::uint32_t config_interrupts() override;

    // ---- Raw access, for tests of what no correct driver does ----
    [[nodiscard]] std::uint32_t config_read(std::uint32_t reg, std::size_t width);
    void config_write(std::uint32_t reg, std::size_t width, std::uint32_t value);
    // At `offset` in BAR `bar` (at the address probe() found).
    [[nodiscard]] std::uint64_t bar_read(std::uint8_t bar, std::uint64_t offset, std::size_t width);
    void bar_write(std::uint8_t bar, std::uint64_t offset, std::size_t width, std::uint64_t value);
    [[nodiscard]] std::uint64_t common_read(std::uint32_t field, std::size_t width);
    void common_write(std::uint32_t field, std::size_t width, std::uint64_t value);
    // Reads (and so clears) the ISR.
    [[nodiscard]] std::uint8_t read_isr();

    [[nodiscard]] std::uint64_t bar_address(std::uint8_t bar) const noexcept { return bars_.at(bar); }
    // Re-reads the BAR registers (after a test moved one).
    void reread_bars();
    [[nodiscard]] const std::optional<Cap>& common_cap() const noexcept { return common_; }
    [[nodiscard]] const std::optional<Cap>& notify_cap() const noexcept { return notify_; }
    [[nodiscard]] const std::optional<Cap>& isr_cap() const noexcept { return isr_; }
    [[nodiscard]] const std::optional<Cap>& device_cap() const noexcept { return device_; }
    [[nodiscard]] const std::optional<Cap>& pci_cfg_cap() const noexcept { return pci_cfg_; }
    [[nodiscard]] std::uint32_t msix_cap() const noexcept { return msix_cap_; }
    [[nodiscard]] std::uint32_t notify_multiplier() const noexcept { return notify_multiplier_; }
    [[nodiscard]] std::uint64_t msix_table() const noexcept { return msix_table_; }
    [[nodiscard]] std::uint16_t msix_vectors() const noexcept { return msix_vectors_; }
    // MSI-X table entry `v`: program its message as probe() does, mask or unmask it.
    void program_vector(std::uint16_t v);
    void mask_vector(std::uint16_t v, bool masked);
    void set_msix_control(bool enable, bool function_mask);

    [[nodiscard]] std::uint64_t ecam_address(std::uint32_t reg) const noexcept;

private:
    [[nodiscard]] std::uint64_t bar_base(std::uint8_t bar) const noexcept { return bars_.at(bar); }
    void enable_msix();
    void handle_intx();
    [[nodiscard]] std::uint64_t mmio_read(std::uint64_t addr, std::size_t width);
    void mmio_write(std::uint64_t addr, std::size_t width, std::uint64_t value);

    const Bus* mmio_;
    TestHost* host_;
    std::uint64_t ecam_base_;
    std::uint8_t slot_;
    const FakeMsiRouter* msi_;
    const LineState* intx_;
    Options options_;
    std::array<std::uint64_t, 6> bars_ {};
    std::optional<Cap> common_;
    std::optional<Cap> notify_;
    std::optional<Cap> isr_;
    std::optional<Cap> device_;
    std::optional<Cap> pci_cfg_;
    std::uint32_t notify_multiplier_ = 0;
    std::uint32_t msix_cap_ = 0;
    std::uint64_t msix_table_ = 0; // offset in its BAR
    std::uint8_t msix_bar_ = 0;
    std::uint16_t msix_vectors_ = 0;
    bool msix_enabled_ = false;
    bool config_vector_set_ = false;
    // INTx bookkeeping.
    std::uint32_t edges_seen_ = 0;
    std::uint32_t intx_queue_ = 0;
    std::uint32_t intx_config_ = 0;
};

} // namespace vmm::virtio::test
