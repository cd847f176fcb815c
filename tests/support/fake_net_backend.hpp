// SPDX-License-Identifier: Apache-2.0
// FakeNetBackend: a NetBackend whose frames a test or fuzz target scripts.
#pragma once

#include <cstring>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "virtio/devices/net/net_backend.hpp"

namespace vmm::virtio::test {

using net::IoResult;
using net::NetBackend;
using net::Offloads;

// A backend whose frames the test queues and whose sent frames it reads back. Watches are
// kept until the test fires them, as the loop would run them later.
class FakeNetBackend final : public NetBackend {
public:
    FakeNetBackend(std::size_t queues, bool vnet_hdr, Offloads offloads = {})
        : inbound(queues)
        , readable(queues)
        , writable(queues)
        , queues_(queues)
        , hdr_(vnet_hdr)
        , offloads_(offloads)
    {
    }

    [[nodiscard]] std::size_t queues() const noexcept override { return queues_; }
    [[nodiscard]] bool vnet_hdr() const noexcept override { return hdr_; }
    [[nodiscard]] Offloads offloads() const noexcept override { return offloads_; }
    [[nodiscard]] Result<> set_receive_offloads(const Offloads& o) override
    {
        receive_offloads = o;
        return {};
    }

    [[nodiscard]] IoResult send(std::size_t queue, std::span<const iovec> iov) noexcept override
    {
        if (send_again) {
            return { IoResult::Status::again, 0, 0 };
        }
        std::vector<std::uint8_t> frame;
        for (const iovec& v : iov) {
            const auto* p = static_cast<const std::uint8_t*>(v.iov_base);
            frame.insert(frame.end(), p, p + v.iov_len);
        }
        sent.push_back(std::move(frame));
        sent_queue.push_back(queue);
        return { IoResult::Status::done, sent.back().size(), 0 };
    }

    [[nodiscard]] IoResult receive(std::size_t queue, std::span<const iovec> iov) noexcept override
    {
        if (inbound[queue].empty()) {
            return { IoResult::Status::again, 0, 0 };
        }
        const std::vector<std::uint8_t> frame = std::move(inbound[queue].front());
        inbound[queue].pop_front();
        std::size_t done = 0;
        for (const iovec& v : iov) {
            const std::size_t n = std::min(v.iov_len, frame.size() - done);
            std::memcpy(v.iov_base, frame.data() + done, n);
            done += n;
        }
        return { IoResult::Status::done, frame.size(), 0 };
    }

    void watch_readable(std::size_t queue, std::function<void()> ready) override { readable[queue] = std::move(ready); }
    void watch_writable(std::size_t queue, std::function<void()> ready) override { writable[queue] = std::move(ready); }
    void stop_watching() noexcept override
    {
        for (auto& r : readable) {
            r = nullptr;
        }
        for (auto& w : writable) {
            w = nullptr;
        }
    }
    [[nodiscard]] bool link_up() const noexcept override { return up; }
    void on_link_change(std::function<void(bool)> changed) override { link_changed = std::move(changed); }
    [[nodiscard]] std::string describe() const override { return "fake"; }
    [[nodiscard]] nlohmann::json status() const override { return { { "backend", "fake" } }; }

    // Runs the armed readable (writable) watch of `queue`, as the loop would: true if there was one.
    bool fire_readable(std::size_t queue = 0)
    {
        auto cb = std::exchange(readable.at(queue), nullptr);
        if (cb) {
            cb();
        }
        return static_cast<bool>(cb);
    }
    bool fire_writable(std::size_t queue = 0)
    {
        auto cb = std::exchange(writable.at(queue), nullptr);
        if (cb) {
            cb();
        }
        return static_cast<bool>(cb);
    }

    std::vector<std::deque<std::vector<std::uint8_t>>> inbound;
    std::vector<std::vector<std::uint8_t>> sent;
    std::vector<std::size_t> sent_queue;
    std::vector<std::function<void()>> readable;
    std::vector<std::function<void()>> writable;
    Offloads receive_offloads;
    bool send_again = false;
    bool up = true;
    std::function<void(bool)> link_changed;

private:
    std::size_t queues_;
    bool hdr_;
    Offloads offloads_;
};

} // namespace vmm::virtio::test
