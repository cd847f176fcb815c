// SPDX-License-Identifier: Apache-2.0
// StreamSink: console output to a file descriptor that never blocks the vCPU.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "vmm/base/unique_fd.hpp"
#include "vmm/console/byte_ring.hpp"
#include "vmm/console/char_sink.hpp"

namespace vmm {

// A CharSink writing to a non-blocking descriptor (a terminal, pipe, socket or file) that it
// owns while attached.
//
// write() (vCPU threads) writes straight to the descriptor while nothing is queued. What the
// consumer does not take at once is queued, up to `limit` bytes; the rest is dropped and
// counted, and a writability wait on the loop sends the queue when the consumer catches up.
// While no descriptor is attached (a socket console without a client) the latest `backlog`
// bytes are kept instead, and sent first when one is attached. A descriptor that fails (the
// reader went away) is detached, and its output kept as backlog.
//
// Threads: write() from any thread; attach(), detach() and close() on the loop thread. The
// io_context must outlive the sink's use of it, which ends with close().
class StreamSink final
    : public CharSink
    , public std::enable_shared_from_this<StreamSink> {
public:
    static constexpr std::size_t DEFAULT_LIMIT = 1024 * 1024;

    struct Options {
        std::size_t limit = DEFAULT_LIMIT; // queued bytes while a consumer is slow
        std::size_t backlog = 0;           // bytes kept while no consumer is attached
        std::string name = "console";      // for log lines
    };

    [[nodiscard]] static std::shared_ptr<StreamSink> create(boost::asio::io_context& io, Options options);

    // Starts writing to fd, which must be non-blocking unless it is a regular file; queued
    // and backlog bytes go first. A descriptor already attached is detached first.
    void attach(UniqueFd fd);
    // Stops writing to the attached descriptor and closes it; unsent bytes become backlog.
    void detach() noexcept;
    // Sends what is queued, waiting at most `timeout` for the consumer, then detaches for
    // good: later writes are dropped. Writers wait while this runs.
    void close(std::chrono::milliseconds timeout) noexcept;

    void write(std::span<const std::byte> data) noexcept override;

    // Bytes dropped so far: over the limit, pushed out of the backlog, or after close().
    [[nodiscard]] std::uint64_t dropped() const noexcept;
    // Bytes queued or kept as backlog.
    [[nodiscard]] std::size_t queued() const noexcept;
    [[nodiscard]] bool attached() const noexcept;

    StreamSink(boost::asio::io_context& io, Options options); // use create()

private:
    // All with mutex_ held.
    void keep_as_backlog(std::span<const std::byte> data);
    void queue(std::span<const std::byte> data);
    void flush_locked();
    void arm_wait_locked();
    void fail_locked(int err);
    void detach_locked() noexcept;
    void start_wait(std::uint64_t generation);
    void on_writable(std::uint64_t generation, const boost::system::error_code& ec);

    boost::asio::io_context& io_;
    const Options options_;

    mutable std::mutex mutex_;
    UniqueFd fd_;
    bool is_socket_ = false;
    bool is_regular_ = false;
    bool broken_ = false; // the descriptor failed; the loop detaches it
    bool closed_ = false;
    bool wait_armed_ = false;      // a writability wait is posted or outstanding
    std::uint64_t generation_ = 0; // bumped by attach/detach: stale wait handlers do nothing
    bool dropping_ = false;        // for logging the start of each run of drops once
    ByteRing ring_;
    std::uint64_t dropped_ = 0;
    std::optional<boost::asio::posix::stream_descriptor> watch_; // loop thread; never owns fd_
};

} // namespace vmm
