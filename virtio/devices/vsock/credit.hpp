// SPDX-License-Identifier: Apache-2.0
// Credit-based flow control of one vsock connection (virtio 1.2 §5.10.6.3), both directions.
#pragma once

#include <cstdint>

namespace vmm::virtio::vsock {

// Counters wrap at 2^32, as on the wire: differences of them are exact while the real distance
// stays below 2^32, which a buffer of at most 2^32 - 1 bytes guarantees.

// What the guest may still be sent: it announced a receive buffer of `buf_alloc` bytes and has
// consumed `fwd_cnt` of what was sent to it.
struct PeerCredit {
    std::uint32_t buf_alloc = 0; // the guest's, from its last packet
    std::uint32_t fwd_cnt = 0;   // the guest's, from its last packet
    std::uint32_t tx_cnt = 0;    // payload bytes sent to the guest

    // §5.10.6.3: peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt). A guest that lowered its
    // buffer below what is in flight has none free.
    [[nodiscard]] std::uint32_t free() const noexcept
    {
        const std::uint32_t in_flight = tx_cnt - fwd_cnt;
        return in_flight >= buf_alloc ? 0 : buf_alloc - in_flight;
    }
    void update(std::uint32_t peer_buf_alloc, std::uint32_t peer_fwd_cnt) noexcept
    {
        buf_alloc = peer_buf_alloc;
        fwd_cnt = peer_fwd_cnt;
    }
    void sent(std::uint32_t bytes) noexcept { tx_cnt += bytes; }
};

// What the device takes from the guest: a buffer of `buf_alloc` bytes per connection, of which
// the guest has filled rx_cnt - fwd_cnt. Every packet to the guest carries buf_alloc and
// fwd_cnt; `announced` is the fwd_cnt of the last one, so the guest believes it has
// buf_alloc - (rx_cnt - announced) to send.
struct LocalCredit {
    std::uint32_t buf_alloc = 0;
    std::uint32_t rx_cnt = 0;    // payload bytes the guest sent
    std::uint32_t fwd_cnt = 0;   // of those, handed on to the host program
    std::uint32_t announced = 0; // fwd_cnt in the last packet to the guest

    [[nodiscard]] std::uint32_t buffered() const noexcept { return rx_cnt - fwd_cnt; }
    // A packet of `len` payload bytes fits the buffer (§5.10.6.3: the driver MUST NOT send
    // beyond its credit). Checked against the space there is, which is at least what the guest
    // was told of: the bound on memory is what matters, and it holds either way.
    [[nodiscard]] bool admits(std::uint32_t len) const noexcept
    {
        return buffered() <= buf_alloc && len <= buf_alloc - buffered();
    }
    void received(std::uint32_t len) noexcept { rx_cnt += len; }
    void forwarded(std::uint32_t len) noexcept { fwd_cnt += len; }
    // A credit update is worth a packet of its own when the guest may be held back: it believes
    // less than half the buffer is free, and more is.
    [[nodiscard]] bool update_due() const noexcept
    {
        const std::uint32_t believed_used = rx_cnt - announced;
        const std::uint32_t believed_free = believed_used >= buf_alloc ? 0 : buf_alloc - believed_used;
        return fwd_cnt != announced && believed_free < buf_alloc / 2;
    }
};

} // namespace vmm::virtio::vsock
