// SPDX-License-Identifier: Apache-2.0
// CompletionFaults: injected faults in how a queue hands buffers back (the API's fault-inject),
// for testing a driver against a slow or reordering device: used buffers that reach the driver
// late, and buffers completed out of order (never where VIRTIO_F_IN_ORDER was negotiated,
// virtio 1.2 §2.7.9, §2.8.8).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace vmm::virtio {

// Asked by a Queue about each completion; loop thread only.
class CompletionFaults {
public:
    struct Hold {
        std::chrono::milliseconds delay { 0 }; // held this long before the driver sees it
        bool until_next = false;               // held until a later completion overtakes it
    };
    // How long a queue that the driver may see reorder holds back a fresh completion of `queue`.
    static constexpr std::chrono::milliseconds REORDER_WAIT { 20 };

    [[nodiscard]] virtual Hold on_complete(std::uint16_t queue) noexcept = 0;
    // Calls `release` on the loop at `when`, or never once the faults object is gone.
    virtual void release_at(std::chrono::steady_clock::time_point when, std::function<void()> release) = 0;

protected:
    CompletionFaults() = default;
    ~CompletionFaults() = default;
    CompletionFaults(const CompletionFaults&) = default;
    CompletionFaults& operator=(const CompletionFaults&) = default;
};

} // namespace vmm::virtio
