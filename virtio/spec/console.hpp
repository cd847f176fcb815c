// SPDX-License-Identifier: Apache-2.0
// Console device wire formats: feature bits, configuration layout, control messages.
#pragma once

#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// virtio 1.2 §5.3.3.
inline constexpr unsigned VIRTIO_CONSOLE_F_SIZE = 0;
inline constexpr unsigned VIRTIO_CONSOLE_F_MULTIPORT = 1;
inline constexpr unsigned VIRTIO_CONSOLE_F_EMERG_WRITE = 2;

// virtio 1.2 §5.3.4 (1.2 order; Linux's uapi header agrees).
struct VirtioConsoleConfig {
    le16 cols;         // 0
    le16 rows;         // 2
    le32 max_nr_ports; // 4
    le32 emerg_wr;     // 8
};
static_assert(sizeof(VirtioConsoleConfig) == 12 && WireType<VirtioConsoleConfig>);

// virtio 1.2 §5.3.6.2.
struct VirtioConsoleControl {
    le32 id;    // 0 port number
    le16 event; // 4
    le16 value; // 6
};
static_assert(sizeof(VirtioConsoleControl) == 8 && WireType<VirtioConsoleControl>);

// virtio 1.2 §5.3.6.2 has {cols, rows}. Linux (through 6.12 and again after a revert) and
// QEMU read the RESIZE payload as {rows, cols}, and the 1.4 draft adopts that order; what
// the guests parse is what counts.
struct VirtioConsoleResize {
    le16 rows; // 0
    le16 cols; // 2
};
static_assert(sizeof(VirtioConsoleResize) == 4 && WireType<VirtioConsoleResize>);

// Control events (virtio 1.2 §5.3.6.2; Linux calls 1 and 2 PORT_ADD and PORT_REMOVE).
inline constexpr std::uint16_t VIRTIO_CONSOLE_DEVICE_READY = 0;  // driver
inline constexpr std::uint16_t VIRTIO_CONSOLE_DEVICE_ADD = 1;    // device
inline constexpr std::uint16_t VIRTIO_CONSOLE_DEVICE_REMOVE = 2; // device
inline constexpr std::uint16_t VIRTIO_CONSOLE_PORT_READY = 3;    // driver
inline constexpr std::uint16_t VIRTIO_CONSOLE_CONSOLE_PORT = 4;  // device
inline constexpr std::uint16_t VIRTIO_CONSOLE_RESIZE = 5;        // device
inline constexpr std::uint16_t VIRTIO_CONSOLE_PORT_OPEN = 6;     // both
inline constexpr std::uint16_t VIRTIO_CONSOLE_PORT_NAME = 7;     // device

// Queue layout (virtio 1.2 §5.3.2): port 0's pair, the control pair, then the other ports'.
inline constexpr std::uint16_t VIRTIO_CONSOLE_CONTROL_RX_QUEUE = 2; // device -> driver
inline constexpr std::uint16_t VIRTIO_CONSOLE_CONTROL_TX_QUEUE = 3; // driver -> device

[[nodiscard]] constexpr std::uint32_t console_rx_queue(std::uint32_t port) noexcept
{
    return port == 0 ? 0 : 2 * port + 2;
}
[[nodiscard]] constexpr std::uint32_t console_tx_queue(std::uint32_t port) noexcept
{
    return console_rx_queue(port) + 1;
}

} // namespace vmm::virtio
