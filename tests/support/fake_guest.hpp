// SPDX-License-Identifier: Apache-2.0
// FakeGuest: guest RAM for tests (two regions with a hole, guard pages) plus a DMA view of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "virtio/interrupt.hpp"
#include "virtio/memory/direct_dma.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio::test {

// The default map, as on a real machine: RAM, a hole standing for device MMIO, more RAM.
//   [0, 1 MiB)       RAM0 (rings and buffers are allocated here, from 4 KiB up)
//   [1 MiB, 2 MiB)   hole: not RAM
//   [2 MiB, 3 MiB)   RAM1
// Each region has PROT_NONE pages on both sides (GuestMemory's guard pages), so a host access
// that escapes a bounds check faults even without ASan.
class FakeGuest {
public:
    static constexpr std::uint64_t MiB = std::uint64_t { 1 } << 20;
    static constexpr std::uint64_t RAM0_BASE = 0;
    static constexpr std::uint64_t RAM0_SIZE = MiB;
    static constexpr std::uint64_t HOLE_BASE = MiB;
    static constexpr std::uint64_t RAM1_BASE = 2 * MiB;
    static constexpr std::uint64_t RAM1_SIZE = MiB;
    static constexpr std::uint64_t RAM_END = RAM1_BASE + RAM1_SIZE;

    FakeGuest();
    // Any other map (regions page-aligned, sorted); allocation starts in the first region.
    explicit FakeGuest(std::span<const MemoryRegionSpec> regions);

    [[nodiscard]] const GuestMemory& memory() const noexcept { return memory_; }
    [[nodiscard]] const DirectDma& dma() const noexcept { return *dma_; }

    // Bump allocator over the first region, zero-filled memory; aborts when it runs out.
    [[nodiscard]] std::uint64_t alloc(std::uint64_t size, std::uint64_t align = 16);

    void write(std::uint64_t gpa, std::span<const std::byte> bytes) const;
    [[nodiscard]] std::vector<std::byte> read(std::uint64_t gpa, std::size_t len) const;
    // Into `out`, without allocating (a driver reads its rings in place).
    void read_into(std::uint64_t gpa, std::span<std::byte> out) const;
    void fill(std::uint64_t gpa, std::byte value, std::size_t len) const;
    template <WireType T>
    void write_obj(std::uint64_t gpa, const T& v) const
    {
        write(gpa, std::as_bytes(std::span(&v, 1)));
    }
    template <WireType T>
    [[nodiscard]] T read_obj(std::uint64_t gpa) const
    {
        T v {};
        read_into(gpa, std::as_writable_bytes(std::span(&v, 1)));
        return v;
    }

private:
    GuestMemory memory_;
    std::unique_ptr<DirectDma> dma_;
    std::uint64_t next_ = 0;
    std::uint64_t limit_ = 0;
};

// Counts what a device signalled.
class FakeInterrupt final : public Interrupt {
public:
    void trigger_queue(std::uint16_t queue_index) noexcept override;
    void trigger_config() noexcept override { ++config_; }
    void signal_needs_reset() noexcept override { ++needs_reset_; }

    [[nodiscard]] std::uint32_t queue_count(std::uint16_t queue_index) const noexcept;
    [[nodiscard]] std::uint32_t config_count() const noexcept { return config_; }
    [[nodiscard]] std::uint32_t needs_reset_count() const noexcept { return needs_reset_; }

private:
    std::vector<std::uint32_t> queue_;
    std::uint32_t config_ = 0;
    std::uint32_t needs_reset_ = 0;
};

// Byte helpers for test payloads.
[[nodiscard]] std::vector<std::byte> bytes_of(std::string_view text);
[[nodiscard]] std::vector<std::byte> pattern(std::size_t len, std::uint8_t seed = 1);

} // namespace vmm::virtio::test
