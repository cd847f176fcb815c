// SPDX-License-Identifier: Apache-2.0
// MSI-X (PCI 3.0 §6.8.2): message routing interfaces, and a function's vector table and PBA.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "vmm/base/result.hpp"

namespace vmm::pci {

// The message a vector sends: a write of `data` to `address` (on x86 the local APIC window).
struct MsiMessage {
    std::uint64_t address = 0;
    std::uint32_t data = 0;
    constexpr bool operator==(const MsiMessage&) const = default;
};

// One interrupt vector of one device, as the platform delivers it (on KVM: a GSI with an MSI
// route and an irqfd).
class MsiVector {
public:
    MsiVector() = default;
    MsiVector(const MsiVector&) = delete;
    MsiVector& operator=(const MsiVector&) = delete;
    virtual ~MsiVector() = default;

    // Where trigger() sends from now on. vCPU threads (a table write), under the device's
    // lock; may make system calls. Fails when the platform cannot route the message.
    [[nodiscard]] virtual Result<> set_route(const MsiMessage& message) = 0;
    // Sends the routed message. Any thread (the event loop), lock-free; nothing before the
    // first set_route().
    virtual void trigger() noexcept = 0;
};

// Hands out vectors; the VM has one (KVM GSI routing), tests have a fake.
class MsiRouter {
public:
    MsiRouter() = default;
    MsiRouter(const MsiRouter&) = delete;
    MsiRouter& operator=(const MsiRouter&) = delete;
    virtual ~MsiRouter() = default;

    [[nodiscard]] virtual Result<std::unique_ptr<MsiVector>> allocate() = 0;
};

// The MSI-X state of one function: the capability's Message Control bits, the vector table
// and the Pending Bit Array, with delivery through one MsiVector per table entry.
//
// Threads: the control, table and PBA accessors run on vCPU threads under the device's lock;
// fire() runs on the event loop and touches only atomics and the vector's trigger(). A message
// that fires while its vector is masked (per entry or by the function mask) sets its pending
// bit, and goes out when the vector is unmasked (§6.8.2.9); the pending bit is claimed with an
// atomic exchange on both sides, so a message racing an unmask is sent exactly once.
class Msix {
public:
    static constexpr std::size_t MAX_VECTORS = 2048; // Table Size is 11 bits (N - 1)
    static constexpr std::size_t ENTRY_SIZE = 16;
    // Message Control (capability offset 2).
    static constexpr std::uint16_t CONTROL_TABLE_SIZE = 0x07ff;
    static constexpr std::uint16_t CONTROL_FUNCTION_MASK = 1U << 14;
    static constexpr std::uint16_t CONTROL_ENABLE = 1U << 15;
    static constexpr std::uint32_t ENTRY_CONTROL_MASKED = 1U << 0;
    // The capability: ID, next, Message Control, Table Offset/BIR, PBA Offset/BIR.
    static constexpr std::size_t CAPABILITY_SIZE = 12;
    static constexpr std::uint32_t CAP_CONTROL = 2;

    // `vectors` entries (1..MAX_VECTORS), each with a vector from `router`.
    [[nodiscard]] static Result<std::unique_ptr<Msix>> create(MsiRouter& router, std::size_t vectors);

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] std::uint64_t table_bytes() const noexcept { return size() * ENTRY_SIZE; }
    [[nodiscard]] std::uint64_t pba_bytes() const noexcept { return (size() + 63) / 64 * 8; }

    // The capability structure for ConfigSpace::add_capability, with its writable-bit mask,
    // for a table and a PBA at the given BAR and offsets (8-byte aligned).
    [[nodiscard]] std::array<std::uint8_t, CAPABILITY_SIZE> capability(std::uint8_t table_bar,
        std::uint32_t table_offset, std::uint8_t pba_bar, std::uint32_t pba_offset) const noexcept;
    [[nodiscard]] static std::array<std::uint8_t, CAPABILITY_SIZE> capability_writable() noexcept;

    // The guest wrote Message Control (its Enable and Function Mask bits are what counts).
    void set_control(std::uint16_t control) noexcept;
    [[nodiscard]] bool enabled() const noexcept { return enabled_.load(std::memory_order_acquire); }
    [[nodiscard]] bool function_masked() const noexcept { return function_mask_; }

    // Guest accesses inside the table or the PBA. Invariant: offset + size within
    // table_bytes() / pba_bytes().
    void read_table(std::uint64_t offset, std::span<std::byte> data) const noexcept;
    void write_table(std::uint64_t offset, std::span<const std::byte> data) noexcept;
    void read_pba(std::uint64_t offset, std::span<std::byte> data) const noexcept;

    // Sends vector `index`'s message, or marks it pending while it is masked. An index past
    // the table is ignored. Call only while enabled() (the function uses INTx otherwise).
    void fire(std::size_t index) noexcept;
    [[nodiscard]] bool pending(std::size_t index) const noexcept;
    [[nodiscard]] bool masked(std::size_t index) const noexcept;
    [[nodiscard]] MsiMessage message(std::size_t index) const noexcept;

private:
    struct Entry {
        std::array<std::uint32_t, 4> words { 0, 0, 0, ENTRY_CONTROL_MASKED }; // §6.8.2.9: masked at reset
        std::unique_ptr<MsiVector> vector;
        std::optional<MsiMessage> routed; // what the vector routes to now
        // Loop side: whether fire() may send now, and the pending bit.
        std::unique_ptr<std::atomic<bool>> deliverable = std::make_unique<std::atomic<bool>>(false);
        std::unique_ptr<std::atomic<bool>> pending = std::make_unique<std::atomic<bool>>(false);
    };

    Msix() = default;
    // Recomputes whether entry `index` may deliver, routing it first when it becomes
    // deliverable, and sends a pending message.
    void update(std::size_t index) noexcept;

    std::vector<Entry> entries_;
    std::atomic<bool> enabled_ { false };
    bool function_mask_ = false;
};

} // namespace vmm::pci
