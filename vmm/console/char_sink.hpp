// SPDX-License-Identifier: Apache-2.0
// CharSink: where a guest console's output bytes go.
#pragma once

#include <cstddef>
#include <span>

namespace vmm {

// Receives the bytes a guest writes to a console device (the UART's THR, later virtio-console).
// write() is called on vCPU threads, possibly several at once, and must return quickly: an
// implementation never waits for a slow consumer. It buffers a bounded amount and drops (and
// counts) what does not fit, so a stalled terminal or socket peer cannot stall the guest.
class CharSink {
public:
    virtual ~CharSink() = default;
    virtual void write(std::span<const std::byte> data) noexcept = 0;
};

// Discards everything: the "off" console.
class NullSink final : public CharSink {
public:
    void write(std::span<const std::byte> /*data*/) noexcept override { }
};

} // namespace vmm
