// SPDX-License-Identifier: Apache-2.0
// BlockBackend: what the virtio-blk device model needs from the storage behind it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "virtio/memory/guest_slice.hpp"
#include "vmm/base/result.hpp"

namespace vmm::virtio::block {

enum class IoOp : std::uint8_t {
    read,         // readv into `iov`
    write,        // writev from `iov`; with `sync`, committed to stable storage first
    flush,        // fdatasync: every completed write is on stable storage
    discard,      // deallocate the range; reads of it afterwards are unspecified
    write_zeroes, // afterwards reads of the range return zeroes; with `unmap` it may deallocate
    zero_fill,    // write zero bytes over the range in place (no deallocation)
};

// One host operation. `iov` points into guest memory (zero copy): it stays valid, and the
// memory behind it pinned, until the completion has been delivered.
struct IoRequest {
    IoOp op = IoOp::read;
    std::uint64_t offset = 0; // bytes
    std::uint64_t length = 0; // bytes; for read and write, the sum of iov
    IovecList iov;
    bool sync = false;  // write: RWF_DSYNC
    bool unmap = false; // write_zeroes: deallocating is allowed
    std::uint64_t tag = 0;
};

// Where a backend delivers completions, on the loop thread.
class IoCompletionSink {
public:
    IoCompletionSink() = default;
    IoCompletionSink(const IoCompletionSink&) = delete;
    IoCompletionSink& operator=(const IoCompletionSink&) = delete;
    virtual ~IoCompletionSink() = default;

    // `result` is 0 when the whole request succeeded, else a negative errno. Short transfers
    // never show here: the backend continues them itself. The sink may submit() from here.
    virtual void io_complete(std::uint64_t tag, int result) noexcept = 0;
    // After a batch of io_complete() calls: the moment to send used-buffer notifications.
    virtual void io_batch_done() noexcept = 0;
};

// The storage behind a virtio-blk device. Asynchronous: submit() queues, flush_submissions()
// hands what was queued to the host in one go (one system call per batch, not per request),
// and completions come back through the sink on the loop thread, those that finished inside
// the submission already before flush_submissions() returns. Loop thread only.
class BlockBackend {
public:
    BlockBackend() = default;
    BlockBackend(const BlockBackend&) = delete;
    BlockBackend& operator=(const BlockBackend&) = delete;
    virtual ~BlockBackend() = default;

    virtual void set_sink(IoCompletionSink* sink) noexcept = 0;
    // Bytes; what the device reports is this rounded down to whole sectors.
    [[nodiscard]] virtual std::uint64_t size() const noexcept = 0;
    [[nodiscard]] virtual bool read_only() const noexcept = 0;
    // Changes the size (truncating or extending an image file; a host block device can only
    // be re-measured, so `bytes` must then equal its current size). Returns the new size.
    [[nodiscard]] virtual Result<std::uint64_t> resize(std::uint64_t bytes) = 0;

    virtual void submit(IoRequest&& request) noexcept = 0;
    virtual void flush_submissions() noexcept = 0;
    // Submitted requests whose completion has not been delivered yet.
    [[nodiscard]] virtual std::size_t in_flight() const noexcept = 0;
    // Blocks until every submitted request has completed and its completion was delivered
    // (including requests the sink submits meanwhile). For resets: when it returns, the host
    // no longer touches any buffer it was given.
    virtual void drain() noexcept = 0;
    // For log lines and the API.
    [[nodiscard]] virtual std::string describe() const = 0;
    // For the API's status: the backend's own state (injected faults), or null.
    [[nodiscard]] virtual nlohmann::json status() const { return nullptr; }
};

} // namespace vmm::virtio::block
