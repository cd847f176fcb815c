// SPDX-License-Identifier: Apache-2.0
// The single event loop: one Boost.Asio io_context run by the main thread. Every device data
// path, timer, signal and the API socket run here, so their state needs no locks.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace vmm {

class EventLoop {
public:
    // The constructing thread is the loop thread, before, during and after run().
    EventLoop() : owner_(std::this_thread::get_id()) {}
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    [[nodiscard]] boost::asio::io_context& io() noexcept { return io_; }

    // Runs handlers on the calling thread until stop(); once. Handlers must not throw: an
    // exception escaping a handler would unwind out of run() and stop the whole VM. When run()
    // returns, callers still waiting in call() are released without their work being done.
    void run();
    void stop() { io_.stop(); }
    [[nodiscard]] bool in_loop_thread() const noexcept { return owner_ == std::this_thread::get_id(); }

    // Queue f to run on the loop thread.
    template <class F>
    void post(F&& f)
    {
        boost::asio::post(io_, std::forward<F>(f));
    }

    // From another thread (a vCPU): run f on the loop thread and wait until it has run. This is
    // how transitions the guest must observe as complete (activation, reset) are made. Returns
    // false, without running f, when the loop is not running (not started yet, or stopped
    // meanwhile: the VM is going down). On the loop thread itself, f runs at once.
    bool call(const std::function<void()>& f);

    // On the loop thread, from inside a handler that has to wait for a vCPU (a pause, a
    // report): runs the work of callers blocked in call() now, since such a vCPU cannot get
    // where the handler waits for it until its call() returns. Returns whether any ran.
    bool run_waiting_calls();

private:
    struct Pending {
        const std::function<void()>* work;
        bool done = false;
        bool ran = false;
    };
    enum class State { idle, running, stopped };

    void run_pending();

    boost::asio::io_context io_ { 1 };
    const std::thread::id owner_;
    std::mutex mutex_; // state_, pending_
    std::condition_variable done_;
    State state_ = State::idle;
    std::vector<Pending*> pending_;
};

inline void EventLoop::run()
{
    {
        std::lock_guard lock(mutex_);
        state_ = State::running;
    }
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
    std::lock_guard lock(mutex_);
    state_ = State::stopped;
    for (Pending* p : pending_) {
        p->done = true;
    }
    pending_.clear();
    done_.notify_all();
}

inline bool EventLoop::call(const std::function<void()>& f)
{
    if (in_loop_thread()) {
        f();
        return true;
    }
    std::unique_lock lock(mutex_);
    if (state_ != State::running) {
        return false;
    }
    Pending p { &f };
    pending_.push_back(&p);
    post([this] { run_pending(); });
    done_.wait(lock, [&p] { return p.done; });
    return p.ran;
}

inline bool EventLoop::run_waiting_calls()
{
    {
        std::lock_guard lock(mutex_);
        if (pending_.empty()) {
            return false;
        }
    }
    run_pending(); // the handler posted for them later finds nothing left to do
    return true;
}

inline void EventLoop::run_pending()
{
    std::unique_lock lock(mutex_);
    while (!pending_.empty()) {
        Pending* p = pending_.front();
        pending_.erase(pending_.begin());
        lock.unlock();
        (*p->work)();
        lock.lock();
        p->ran = true;
        p->done = true;
        done_.notify_all();
    }
}

} // namespace vmm
