// SPDX-License-Identifier: Apache-2.0
// FdReader: console input from a descriptor, read on the event loop.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "vmm/base/unique_fd.hpp"

namespace vmm {

// Reads whatever arrives on a descriptor (a terminal, pipe, socket or file) and hands each
// chunk to on_data, until end of file or an error, when on_end is called once. Everything runs
// on the loop thread; on_data and on_end must not throw. The descriptor is set non-blocking,
// so it should be one the VMM opened for itself, not a shared stdin.
//
// pause() stops the flow for a consumer with no room (a guest without receive buffers): no
// on_data call happens until resume(), and nothing further is read, so the input waits in
// the kernel (socket, pipe or terminal buffer) and pushes back on whoever writes it. A chunk
// whose read was already under way is kept and handed over first after resume().
class FdReader final : public std::enable_shared_from_this<FdReader> {
public:
    using DataHandler = std::function<void(std::span<const std::byte>)>;
    static constexpr std::size_t CHUNK = 4096;

    // Starts reading at once. Keep the returned pointer and call stop() to end it.
    [[nodiscard]] static std::shared_ptr<FdReader> start(
        boost::asio::io_context& io, UniqueFd fd, DataHandler on_data, std::function<void()> on_end);

    // Stops reading and closes the descriptor; no callback runs after this returns.
    void stop() noexcept;
    // Holds back on_data until resume() (see above). Both may be called from on_data.
    void pause() noexcept;
    void resume();
    [[nodiscard]] bool paused() const noexcept { return paused_; }

    FdReader(boost::asio::io_context& io, DataHandler on_data, std::function<void()> on_end); // use start()

private:
    void read_more();
    void handle(std::size_t n, const boost::system::error_code& ec);
    void deliver_held();

    boost::asio::posix::stream_descriptor stream_;
    DataHandler on_data_;
    std::function<void()> on_end_;
    std::array<std::byte, CHUNK> buffer_ {};
    bool stopped_ = false;
    bool paused_ = false;
    bool reading_ = false;      // an async_read_some is outstanding (it owns buffer_)
    std::size_t held_ = 0;      // bytes in buffer_ that arrived while paused
    bool deliver_posted_ = false;
};

} // namespace vmm
