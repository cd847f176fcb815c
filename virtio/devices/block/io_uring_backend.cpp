// SPDX-License-Identifier: Apache-2.0
// IoUringBackend: batched submission, completion through an eventfd watch, short-I/O continuation.
#include "virtio/devices/block/io_uring_backend.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "vmm/base/log.hpp"
#include "vmm/loop/event_loop.hpp"
#include "vmm/loop/fd_watch.hpp"

namespace vmm::virtio::block {
namespace {

// zero_fill writes come from this buffer, several iovecs of it per write.
constexpr std::size_t ZERO_BUFFER = 64 * 1024;
constexpr std::size_t ZERO_IOVECS = 16; // 1 MiB per write
alignas(4096) std::array<std::byte, ZERO_BUFFER> zero_buffer {};

constexpr std::size_t REAP_BATCH = 64;

} // namespace

Result<std::unique_ptr<IoUringBackend>> IoUringBackend::open(
    const std::filesystem::path& path, const IoUringOptions& options)
{
    auto b = std::unique_ptr<IoUringBackend>(new IoUringBackend());
    b->path_ = path;
    b->read_only_ = options.read_only;
    b->what_ = options.what;
    const int flags = (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    b->fd_ = UniqueFd(::open(path.c_str(), flags));
    if (!b->fd_) {
        const int err = errno;
        if (err == ENOENT) {
            return fail(Errc::not_found, "{} \"{}\" does not exist; create it (truncate -s 1G {}) or fix \"path\"",
                options.what, path.string(), path.string());
        }
        if ((err == EACCES || err == EROFS || err == EPERM) && !options.read_only) {
            return fail_errno(err, "{} \"{}\" cannot be opened for writing (set \"readonly\": true to use it "
                                   "read-only)",
                options.what, path.string());
        }
        return fail_errno(err, "{} \"{}\"", options.what, path.string());
    }
    struct stat st { };
    if (::fstat(b->fd_.get(), &st) != 0) {
        return fail_errno(errno, "{} \"{}\"", options.what, path.string());
    }
    if (S_ISBLK(st.st_mode)) {
        b->block_device_ = true;
        std::uint64_t bytes = 0;
        if (::ioctl(b->fd_.get(), BLKGETSIZE64, &bytes) != 0) {
            return fail_errno(errno, "block device \"{}\": BLKGETSIZE64", path.string());
        }
        b->size_ = bytes;
    } else if (S_ISREG(st.st_mode)) {
        b->size_ = static_cast<std::uint64_t>(st.st_size);
    } else {
        return fail(Errc::invalid_argument, "{} \"{}\" is neither a regular file nor a block device",
            options.what, path.string());
    }
    // Two VMs writing one image corrupt it; refuse instead (shared for readers, like QEMU's
    // image locking, but with flock so that it is released when the VMM dies).
    if (::flock(b->fd_.get(), (options.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return fail(Errc::busy, "{} \"{}\" is in use by another process (locked)", options.what, path.string());
        }
        return fail_errno(errno, "{} \"{}\": flock", options.what, path.string());
    }
    VMM_TRY(b->init(options));
    return b;
}

Result<> IoUringBackend::init(const IoUringOptions& options)
{
    io_uring_params params {};
    int r = 0;
    // COOP_TASKRUN (Linux 5.19): completions of work the kernel finished on a worker thread
    // (buffered writes) do not interrupt the loop thread with an IPI while it runs; they are
    // posted when it next enters the kernel, and a loop asleep in epoll_wait is still woken
    // (the task work wakes an interruptible sleeper, then the eventfd fires). Not
    // DEFER_TASKRUN: that needs one issuing thread and an io_uring_enter to post anything.
    // An older kernel refuses the flag with EINVAL: then without it.
    for (const unsigned extra : { unsigned { IORING_SETUP_COOP_TASKRUN }, 0U }) {
        params = io_uring_params {};
        params.flags = IORING_SETUP_CQSIZE | extra;
        params.cq_entries = options.entries * 4;
        r = io_uring_queue_init_params(options.entries, &ring_, &params);
        if (r != -EINVAL) {
            break;
        }
    }
    if (r < 0) {
        return fail_errno(-r, "{} \"{}\": io_uring_setup (io_uring is needed for block devices; is it "
                              "disabled by kernel.io_uring_disabled or a seccomp filter?)",
            what_, path_.string());
    }
    ring_ready_ = true;
    kernel_limit_ = params.cq_entries;
    // A registered file saves the per-request file reference count; optional.
    const int fd = fd_.get();
    fixed_file_ = io_uring_register_files(&ring_, &fd, 1) == 0;
    // Likewise a registered ring descriptor (Linux 5.18) saves looking up the ring's own file
    // on every io_uring_enter; optional, liburing falls back to the plain descriptor.
    (void)io_uring_register_ring_fd(&ring_);
    if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_); probe != nullptr) {
        single_op_ = io_uring_opcode_supported(probe, IORING_OP_READ) != 0
            && io_uring_opcode_supported(probe, IORING_OP_WRITE) != 0;
        io_uring_free_probe(probe);
    }

    event_fd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!event_fd_) {
        return fail_errno(errno, "eventfd");
    }
    if (r = io_uring_register_eventfd(&ring_, event_fd_.get()); r < 0) {
        return fail_errno(-r, "io_uring_register_eventfd");
    }
    if (options.loop != nullptr) {
        loop_ = options.loop;
        watch_ = std::make_unique<FdWatch>(options.loop->io(), event_fd_.get(), [this] { on_event(); });
    }
    return {};
}

void IoUringBackend::set_eventfd(bool enabled) noexcept
{
    if (eventfd_toggle_ && io_uring_cq_eventfd_toggle(&ring_, enabled) < 0) {
        eventfd_toggle_ = false; // kernel without IORING_CQ_EVENTFD_DISABLED: always on
    }
}

void IoUringBackend::arm() noexcept
{
    if (loop_ == nullptr || reap_posted_) {
        return;
    }
    if (io_uring_cq_ready(&ring_) == 0) {
        // Enable, then look again: a completion that came in between did not signal.
        set_eventfd(true);
        if (io_uring_cq_ready(&ring_) == 0) {
            return;
        }
    }
    // Completions are waiting already: reap them on the next loop turn, without a wake-up
    // through the eventfd (two system calls per completion batch saved).
    set_eventfd(false);
    reap_posted_ = true;
    loop_->post([this, alive = alive_] {
        if (*alive) {
            reap_posted_ = false;
            poll(false);
        }
    });
}

IoUringBackend::~IoUringBackend()
{
    *alive_ = false;
    // The owner drained before (device reset); make sure anyway that no request still writes
    // into memory that is about to go away.
    if (ring_ready_) {
        sink_ = nullptr;
        drain();
    }
    watch_.reset();
    // The ring holds the registered file and goes away asynchronously after queue_exit; drop
    // the lock now, so that a VM restarted in this process can open the image again at once.
    (void)::flock(fd_.get(), LOCK_UN);
    if (ring_ready_) {
        if (fixed_file_) {
            (void)io_uring_unregister_files(&ring_);
        }
        io_uring_queue_exit(&ring_);
    }
}

Result<std::uint64_t> IoUringBackend::resize(std::uint64_t bytes)
{
    if (block_device_) {
        std::uint64_t now = 0;
        if (::ioctl(fd_.get(), BLKGETSIZE64, &now) != 0) {
            return fail_errno(errno, "block device \"{}\": BLKGETSIZE64", path_.string());
        }
        if (now != bytes) {
            return fail(Errc::invalid_argument,
                "\"{}\" is a host block device of {} bytes; resize it on the host, then ask for exactly its size",
                path_.string(), now);
        }
        size_ = now;
        return size_;
    }
    if (read_only_) {
        return fail(Errc::unsupported, "{} \"{}\" is open read-only; it cannot be resized", what_, path_.string());
    }
    if (bytes > static_cast<std::uint64_t>(INT64_MAX)) {
        return fail(Errc::out_of_range, "size {} is too large for a file", bytes);
    }
    if (::ftruncate(fd_.get(), static_cast<off_t>(bytes)) != 0) {
        return fail_errno(errno, "{} \"{}\": resizing to {} bytes", what_, path_.string(), bytes);
    }
    size_ = bytes;
    return size_;
}

void IoUringBackend::submit(IoRequest&& request) noexcept
{
    std::uint32_t index = 0;
    if (free_ops_.empty()) {
        index = static_cast<std::uint32_t>(ops_.size());
        ops_.emplace_back();
    } else {
        index = free_ops_.back();
        free_ops_.pop_back();
    }
    Op& op = ops_[index];
    op.req = std::move(request);
    op.done = 0;
    op.iov_at = 0;
    op.step = op.req.op == IoOp::write_zeroes && !op.req.unmap ? 1 : 0;
    op.busy = true;
    ++in_flight_;
    waiting_.push_back(index);
}

void IoUringBackend::prepare(std::uint32_t index, io_uring_sqe* sqe) noexcept
{
    Op& op = ops_[index];
    const int fd = fixed_file_ ? 0 : fd_.get();
    const auto offset = op.req.offset + op.done;
    const auto left = op.req.length - op.done;
    // Invariant: the device checked every range against the image size, which fits in off_t.
    const auto foffset = static_cast<off_t>(offset);
    const auto fleft = static_cast<off_t>(left);
    switch (op.req.op) {
    case IoOp::read:
    case IoOp::write: {
        const iovec* iov = op.req.iov.data() + op.iov_at;
        const auto n = static_cast<unsigned>(op.req.iov.size() - op.iov_at);
        const bool read = op.req.op == IoOp::read;
        if (n == 1 && single_op_) {
            // One contiguous buffer (the common 4 KiB case): the non-vectored opcode spares
            // the kernel importing an iovec array. Invariant: the length fits in 32 bits, as
            // the queue refuses chains of 2^32 bytes or more.
            const auto len = static_cast<unsigned>(iov->iov_len);
            if (read) {
                io_uring_prep_read(sqe, fd, iov->iov_base, len, offset);
            } else {
                io_uring_prep_write(sqe, fd, iov->iov_base, len, offset);
                sqe->rw_flags = op.req.sync ? RWF_DSYNC : 0;
            }
        } else if (read) {
            io_uring_prep_readv(sqe, fd, iov, n, offset);
        } else {
            io_uring_prep_writev2(sqe, fd, iov, n, offset, op.req.sync ? RWF_DSYNC : 0);
        }
        break;
    }
    case IoOp::flush:
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        break;
    case IoOp::discard:
        io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, foffset, fleft);
        break;
    case IoOp::write_zeroes:
        if (op.step == 0) {
            io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, foffset, fleft);
            break;
        }
        if (op.step == 1) {
            io_uring_prep_fallocate(sqe, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, foffset, fleft);
            break;
        }
        [[fallthrough]];
    case IoOp::zero_fill: {
        // Invariant: zero_buffer is never written: the kernel only reads from these iovecs.
        op.req.iov.clear();
        std::uint64_t chunk = std::min<std::uint64_t>(left, ZERO_BUFFER * ZERO_IOVECS);
        while (chunk > 0) {
            const std::size_t n = std::min<std::uint64_t>(chunk, ZERO_BUFFER);
            op.req.iov.push_back(iovec { zero_buffer.data(), n });
            chunk -= n;
        }
        io_uring_prep_writev(sqe, fd, op.req.iov.data(), static_cast<unsigned>(op.req.iov.size()), offset);
        break;
    }
    }
    if (fixed_file_) {
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    io_uring_sqe_set_data64(sqe, index);
}

void IoUringBackend::flush_submissions() noexcept
{
    bool queued = false;
    while (!waiting_.empty() && in_kernel_ < kernel_limit_) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            // The submission queue is full: hand it over and go on.
            ++submit_calls_;
            if (io_uring_submit(&ring_) < 0) {
                break;
            }
            continue;
        }
        const std::uint32_t index = waiting_.front();
        waiting_.pop_front();
        prepare(index, sqe);
        ++in_kernel_;
        queued = true;
    }
    if (queued || io_uring_sq_ready(&ring_) > 0) {
        ++submit_calls_;
        // What completes inside the submit call is reaped by arm(), not through the eventfd.
        if (loop_ != nullptr) {
            set_eventfd(false);
        }
        int r = 0;
        do {
            r = io_uring_submit(&ring_);
        } while (r == -EINTR);
        if (r < 0 && r != -EAGAIN && r != -EBUSY) {
            // Entries stay in the submission queue and go with the next submit.
            VMM_LOG_GUEST(spdlog::level::err, "{}: io_uring_submit: {}", path_.string(),
                std::error_code(-r, std::system_category()).message());
        }
        if (!reaping_) {
            // Page-cached reads and buffered writes often complete inside the submit call:
            // deliver them now, without a loop turn in between (one system call per request
            // at queue depth 1, as fio itself needs).
            if (io_uring_cq_ready(&ring_) > 0) {
                poll(false);
            } else {
                arm();
            }
        }
    }
}

void IoUringBackend::reap() noexcept
{
    // Left uninitialised on purpose: filled below before use, and this runs per completion batch.
    std::array<io_uring_cqe*, REAP_BATCH> cqes;
    std::array<std::pair<std::uint32_t, int>, REAP_BATCH> done;
    for (;;) {
        const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes.data(), REAP_BATCH);
        if (n == 0) {
            break;
        }
        for (unsigned i = 0; i < n; ++i) {
            done[i] = { static_cast<std::uint32_t>(io_uring_cqe_get_data64(cqes[i])), cqes[i]->res };
        }
        io_uring_cq_advance(&ring_, n);
        for (unsigned i = 0; i < n; ++i) {
            handle(done[i].first, done[i].second);
        }
    }
}

void IoUringBackend::advance(Op& op, std::uint64_t n) noexcept
{
    op.done += n;
    if (op.req.op != IoOp::read && op.req.op != IoOp::write) {
        return; // zero_fill rebuilds its iovecs at each step
    }
    while (n > 0 && op.iov_at < op.req.iov.size()) {
        iovec& v = op.req.iov[op.iov_at];
        if (n < v.iov_len) {
            // Safety: n < iov_len, so the new base stays inside the same guest buffer.
            v.iov_base = static_cast<std::byte*>(v.iov_base) + n;
            v.iov_len -= n;
            return;
        }
        n -= v.iov_len;
        ++op.iov_at;
    }
}

void IoUringBackend::handle(std::uint32_t index, int result) noexcept
{
    --in_kernel_;
    Op& op = ops_[index];
    if (result == -EINTR || result == -EAGAIN) {
        retry(index);
        return;
    }
    if (result < 0) {
        const bool unsupported = result == -EOPNOTSUPP || result == -EINVAL || result == -ENOTTY;
        if (op.req.op == IoOp::write_zeroes && unsupported && op.step < 2) {
            ++op.step; // punch hole → zero range → writing zeroes
            retry(index);
            return;
        }
        if (op.req.op == IoOp::discard && unsupported) {
            // virtio 1.2 §5.2.6.2: a device MAY deallocate on discard; not doing so is fine.
            finish(index, 0);
            return;
        }
        finish(index, result);
        return;
    }
    const bool transfer = op.req.op == IoOp::read || op.req.op == IoOp::write || op.req.op == IoOp::zero_fill
        || (op.req.op == IoOp::write_zeroes && op.step == 2);
    if (!transfer) {
        finish(index, 0);
        return;
    }
    const auto n = static_cast<std::uint64_t>(result);
    if (n == 0 && op.done < op.req.length) {
        // End of file inside the device's capacity: the image shrank under the VM.
        finish(index, -EIO);
        return;
    }
    advance(op, std::min(n, op.req.length - op.done));
    if (op.done < op.req.length) {
        retry(index); // a short transfer: go on from where it stopped
        return;
    }
    finish(index, 0);
}

void IoUringBackend::finish(std::uint32_t index, int result) noexcept
{
    Op& op = ops_[index];
    const std::uint64_t tag = op.req.tag;
    op.req.iov.clear();
    op.busy = false;
    free_ops_.push_back(index);
    --in_flight_;
    if (sink_ != nullptr) {
        sink_->io_complete(tag, result);
    }
}

void IoUringBackend::on_event() noexcept
{
    std::uint64_t value = 0;
    // Drain first: completions posted while reaping signal the eventfd again.
    (void)::read(event_fd_.get(), &value, sizeof(value));
    poll(false);
}

void IoUringBackend::poll(bool wait) noexcept
{
    if (reaping_) {
        return;
    }
    reaping_ = true;
    if (wait && in_flight_ > 0) {
        flush_submissions();
        io_uring_cqe* cqe = nullptr;
        int r = 0;
        do {
            r = io_uring_wait_cqe(&ring_, &cqe);
        } while (r == -EINTR);
    }
    reap();
    flush_submissions();
    reaping_ = false;
    arm();
    if (sink_ != nullptr) {
        sink_->io_batch_done();
    }
}

void IoUringBackend::drain() noexcept
{
    while (in_flight_ > 0) {
        if (in_kernel_ == 0) {
            flush_submissions();
            if (in_kernel_ == 0) {
                break; // cannot happen: waiting requests always fit an empty ring
            }
        }
        poll(true);
    }
    std::uint64_t value = 0;
    (void)::read(event_fd_.get(), &value, sizeof(value));
}

} // namespace vmm::virtio::block
