// SPDX-License-Identifier: Apache-2.0
// Msix: table and PBA accesses, masking and pending delivery.
#include "vmm/pci/msix.hpp"

#include <cstring>

#include "vmm/base/log.hpp"
#include "vmm/pci/pci_regs.hpp"

namespace vmm::pci {
namespace {

// Table entry words (§6.8.2.9).
constexpr std::size_t WORD_ADDRESS_LOW = 0;
constexpr std::size_t WORD_ADDRESS_HIGH = 1;
constexpr std::size_t WORD_DATA = 2;
constexpr std::size_t WORD_CONTROL = 3;
constexpr std::size_t WORDS_PER_ENTRY = 4;

void put_le(std::array<std::uint8_t, Msix::CAPABILITY_SIZE>& out, std::size_t at, std::uint32_t v, std::size_t width)
{
    for (std::size_t i = 0; i < width; ++i) {
        out[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
    }
}

} // namespace

Result<std::unique_ptr<Msix>> Msix::create(MsiRouter& router, std::size_t vectors)
{
    if (vectors == 0 || vectors > MAX_VECTORS) {
        return fail(Errc::invalid_argument, "MSI-X table of {} vectors (1..{} allowed)", vectors, MAX_VECTORS);
    }
    auto m = std::unique_ptr<Msix>(new Msix());
    m->entries_.resize(vectors);
    for (auto& e : m->entries_) {
        e.vector = VMM_TRY(router.allocate());
    }
    return m;
}

std::array<std::uint8_t, Msix::CAPABILITY_SIZE> Msix::capability(
    std::uint8_t table_bar, std::uint32_t table_offset, std::uint8_t pba_bar, std::uint32_t pba_offset) const noexcept
{
    std::array<std::uint8_t, CAPABILITY_SIZE> cap {};
    cap[0] = CAP_ID_MSIX;
    put_le(cap, CAP_CONTROL, static_cast<std::uint32_t>(size() - 1) & CONTROL_TABLE_SIZE, 2);
    // §6.8.2.4-5: the offsets are QWORD aligned, the BAR indicator sits in the low 3 bits.
    put_le(cap, 4, (table_offset & ~7U) | (table_bar & 7U), 4);
    put_le(cap, 8, (pba_offset & ~7U) | (pba_bar & 7U), 4);
    return cap;
}

std::array<std::uint8_t, Msix::CAPABILITY_SIZE> Msix::capability_writable() noexcept
{
    std::array<std::uint8_t, CAPABILITY_SIZE> w {};
    // Only Function Mask and MSI-X Enable, the top two bits of Message Control.
    w[CAP_CONTROL + 1] = static_cast<std::uint8_t>((CONTROL_FUNCTION_MASK | CONTROL_ENABLE) >> 8);
    return w;
}

void Msix::set_control(std::uint16_t control) noexcept
{
    const bool enable = (control & CONTROL_ENABLE) != 0;
    const bool mask = (control & CONTROL_FUNCTION_MASK) != 0;
    if (enable == enabled() && mask == function_mask_) {
        return;
    }
    enabled_.store(enable, std::memory_order_release);
    function_mask_ = mask;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        update(i);
    }
}

bool Msix::pending(std::size_t index) const noexcept
{
    return index < entries_.size() && entries_[index].pending->load(std::memory_order_acquire);
}

bool Msix::masked(std::size_t index) const noexcept
{
    return index >= entries_.size() || (entries_[index].words[WORD_CONTROL] & ENTRY_CONTROL_MASKED) != 0;
}

MsiMessage Msix::message(std::size_t index) const noexcept
{
    if (index >= entries_.size()) {
        return {};
    }
    const auto& w = entries_[index].words;
    return MsiMessage { std::uint64_t { w[WORD_ADDRESS_HIGH] } << 32 | w[WORD_ADDRESS_LOW], w[WORD_DATA] };
}

void Msix::read_table(std::uint64_t offset, std::span<std::byte> data) const noexcept
{
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::uint64_t at = offset + i;
        const std::size_t word = static_cast<std::size_t>(at / 4);
        const std::size_t entry = word / WORDS_PER_ENTRY;
        std::uint32_t v = 0;
        if (entry < entries_.size()) {
            v = entries_[entry].words[word % WORDS_PER_ENTRY];
        }
        data[i] = std::byte { static_cast<std::uint8_t>(v >> (8 * (at % 4))) };
    }
}

void Msix::write_table(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    // §6.8.2: software writes the table with aligned DWORD or QWORD accesses.
    if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "MSI-X: {}-byte table write at {:#x} ignored (DWORD or QWORD only)",
            data.size(), offset);
        return;
    }
    const std::size_t first = static_cast<std::size_t>(offset / 4);
    const std::size_t entry = first / WORDS_PER_ENTRY;
    if (entry >= entries_.size()) {
        return;
    }
    for (std::size_t i = 0; i < data.size() / 4; ++i) {
        std::uint32_t v = 0;
        std::memcpy(&v, data.data() + 4 * i, sizeof(v));
        const std::size_t w = (first + i) % WORDS_PER_ENTRY;
        switch (w) {
        case WORD_ADDRESS_LOW:
            v &= ~3U; // the address is DWORD aligned: bits 1:0 read as zero
            break;
        case WORD_CONTROL:
            v &= ENTRY_CONTROL_MASKED; // the other bits are reserved
            break;
        default:
            break;
        }
        entries_[entry].words[w] = v;
    }
    update(entry);
}

void Msix::read_pba(std::uint64_t offset, std::span<std::byte> data) const noexcept
{
    for (std::size_t i = 0; i < data.size(); ++i) {
        std::uint8_t b = 0;
        for (std::size_t bit = 0; bit < 8; ++bit) {
            const std::uint64_t index = (offset + i) * 8 + bit;
            if (index < entries_.size() && pending(static_cast<std::size_t>(index))) {
                b = static_cast<std::uint8_t>(b | (1U << bit));
            }
        }
        data[i] = std::byte { b };
    }
}

void Msix::update(std::size_t index) noexcept
{
    Entry& e = entries_[index];
    const bool unmasked = enabled() && !function_mask_ && (e.words[WORD_CONTROL] & ENTRY_CONTROL_MASKED) == 0;
    if (!unmasked) {
        e.deliverable->store(false, std::memory_order_release);
        return;
    }
    const MsiMessage msg = message(index);
    if (e.routed != msg) {
        // Route before publishing: fire() on the loop must never send to a stale route.
        e.deliverable->store(false, std::memory_order_release);
        if (auto r = e.vector->set_route(msg); !r) {
            VMM_LOG_GUEST(spdlog::level::warn, "MSI-X: vector {} (address {:#x}, data {:#x}) cannot be routed: {}",
                index, msg.address, msg.data, r.error().describe());
            e.routed.reset();
            return;
        }
        e.routed = msg;
    }
    // seq_cst here and in fire(): each side stores its flag, then reads the other's (a store
    // followed by a load, which only sequential consistency keeps in order).
    e.deliverable->store(true);
    if (e.pending->exchange(false)) {
        e.vector->trigger();
    }
}

void Msix::fire(std::size_t index) noexcept
{
    if (index >= entries_.size()) {
        return;
    }
    Entry& e = entries_[index];
    if (e.deliverable->load(std::memory_order_acquire)) {
        e.vector->trigger();
        return;
    }
    e.pending->store(true);
    // An unmask that ran between the load above and the store found no pending bit; if the
    // vector is deliverable now, claim the bit back and send (whoever claims it sends).
    if (e.deliverable->load() && e.pending->exchange(false)) {
        e.vector->trigger();
    }
}

} // namespace vmm::pci
