// SPDX-License-Identifier: Apache-2.0
// StreamSink: bounded, non-blocking console output to a descriptor.
#include "vmm/console/stream_sink.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include <boost/asio/post.hpp>

#include "vmm/base/log.hpp"

namespace vmm {

namespace {

// Writes as much of `pieces` as the descriptor takes without waiting. Returns the byte count
// (0: it would block), or -errno.
ssize_t write_now(int fd, bool socket, const std::array<std::span<const std::byte>, 2>& pieces) noexcept
{
    std::array<iovec, 2> iov {};
    int count = 0;
    for (const auto& p : pieces) {
        if (!p.empty()) {
            // Safety: writev and sendmsg only read through iov_base.
            iov[static_cast<std::size_t>(count)] = iovec { const_cast<std::byte*>(p.data()), p.size() };
            ++count;
        }
    }
    if (count == 0) {
        return 0;
    }
    for (;;) {
        ssize_t r = 0;
        if (socket) {
            // MSG_NOSIGNAL: a client that hung up gives EPIPE, not a SIGPIPE for the VMM.
            msghdr msg {};
            msg.msg_iov = iov.data();
            msg.msg_iovlen = static_cast<std::size_t>(count);
            r = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            r = ::writev(fd, iov.data(), count);
        }
        if (r >= 0) {
            return r;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        return -errno;
    }
}

} // namespace

std::shared_ptr<StreamSink> StreamSink::create(boost::asio::io_context& io, Options options)
{
    return std::make_shared<StreamSink>(io, std::move(options));
}

StreamSink::StreamSink(boost::asio::io_context& io, Options options)
    : io_(io)
    , options_(std::move(options))
    , ring_(std::max(options_.limit, options_.backlog))
{
}

void StreamSink::attach(UniqueFd fd)
{
    const std::lock_guard lock(mutex_);
    if (fd_) {
        detach_locked();
    }
    if (closed_ || !fd) {
        return;
    }
    struct stat st { };
    if (::fstat(fd.get(), &st) == 0) {
        is_socket_ = S_ISSOCK(st.st_mode);
        is_regular_ = S_ISREG(st.st_mode);
    }
    fd_ = std::move(fd);
    ++generation_;
    // A regular file never makes a writer wait (and epoll refuses it), so it needs no watch.
    if (!is_regular_) {
        boost::system::error_code ec;
        watch_.emplace(io_);
        watch_->assign(fd_.get(), ec);
        if (ec) {
            watch_.reset();
            fail_locked(ec.value());
            return;
        }
    }
    flush_locked();
}

void StreamSink::detach() noexcept
{
    const std::lock_guard lock(mutex_);
    detach_locked();
}

void StreamSink::close(std::chrono::milliseconds timeout) noexcept
{
    const std::lock_guard lock(mutex_);
    if (closed_) {
        return;
    }
    // The last output before the VMM exits (a panic message, the test summary) matters
    // most, so give the consumer a little time for it.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fd_ && !broken_ && !ring_.empty()) {
        const ssize_t r = write_now(fd_.get(), is_socket_, ring_.pieces());
        if (r < 0) {
            break;
        }
        if (r > 0) {
            ring_.consume(static_cast<std::size_t>(r));
            continue;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            break;
        }
        pollfd p { fd_.get(), POLLOUT, 0 };
        if (::poll(&p, 1, static_cast<int>(left.count())) == 0) {
            break;
        }
    }
    dropped_ += ring_.size();
    ring_.clear();
    detach_locked();
    closed_ = true;
}

void StreamSink::write(std::span<const std::byte> data) noexcept
{
    if (data.empty()) {
        return;
    }
    const std::lock_guard lock(mutex_);
    if (closed_) {
        dropped_ += data.size();
        return;
    }
    if (!fd_ || broken_) {
        keep_as_backlog(data);
        return;
    }
    // Bytes already queued go first, so only an empty queue allows a direct write.
    if (ring_.empty()) {
        const ssize_t r = write_now(fd_.get(), is_socket_, { data, {} });
        if (r < 0) {
            fail_locked(static_cast<int>(-r));
            keep_as_backlog(data);
            return;
        }
        data = data.subspan(static_cast<std::size_t>(r));
        if (data.empty()) {
            return;
        }
    }
    queue(data);
}

std::uint64_t StreamSink::dropped() const noexcept
{
    const std::lock_guard lock(mutex_);
    return dropped_;
}

std::size_t StreamSink::queued() const noexcept
{
    const std::lock_guard lock(mutex_);
    return ring_.size();
}

bool StreamSink::attached() const noexcept
{
    const std::lock_guard lock(mutex_);
    return fd_.valid() && !broken_;
}

void StreamSink::keep_as_backlog(std::span<const std::byte> data)
{
    dropped_ += ring_.push_keep_newest(data, options_.backlog);
}

void StreamSink::queue(std::span<const std::byte> data)
{
    std::size_t taken = 0;
    // A regular file took what it could; a short write there means the disk is full.
    if (!is_regular_) {
        const std::size_t room = ring_.size() < options_.limit ? options_.limit - ring_.size() : 0;
        taken = ring_.push(data.first(std::min(room, data.size())));
    }
    if (taken < data.size()) {
        dropped_ += data.size() - taken;
        if (!dropping_) {
            dropping_ = true;
            VMM_LOG_GUEST(spdlog::level::warn,
                "{}: the reader is not keeping up; output beyond {} queued bytes is dropped ({} bytes so "
                "far)",
                options_.name, options_.limit, dropped_);
        }
    }
    arm_wait_locked();
}

void StreamSink::flush_locked()
{
    while (fd_ && !broken_ && !ring_.empty()) {
        const ssize_t r = write_now(fd_.get(), is_socket_, ring_.pieces());
        if (r < 0) {
            fail_locked(static_cast<int>(-r));
            return;
        }
        if (r == 0) {
            arm_wait_locked();
            return;
        }
        ring_.consume(static_cast<std::size_t>(r));
    }
    if (ring_.empty()) {
        dropping_ = false;
    }
}

void StreamSink::arm_wait_locked()
{
    if (wait_armed_ || closed_ || !fd_ || broken_ || is_regular_ || ring_.empty()) {
        return;
    }
    wait_armed_ = true;
    // The watch belongs to the loop thread, and write() runs on vCPU threads: hand over.
    boost::asio::post(io_, [weak = weak_from_this(), gen = generation_] {
        if (auto self = weak.lock()) {
            self->start_wait(gen);
        }
    });
}

void StreamSink::start_wait(std::uint64_t generation)
{
    const std::lock_guard lock(mutex_);
    if (generation != generation_ || !watch_) {
        return;
    }
    watch_->async_wait(boost::asio::posix::stream_descriptor::wait_write,
        [weak = weak_from_this(), generation](const boost::system::error_code& ec) {
            if (auto self = weak.lock()) {
                self->on_writable(generation, ec);
            }
        });
}

void StreamSink::on_writable(std::uint64_t generation, const boost::system::error_code& ec)
{
    const std::lock_guard lock(mutex_);
    if (generation != generation_) {
        return; // a wait on a descriptor since detached
    }
    wait_armed_ = false;
    if (ec) {
        if (ec != boost::asio::error::operation_aborted) {
            fail_locked(ec.value());
        }
        return;
    }
    flush_locked();
}

void StreamSink::fail_locked(int err)
{
    if (broken_) {
        return;
    }
    broken_ = true;
    VMM_LOG_GUEST(
        spdlog::level::warn, "{}: output stopped: {}", options_.name, std::system_category().message(err));
    // Detaching touches the watch, which only the loop thread may do.
    boost::asio::post(io_, [weak = weak_from_this(), gen = generation_] {
        if (auto self = weak.lock()) {
            const std::lock_guard lock(self->mutex_);
            if (self->generation_ == gen) {
                self->detach_locked();
            }
        }
    });
}

void StreamSink::detach_locked() noexcept
{
    ++generation_;
    wait_armed_ = false;
    if (watch_) {
        // The watch never owned the descriptor: release it, then close the descriptor once.
        boost::system::error_code ec;
        watch_->cancel(ec);
        (void)watch_->release();
        watch_.reset();
    }
    fd_.reset();
    broken_ = false;
    is_socket_ = false;
    is_regular_ = false;
    dropping_ = false;
    dropped_ += ring_.trim_oldest(options_.backlog);
}

} // namespace vmm
