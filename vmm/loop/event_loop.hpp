// SPDX-License-Identifier: Apache-2.0
// The single event loop: one Boost.Asio io_context run by the main thread. Every device data
// path, timer, signal and the API socket run here, so their state needs no locks.
#pragma once

#include <atomic>
#include <cassert>
#include <future>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace vmm {

class EventLoop {
public:
    EventLoop() = default;
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    [[nodiscard]] boost::asio::io_context& io() noexcept { return io_; }

    // Runs handlers on the calling thread until stop(). Handlers must not throw: an exception
    // escaping a handler would unwind out of run() and stop the whole VM.
    void run()
    {
        owner_.store(std::this_thread::get_id());
        auto guard = boost::asio::make_work_guard(io_);
        io_.run();
        owner_.store(std::thread::id {});
    }
    void stop() { io_.stop(); }
    [[nodiscard]] bool in_loop_thread() const noexcept { return owner_.load() == std::this_thread::get_id(); }

    // Queue f to run on the loop thread.
    template <class F>
    void post(F&& f)
    {
        boost::asio::post(io_, std::forward<F>(f));
    }

    // Run f on the loop thread and wait for its result (from a vCPU or other thread only):
    // how transitions that the guest must observe as complete (activation, reset) are done.
    template <class F>
    auto call(F&& f) -> std::invoke_result_t<F>
    {
        assert(!in_loop_thread() && "EventLoop::call from the loop thread would deadlock");
        std::packaged_task<std::invoke_result_t<F>()> task(std::forward<F>(f));
        auto done = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return done.get();
    }

private:
    boost::asio::io_context io_ { 1 };
    std::atomic<std::thread::id> owner_ {};
};

} // namespace vmm
