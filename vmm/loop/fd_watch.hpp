// SPDX-License-Identifier: Apache-2.0
// FdWatch: run a handler on the event loop each time a descriptor becomes readable.
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

namespace vmm {

// Watches a descriptor it does not own (an EventFd, a tap, a socket) for readability and calls
// on_readable on the loop thread each time; the handler must consume what made the descriptor
// readable (drain the eventfd) or it is called again at once. Destroying the watch, on the loop
// thread, stops it: a wake-up already queued then finds the watch gone and does nothing, because
// the pending handler holds only the shared state, never the watch itself.
class FdWatch {
public:
    FdWatch(boost::asio::io_context& io, int fd, std::function<void()> on_readable);
    FdWatch(const FdWatch&) = delete;
    FdWatch& operator=(const FdWatch&) = delete;
    ~FdWatch();

private:
    struct State;
    std::shared_ptr<State> state_;
};

} // namespace vmm
