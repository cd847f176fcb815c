// SPDX-License-Identifier: Apache-2.0
// FdReader: console input from a descriptor.
#include "vmm/console/fd_reader.hpp"

#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace vmm {

FdReader::FdReader(boost::asio::io_context& io, DataHandler on_data, std::function<void()> on_end)
    : stream_(io)
    , on_data_(std::move(on_data))
    , on_end_(std::move(on_end))
{
}

std::shared_ptr<FdReader> FdReader::start(
    boost::asio::io_context& io, UniqueFd fd, DataHandler on_data, std::function<void()> on_end)
{
    auto reader = std::make_shared<FdReader>(io, std::move(on_data), std::move(on_end));
    boost::system::error_code ec;
    reader->stream_.assign(fd.get(), ec);
    if (ec) {
        spdlog::warn("console: cannot watch input fd {}: {}", fd.get(), ec.message());
        reader->stopped_ = true;
        return reader;
    }
    (void)fd.release(); // the stream owns it now
    reader->read_more();
    return reader;
}

void FdReader::stop() noexcept
{
    stopped_ = true;
    held_ = 0;
    boost::system::error_code ec;
    stream_.close(ec); // a pending read completes with operation_aborted, and is ignored
}

void FdReader::pause() noexcept
{
    paused_ = true;
}

void FdReader::resume()
{
    if (!paused_ || stopped_) {
        paused_ = false;
        return;
    }
    paused_ = false;
    if (held_ == 0) {
        read_more();
        return;
    }
    // Not from here: resume() is typically called by the consumer from inside its own
    // handling, and handing it data right away would re-enter it.
    if (!deliver_posted_) {
        deliver_posted_ = true;
        boost::asio::post(stream_.get_executor(), [self = shared_from_this()] { self->deliver_held(); });
    }
}

void FdReader::deliver_held()
{
    deliver_posted_ = false;
    if (stopped_ || paused_) {
        return; // paused again meanwhile: the chunk stays held for the next resume()
    }
    const std::size_t n = std::exchange(held_, 0);
    handle(n, {});
}

void FdReader::read_more()
{
    if (stopped_ || paused_ || reading_ || held_ > 0) {
        return;
    }
    reading_ = true;
    // The handler holds the reader alive until it has run, even after stop().
    stream_.async_read_some(boost::asio::buffer(buffer_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
            self->reading_ = false;
            if (self->stopped_) {
                return;
            }
            if (n > 0 && self->paused_) {
                self->held_ = n; // an error, if any, shows again on the next read
                return;
            }
            self->handle(n, ec);
        });
}

void FdReader::handle(std::size_t n, const boost::system::error_code& ec)
{
    if (n > 0 && on_data_) {
        on_data_(std::span<const std::byte>(buffer_.data(), n));
    }
    if (stopped_) {
        return; // on_data stopped us (the quit key)
    }
    if (ec) {
        // End of file, a hung-up peer, or a read error: the source is finished.
        if (ec != boost::asio::error::eof) {
            spdlog::debug("console: input ended: {}", ec.message());
        }
        stopped_ = true;
        boost::system::error_code ignored;
        stream_.close(ignored);
        if (on_end_) {
            on_end_();
        }
        return;
    }
    read_more();
}

} // namespace vmm
