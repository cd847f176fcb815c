// SPDX-License-Identifier: Apache-2.0
// FdReader: console input from a descriptor.
#include "vmm/console/fd_reader.hpp"

#include <utility>

#include <boost/asio/buffer.hpp>
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
    boost::system::error_code ec;
    stream_.close(ec); // a pending read completes with operation_aborted, and is ignored
}

void FdReader::read_more()
{
    // The handler holds the reader alive until it has run, even after stop().
    stream_.async_read_some(boost::asio::buffer(buffer_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
            if (self->stopped_) {
                return;
            }
            if (n > 0 && self->on_data_) {
                self->on_data_(std::span<const std::byte>(self->buffer_.data(), n));
            }
            if (self->stopped_) {
                return; // on_data stopped us (the quit key)
            }
            if (ec) {
                // End of file, a hung-up peer, or a read error: the source is finished.
                if (ec != boost::asio::error::eof) {
                    spdlog::debug("console: input ended: {}", ec.message());
                }
                self->stopped_ = true;
                boost::system::error_code ignored;
                self->stream_.close(ignored);
                if (self->on_end_) {
                    self->on_end_();
                }
                return;
            }
            self->read_more();
        });
}

} // namespace vmm
