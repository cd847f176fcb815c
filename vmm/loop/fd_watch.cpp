// SPDX-License-Identifier: Apache-2.0
// FdWatch.
#include "vmm/loop/fd_watch.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <spdlog/spdlog.h>

namespace vmm {

struct FdWatch::State : std::enable_shared_from_this<State> {
    State(boost::asio::io_context& io, int fd, std::function<void()> handler)
        : stream(io, fd)
        , on_readable(std::move(handler))
    {
    }

    void arm()
    {
        stream.async_wait(boost::asio::posix::stream_descriptor::wait_read,
            [self = shared_from_this()](const boost::system::error_code& ec) {
                if (!self->alive) {
                    return;
                }
                if (ec) {
                    if (ec != boost::asio::error::operation_aborted) {
                        spdlog::error("fd watch on {}: {}", self->stream.native_handle(), ec.message());
                    }
                    return;
                }
                self->on_readable();
                if (self->alive) {
                    self->arm();
                }
            });
    }

    boost::asio::posix::stream_descriptor stream;
    std::function<void()> on_readable;
    bool alive = true;
};

FdWatch::FdWatch(boost::asio::io_context& io, int fd, std::function<void()> on_readable)
    : state_(std::make_shared<State>(io, fd, std::move(on_readable)))
{
    state_->arm();
}

FdWatch::~FdWatch()
{
    state_->alive = false;
    boost::system::error_code ec;
    state_->stream.cancel(ec);
    // The descriptor belongs to its owner: give it back instead of closing it.
    (void)state_->stream.release();
}

} // namespace vmm
