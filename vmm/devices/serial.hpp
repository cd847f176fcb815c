// SPDX-License-Identifier: Apache-2.0
// A 16550A UART (COM1): the guest's first console.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "vmm/bus/bus.hpp"
#include "vmm/console/char_sink.hpp"

namespace vmm {

// The register model follows the National Semiconductor / TI PC16550D datasheet: eight byte
// registers, the divisor latch behind LCR.DLAB, FIFO control, the four interrupt sources in
// their IIR priority order, loopback through MCR, and LSR/MSR status.
//
// Emulation choices (each one something Linux's 8250 driver accepts):
// - Transmission is instant: a THR write goes to the sink at once, so THR and the transmit
//   FIFO are always empty and LSR always shows THRE and TEMT.
// - Received bytes wait in a host buffer of RX_BUFFER_SIZE bytes rather than a 16-byte FIFO,
//   so a burst of host input is not lost while the guest catches up. Bytes that arrive while
//   it is full are dropped, counted, and reported to the guest as an overrun (LSR.OE).
// - The receive interrupt is raised whenever data is waiting: below the FCR trigger level it
//   is reported as the character timeout (IIR 0xc), which real hardware raises after four
//   idle character times.
// - Baud rate, word length, parity and stop bits are stored and read back but do not change
//   the bytes: there is no wire, and no firmware programs LCR before the kernel's earlycon.
//
// Threads: read() and write() run on vCPU threads, enqueue_input() on the loop thread; one
// mutex guards the state. set_irq is called with that mutex held, so that the line levels the
// hypervisor sees are in the same order as the state changes behind them; it must not call
// back into this object.
class Serial final : public BusDevice {
public:
    static constexpr std::uint64_t SIZE = 8;
    static constexpr std::size_t RX_BUFFER_SIZE = 16 * 1024;

    // set_irq(level): the interrupt line, called only when its level changes. out may be
    // null (output discarded).
    Serial(std::function<void(bool level)> set_irq, std::shared_ptr<CharSink> out);

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override;

    // Host input for the guest (thread-safe). What does not fit is dropped and counted.
    void enqueue_input(std::span<const std::byte> data) noexcept;

    [[nodiscard]] std::uint64_t dropped_input() const noexcept;

private:
    std::uint8_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint8_t value);
    void write_ier(std::uint8_t value);
    void write_fcr(std::uint8_t value);
    void write_mcr(std::uint8_t value);
    void receive(std::uint8_t byte);
    void clear_rx();
    [[nodiscard]] std::uint8_t modem_lines() const;
    [[nodiscard]] std::uint8_t interrupt_id() const;
    [[nodiscard]] bool fifo_enabled() const;
    void update_irq();

    const std::function<void(bool)> set_irq_;
    const std::shared_ptr<CharSink> out_;

    mutable std::mutex mutex_;
    // Guest-visible registers (guarded by mutex_).
    std::uint8_t ier_ = 0;
    std::uint8_t fcr_ = 0;
    std::uint8_t lcr_ = 0;
    std::uint8_t mcr_ = 0;
    std::uint8_t scr_ = 0;
    std::uint8_t dll_ = 0x0c; // 9600 baud, as a PC BIOS leaves it
    std::uint8_t dlm_ = 0;
    std::uint8_t lsr_errors_ = 0; // LSR.OE, latched until LSR is read
    std::uint8_t msr_delta_ = 0;  // MSR bits 3:0, latched until MSR is read
    bool thre_pending_ = false;   // the THRE interrupt, until IIR reports it or THR is written
    bool irq_level_ = false;
    std::uint8_t last_rx_ = 0; // what RBR reads when the buffer is empty
    // Received bytes: a ring of rx_count_ bytes starting at rx_head_.
    std::array<std::uint8_t, RX_BUFFER_SIZE> rx_ {};
    std::size_t rx_head_ = 0;
    std::size_t rx_count_ = 0;
    std::uint64_t rx_dropped_ = 0;
};

} // namespace vmm
