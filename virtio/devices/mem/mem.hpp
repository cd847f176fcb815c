// SPDX-License-Identifier: Apache-2.0
// MemDevice: virtio-mem (virtio 1.2 §5.15), guest memory plugged and unplugged block by block.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "virtio/device_base.hpp"
#include "virtio/spec/mem.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio::mem {

struct MemOptions {
    std::uint64_t region_size = 0;
    std::uint64_t block_size = 2 << 20;
    std::uint64_t requested_size = 0;    // at start; the API changes it (mem-resize)
    std::optional<std::uint16_t> node;  // offered as VIRTIO_MEM_F_ACPI_PXM when set
};

// The device's region is a hot-plug region of GuestMemory (MemoryRegionSpec::hotplug): the VMM
// maps all of it into the guest (its own KVM memory slot) and into every device's DMA view
// before the guest runs. Plugging a block changes only the device's bookkeeping (the host
// pages appear when the guest touches them); unplugging gives the block's host pages back
// (GuestMemory::discard). Unplugged memory reads as zeroes: readable, which §5.15.5 asks for
// without UNPLUGGED_INACCESSIBLE. A guest that writes there anyway makes the host allocate
// pages, at most region_size bytes, which the user granted as the device's maximum.
//
// Threads: as Device; the requests and the API run on the loop thread.
class MemDevice final : public DeviceBase {
public:
    static constexpr std::uint16_t QUEUE_SIZE = 128;
    // §5.15.5: usable_region_size covers requested_size with room to spare, so that the driver
    // can plug blocks away from ones it cannot unplug; this much beyond it (what QEMU gives).
    static constexpr std::uint64_t USABLE_EXTENT = 256ULL << 20;

    // `region` is a hot-plug region of `memory` (whose size is options.region_size).
    MemDevice(const GuestMemory& memory, const MemoryRegion& region, MemOptions options);
    ~MemDevice() override;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void reset_queue(std::uint16_t queue_index) noexcept override;
    [[nodiscard]] Result<> enable_queue(Queue queue) override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    [[nodiscard]] nlohmann::json status() const override;

    // The API: how much of the region the guest should have plugged (a multiple of
    // block_size, at most region_size); the driver hears of it with a config interrupt.
    [[nodiscard]] Result<> resize(std::uint64_t requested_size);

    [[nodiscard]] std::uint64_t requested_size() const noexcept { return requested_size_; }
    [[nodiscard]] std::uint64_t plugged_size() const noexcept { return plugged_blocks_ * options_.block_size; }
    [[nodiscard]] std::uint64_t usable_region_size() const noexcept { return usable_size_; }
    [[nodiscard]] std::uint64_t addr() const noexcept { return region_.base().raw; }

    struct Counters {
        std::uint64_t plugs = 0;   // acknowledged PLUG requests
        std::uint64_t unplugs = 0; // acknowledged UNPLUG and UNPLUG_ALL requests
        std::uint64_t states = 0;
        std::uint64_t nacks = 0;
        std::uint64_t errors = 0;       // ERROR responses: bad ranges, blocks in the wrong state
        std::uint64_t bad_requests = 0; // chains that are not a request and room for its response
        std::uint64_t released_bytes = 0;
        std::uint64_t discard_failures = 0;
    };
    [[nodiscard]] const Counters& counters() const noexcept { return counters_; }

private:
    struct Range {
        std::uint64_t first = 0; // block index
        std::uint64_t count = 0;
    };
    void handle(Queue& q, DescriptorChain&& chain) noexcept;
    [[nodiscard]] VirtioMemResp execute(const VirtioMemReq& req) noexcept;
    // The blocks [addr, addr + nb_blocks * block_size) name, if the range is block-aligned,
    // non-empty and inside the usable region (§5.15.6: anything else is an ERROR).
    [[nodiscard]] std::optional<Range> blocks_of(std::uint64_t addr, std::uint16_t nb_blocks) const noexcept;
    [[nodiscard]] std::uint64_t plugged_in(Range r) const noexcept;
    void set_blocks(Range r, bool plugged) noexcept;
    // Gives the blocks' host pages back; false (and nothing counted) if the host refused.
    bool discard(Range r) noexcept;
    // §5.15.5: usable_region_size never shrinks except at UNPLUG_ALL (and reset with nothing
    // plugged), and always covers requested_size.
    void grow_usable() noexcept;
    [[nodiscard]] std::uint64_t wanted_usable() const noexcept;
    void publish_sizes(bool notify) noexcept;

    const GuestMemory& memory_;
    const MemoryRegion& region_;
    MemOptions options_;
    std::optional<Queue> queue_;
    std::vector<std::uint64_t> plugged_; // one bit per block
    std::uint64_t plugged_blocks_ = 0;
    std::uint64_t requested_size_ = 0;
    std::uint64_t usable_size_ = 0;
    Counters counters_;
};

} // namespace vmm::virtio::mem
