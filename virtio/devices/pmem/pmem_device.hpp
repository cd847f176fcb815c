// SPDX-License-Identifier: Apache-2.0
// PmemDevice: virtio-pmem (virtio 1.2 §5.19), a host file as guest persistent memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "virtio/device_base.hpp"
#include "virtio/devices/block/block_backend.hpp"
#include "virtio/devices/slot_pool.hpp"
#include "virtio/devices/pmem/pmem_mapping.hpp"

namespace vmm::virtio::pmem {

// The data path is the guest's own loads and stores into the mapping, which the VMM maps into
// guest-physical space as the device's GuestWindow; the device only answers FLUSH requests on
// its one queue, each an fdatasync of the file through the backend (asynchronous, on the
// loop), so that every store made before the request is durable when it completes (§5.19.6.1).
//
// A failed flush is latched until the device is reset: the host reports a write-back error
// once, and a later fdatasync would succeed although the data is lost. Read-only: the window
// is a read-only slot and FLUSH succeeds at once (there is nothing to write back).
//
// Threads: as Device. In-flight flushes hold a DMA pin for their 4-byte response; reset()
// waits for the backend, and completions of requests from before it are dropped.
class PmemDevice final : public DeviceBase, private block::IoCompletionSink {
public:
    static constexpr std::uint16_t QUEUE_SIZE = 128;
    // Of the guest-physical base and the size: Linux maps the range with struct pages
    // (ZONE_DEVICE), which it can do in 2 MiB subsections, and DAX then maps huge pages.
    static constexpr std::uint64_t ALIGN = 2 << 20;

    PmemDevice(std::unique_ptr<block::BlockBackend> backend, PmemMapping mapping, bool read_only);
    ~PmemDevice() override;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    void reset_queue(std::uint16_t queue_index) noexcept override;
    [[nodiscard]] Result<> enable_queue(Queue queue) override;
    [[nodiscard]] std::optional<GuestWindow> guest_window() const noexcept override;
    void place_guest_window(std::uint64_t gpa) noexcept override;
    [[nodiscard]] nlohmann::json status() const override;

    [[nodiscard]] block::BlockBackend& backend() noexcept { return *backend_; }
    [[nodiscard]] std::uint64_t guest_base() const noexcept { return base_; }
    [[nodiscard]] std::uint64_t flushes() const noexcept { return flushes_; }
    [[nodiscard]] std::uint64_t failed_flushes() const noexcept { return failed_flushes_; }
    [[nodiscard]] std::size_t flushes_in_flight() const noexcept { return requests_.in_use_count(); }

private:
    struct Request {
        std::optional<DescriptorChain> chain;
        DmaPin pin;
    };

    void io_complete(std::uint64_t tag, int result) noexcept override;
    void io_batch_done() noexcept override;
    void handle(Queue& queue, DescriptorChain&& chain) noexcept;
    void respond(Queue& queue, DescriptorChain&& chain, std::uint32_t ret) noexcept;

    std::unique_ptr<block::BlockBackend> backend_;
    PmemMapping mapping_;
    bool read_only_;
    std::uint64_t base_ = 0;
    Interrupt* interrupt_ = nullptr;
    std::optional<Queue> queue_;
    bool touched_ = false; // used entries added since the last notification check
    bool flush_failed_ = false;
    SlotPool<Request> requests_;
    std::uint64_t flushes_ = 0;
    std::uint64_t failed_flushes_ = 0;
    std::uint64_t bad_requests_ = 0;
};

} // namespace vmm::virtio::pmem
