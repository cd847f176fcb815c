// SPDX-License-Identifier: Apache-2.0
// IoUringBackend: a raw image file or host block device behind one io_uring, on the event loop.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "virtio/devices/block/block_backend.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm {
class EventLoop;
class FdWatch;
} // namespace vmm

namespace vmm::virtio::block {

struct IoUringOptions {
    bool read_only = false;
    // Submission queue entries; the completion queue gets four times as many, and at most that
    // many requests are in the kernel at once (the rest wait their turn in the backend), so
    // completions never overflow.
    unsigned entries = 256;
    // Completions are picked up by a watch on this loop (an eventfd registered with the ring).
    // Without a loop (tests, benchmarks that poll) the owner calls poll().
    EventLoop* loop = nullptr;
    // What the file is, in messages: "block image \"x\" is in use by another process".
    const char* what = "block image";
};

// One ring per device, shared by its queues. Requests go straight between the host file and
// guest memory (readv/writev on the guest's iovecs, no bounce buffer); short transfers are
// continued here until complete, so the device sees a request succeed or fail as a whole.
class IoUringBackend final : public BlockBackend {
public:
    // Opens `path` (O_RDWR, or O_RDONLY when read-only) and takes an advisory lock on it
    // (exclusive for writing, shared for reading), so that two VMs cannot write one image.
    [[nodiscard]] static Result<std::unique_ptr<IoUringBackend>> open(
        const std::filesystem::path& path, const IoUringOptions& options);
    ~IoUringBackend() override;

    void set_sink(IoCompletionSink* sink) noexcept override { sink_ = sink; }
    [[nodiscard]] std::uint64_t size() const noexcept override { return size_; }
    [[nodiscard]] bool read_only() const noexcept override { return read_only_; }
    [[nodiscard]] Result<std::uint64_t> resize(std::uint64_t bytes) override;
    void submit(IoRequest&& request) noexcept override;
    void flush_submissions() noexcept override;
    [[nodiscard]] std::size_t in_flight() const noexcept override { return in_flight_; }
    void drain() noexcept override;
    [[nodiscard]] std::string describe() const override { return path_.string(); }

    // Delivers what has completed; with `wait`, blocks for at least one completion first when
    // anything is in flight. For owners without a loop.
    void poll(bool wait) noexcept;
    // The open image, for owners that also map it (virtio-pmem); the backend keeps it.
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    // System calls that submitted requests (for benchmarks: requests per submission).
    [[nodiscard]] std::uint64_t submit_calls() const noexcept { return submit_calls_; }

private:
    struct Op {
        IoRequest req;
        std::uint64_t done = 0;   // bytes transferred so far (read, write, zero_fill)
        std::uint32_t iov_at = 0; // first iovec not yet fully transferred
        std::uint8_t step = 0;    // write_zeroes: punch hole, zero range, fill
        bool busy = false;
    };

    IoUringBackend() = default;
    [[nodiscard]] Result<> init(const IoUringOptions& options);
    void prepare(std::uint32_t index, io_uring_sqe* sqe) noexcept;
    void reap() noexcept;
    void handle(std::uint32_t index, int result) noexcept;
    void retry(std::uint32_t index) noexcept { waiting_.push_back(index); }
    void finish(std::uint32_t index, int result) noexcept;
    void advance(Op& op, std::uint64_t n) noexcept;
    void on_event() noexcept;
    // Completion wake-ups: the eventfd while the loop may sleep, a posted reap when completions
    // are already there (page-cache reads complete inside io_uring_submit).
    void set_eventfd(bool enabled) noexcept;
    void arm() noexcept;

    std::filesystem::path path_;
    UniqueFd fd_;
    const char* what_ = "block image";
    UniqueFd event_fd_;
    io_uring ring_ {};
    bool ring_ready_ = false;
    bool fixed_file_ = false;
    bool single_op_ = false; // IORING_OP_READ and IORING_OP_WRITE (Linux 5.6) are there
    bool read_only_ = false;
    bool block_device_ = false;
    std::uint64_t size_ = 0;
    IoCompletionSink* sink_ = nullptr;

    std::vector<Op> ops_;
    std::vector<std::uint32_t> free_ops_;
    std::deque<std::uint32_t> waiting_; // ops not yet handed to the kernel
    std::size_t in_kernel_ = 0;         // ops in the submission queue or in the kernel
    std::size_t kernel_limit_ = 0;      // completion queue size
    std::size_t in_flight_ = 0;         // submitted by the sink and not yet completed
    std::uint64_t submit_calls_ = 0;
    bool reaping_ = false;
    EventLoop* loop_ = nullptr;
    bool reap_posted_ = false;
    bool eventfd_toggle_ = true; // the kernel can switch CQ eventfd notifications off
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::unique_ptr<FdWatch> watch_;
};

} // namespace vmm::virtio::block
