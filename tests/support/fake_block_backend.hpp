// SPDX-License-Identifier: Apache-2.0
// FakeBlockBackend: an in-memory BlockBackend whose requests stay in flight until the test
// completes them, with injected failures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <vector>

#include "virtio/devices/block/block_backend.hpp"

namespace vmm::virtio::test {

class FakeBlockBackend final : public block::BlockBackend {
public:
    // What was submitted, for checks (the iovecs are not kept).
    struct Record {
        block::IoOp op;
        std::uint64_t offset;
        std::uint64_t length;
        bool sync;
        bool unmap;
    };

    explicit FakeBlockBackend(std::size_t bytes, bool read_only = false) : image_(bytes), read_only_(read_only) {}

    void set_sink(block::IoCompletionSink* sink) noexcept override { sink_ = sink; }
    [[nodiscard]] std::uint64_t size() const noexcept override { return image_.size(); }
    [[nodiscard]] bool read_only() const noexcept override { return read_only_; }
    [[nodiscard]] Result<std::uint64_t> resize(std::uint64_t bytes) override
    {
        image_.resize(bytes);
        return bytes;
    }
    void submit(block::IoRequest&& request) noexcept override
    {
        if (on_submit) {
            on_submit(request);
        }
        records_.push_back(Record { request.op, request.offset, request.length, request.sync, request.unmap });
        pending_.push_back(std::move(request));
    }
    void flush_submissions() noexcept override { ++flushes_; }
    [[nodiscard]] std::size_t in_flight() const noexcept override { return pending_.size(); }
    void drain() noexcept override
    {
        ++drains_;
        complete_all();
    }
    [[nodiscard]] std::string describe() const override { return "fake"; }

    // Runs and completes every request in flight (and those the device submits meanwhile),
    // then ends the batch, as the io_uring backend does after reaping.
    void complete_all() { complete(0); }

    // Completes up to n requests in the order they came (0: as complete_all()), then ends the
    // batch if it completed any.
    void complete(std::size_t n)
    {
        const bool all = n == 0;
        bool any = false;
        while (!pending_.empty() && (all || n-- > 0)) {
            block::IoRequest r = std::move(pending_.front());
            pending_.pop_front();
            const int result = execute(r);
            any = true;
            if (sink_ != nullptr) {
                sink_->io_complete(r.tag, result);
            }
        }
        if ((any || all) && sink_ != nullptr) {
            sink_->io_batch_done();
        }
    }

    // Returns 0 or a negative errno for a request; the default runs everything.
    std::function<int(const block::IoRequest&)> inject;
    // Sees every request as it is submitted (checks of what the device asks of the host).
    std::function<void(const block::IoRequest&)> on_submit;

    [[nodiscard]] std::vector<std::byte>& image() noexcept { return image_; }
    [[nodiscard]] const std::vector<Record>& records() const noexcept { return records_; }
    [[nodiscard]] std::uint32_t flushes() const noexcept { return flushes_; }
    [[nodiscard]] std::uint32_t drains() const noexcept { return drains_; }

private:
    int execute(block::IoRequest& r)
    {
        if (inject) {
            if (const int e = inject(r); e != 0) {
                return e;
            }
        }
        if (r.offset > image_.size() || r.length > image_.size() - r.offset) {
            return -22; // EINVAL: the device checked ranges, so this is a test failure
        }
        std::byte* at = image_.data() + r.offset;
        switch (r.op) {
        case block::IoOp::read:
            for (const auto& v : r.iov) {
                std::memcpy(v.iov_base, at, v.iov_len);
                at += v.iov_len;
            }
            break;
        case block::IoOp::write:
            for (const auto& v : r.iov) {
                std::memcpy(at, v.iov_base, v.iov_len);
                at += v.iov_len;
            }
            break;
        case block::IoOp::discard:
        case block::IoOp::write_zeroes:
        case block::IoOp::zero_fill:
            std::memset(at, 0, r.length);
            break;
        case block::IoOp::flush:
            break;
        }
        return 0;
    }

    std::vector<std::byte> image_;
    bool read_only_;
    block::IoCompletionSink* sink_ = nullptr;
    std::deque<block::IoRequest> pending_;
    std::vector<Record> records_;
    std::uint32_t flushes_ = 0;
    std::uint32_t drains_ = 0;
};

} // namespace vmm::virtio::test
