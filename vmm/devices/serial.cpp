// SPDX-License-Identifier: Apache-2.0
// 16550A UART register model.
#include "vmm/devices/serial.hpp"

#include <utility>

#include "vmm/base/log.hpp"

namespace vmm {

namespace {

// Register offsets (PC16550D datasheet, Table II). DLAB = LCR bit 7 switches offsets 0 and 1
// to the divisor latch.
constexpr std::uint64_t RBR_THR_DLL = 0;
constexpr std::uint64_t IER_DLM = 1;
constexpr std::uint64_t IIR_FCR = 2;
constexpr std::uint64_t LCR = 3;
constexpr std::uint64_t MCR = 4;
constexpr std::uint64_t LSR = 5;
constexpr std::uint64_t MSR = 6;
constexpr std::uint64_t SCR = 7;

// IER: bits 3:0 enable the four sources; bits 7:4 read as zero on a 16550A (Linux's probe
// writes them and expects zeros back, or it takes the port for an XScale or 16C754 UART).
constexpr std::uint8_t IER_RDI = 0x01;  // received data available
constexpr std::uint8_t IER_THRI = 0x02; // transmitter holding register empty
constexpr std::uint8_t IER_RLSI = 0x04; // receiver line status
constexpr std::uint8_t IER_MSI = 0x08;  // modem status
constexpr std::uint8_t IER_MASK = 0x0f;

// IIR interrupt identification, highest priority first; bits 7:6 report enabled FIFOs.
constexpr std::uint8_t IIR_NO_INT = 0x01;
constexpr std::uint8_t IIR_RLSI = 0x06;
constexpr std::uint8_t IIR_RDI = 0x04;
constexpr std::uint8_t IIR_RX_TIMEOUT = 0x0c;
constexpr std::uint8_t IIR_THRI = 0x02;
constexpr std::uint8_t IIR_MSI = 0x00;
constexpr std::uint8_t IIR_FIFO_ENABLED = 0xc0;

// FCR (write only).
constexpr std::uint8_t FCR_ENABLE = 0x01;
constexpr std::uint8_t FCR_CLEAR_RX = 0x02;
constexpr std::uint8_t FCR_STORED = 0xc9; // trigger level, DMA mode, enable
constexpr unsigned FCR_TRIGGER_SHIFT = 6;
constexpr std::array<std::size_t, 4> RX_TRIGGER_LEVELS { 1, 4, 8, 14 };

constexpr std::uint8_t LCR_DLAB = 0x80;

// MCR: bits 4:0; bits 7:5 read as zero on a 16550A.
constexpr std::uint8_t MCR_DTR = 0x01;
constexpr std::uint8_t MCR_RTS = 0x02;
constexpr std::uint8_t MCR_OUT1 = 0x04;
constexpr std::uint8_t MCR_OUT2 = 0x08;
constexpr std::uint8_t MCR_LOOP = 0x10;
constexpr std::uint8_t MCR_MASK = 0x1f;

constexpr std::uint8_t LSR_DR = 0x01;
constexpr std::uint8_t LSR_OE = 0x02;
constexpr std::uint8_t LSR_THRE = 0x20;
constexpr std::uint8_t LSR_TEMT = 0x40;

// MSR: deltas in bits 3:0, line states in bits 7:4.
constexpr std::uint8_t MSR_DCTS = 0x01;
constexpr std::uint8_t MSR_DDSR = 0x02;
constexpr std::uint8_t MSR_TERI = 0x04;
constexpr std::uint8_t MSR_DDCD = 0x08;
constexpr std::uint8_t MSR_CTS = 0x10;
constexpr std::uint8_t MSR_DSR = 0x20;
constexpr std::uint8_t MSR_RI = 0x40;
constexpr std::uint8_t MSR_DCD = 0x80;
// Outside loopback the far end looks like a connected, ready modem: a guest that waits for
// CTS or DCD (hardware flow control, a getty on a modem line) can send at once.
constexpr std::uint8_t MSR_CONNECTED = MSR_DCD | MSR_DSR | MSR_CTS;

} // namespace

Serial::Serial(std::function<void(bool level)> set_irq, std::shared_ptr<CharSink> out)
    : set_irq_(std::move(set_irq))
    , out_(std::move(out))
{
}

void Serial::read(std::uint64_t offset, std::span<std::byte> data) noexcept
{
    // Every register is one byte wide. An ISA bus would split a wider access into byte
    // cycles, but nothing but a confused or hostile guest makes one; it reads all ones and
    // changes nothing (reading RBR or IIR has side effects that must not happen twice).
    if (data.size() != 1 || offset >= SIZE) {
        VMM_LOG_GUEST(
            spdlog::level::debug, "serial: ignoring a {}-byte read at offset {}", data.size(), offset);
        for (auto& b : data) {
            b = std::byte { 0xff };
        }
        return;
    }
    const std::lock_guard lock(mutex_);
    data[0] = std::byte { read_register(offset) };
    update_irq();
}

void Serial::write(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    if (data.size() != 1 || offset >= SIZE) {
        VMM_LOG_GUEST(
            spdlog::level::debug, "serial: ignoring a {}-byte write at offset {}", data.size(), offset);
        return;
    }
    // Guest-controlled:
    const auto value = static_cast<std::uint8_t>(data[0]);
    const std::lock_guard lock(mutex_);
    write_register(offset, value);
    update_irq();
}

void Serial::enqueue_input(std::span<const std::byte> data) noexcept
{
    if (data.empty()) {
        return;
    }
    const std::lock_guard lock(mutex_);
    for (const auto b : data) {
        receive(static_cast<std::uint8_t>(b));
    }
    update_irq();
}

std::uint64_t Serial::dropped_input() const noexcept
{
    const std::lock_guard lock(mutex_);
    return rx_dropped_;
}

std::uint8_t Serial::read_register(std::uint64_t offset)
{
    const bool dlab = (lcr_ & LCR_DLAB) != 0;
    switch (offset) {
    case RBR_THR_DLL:
        if (dlab) {
            return dll_;
        }
        if (rx_count_ != 0) {
            last_rx_ = rx_[rx_head_];
            rx_head_ = (rx_head_ + 1) % RX_BUFFER_SIZE;
            --rx_count_;
        }
        return last_rx_;
    case IER_DLM:
        return dlab ? dlm_ : ier_;
    case IIR_FCR: {
        const std::uint8_t id = interrupt_id();
        // Reading IIR while it reports THRE is what clears that source (datasheet Table IV).
        if (id == IIR_THRI) {
            thre_pending_ = false;
        }
        return static_cast<std::uint8_t>(id | (fifo_enabled() ? IIR_FIFO_ENABLED : 0));
    }
    case LCR:
        return lcr_;
    case MCR:
        return mcr_;
    case LSR: {
        const auto lsr
            = static_cast<std::uint8_t>(LSR_THRE | LSR_TEMT | lsr_errors_ | (rx_count_ != 0 ? LSR_DR : 0));
        lsr_errors_ = 0; // reading LSR clears the error bits and the line status interrupt
        return lsr;
    }
    case MSR: {
        const auto msr = static_cast<std::uint8_t>(modem_lines() | msr_delta_);
        msr_delta_ = 0; // reading MSR clears the deltas and the modem status interrupt
        return msr;
    }
    case SCR:
        return scr_;
    default:
        return 0xff;
    }
}

void Serial::write_register(std::uint64_t offset, std::uint8_t value)
{
    const bool dlab = (lcr_ & LCR_DLAB) != 0;
    switch (offset) {
    case RBR_THR_DLL:
        if (dlab) {
            dll_ = value;
            return;
        }
        if ((mcr_ & MCR_LOOP) != 0) {
            receive(value); // loopback: the transmitter feeds the receiver, nothing leaves
        } else if (out_) {
            const std::byte b { value };
            out_->write(std::span<const std::byte>(&b, 1));
        }
        // The byte left at once, so THR is empty again: a fresh THRE interrupt if enabled.
        thre_pending_ = (ier_ & IER_THRI) != 0;
        return;
    case IER_DLM:
        if (dlab) {
            dlm_ = value;
        } else {
            write_ier(value);
        }
        return;
    case IIR_FCR:
        write_fcr(value);
        return;
    case LCR:
        lcr_ = value;
        return;
    case MCR:
        write_mcr(value);
        return;
    case SCR:
        scr_ = value;
        return;
    default:
        // LSR and MSR are read-only; the datasheet reserves writes to them for factory test.
        VMM_LOG_GUEST(
            spdlog::level::debug, "serial: ignoring write of {:#x} to read-only offset {}", value, offset);
        return;
    }
}

void Serial::write_ier(std::uint8_t value)
{
    const auto old = ier_;
    ier_ = value & IER_MASK;
    // Enabling the THRE interrupt while THR is empty raises it at once. The datasheet is
    // silent here, but 16550A parts do it and Linux depends on it: serial8250_start_tx only
    // sets IER.THRI and waits for the interrupt, and its startup probe (UART_BUG_TXEN) checks
    // that the interrupt appears. Sampled on the rising edge of THRI; disabling drops it.
    if ((ier_ & IER_THRI) == 0) {
        thre_pending_ = false;
    } else if ((old & IER_THRI) == 0) {
        thre_pending_ = true; // THR is always empty
    }
}

void Serial::write_fcr(std::uint8_t value)
{
    // Toggling FIFO enable resets both FIFOs (datasheet, FCR bit 0).
    if (((fcr_ ^ value) & FCR_ENABLE) != 0 || (value & FCR_CLEAR_RX) != 0) {
        clear_rx();
    }
    // Bit 2 clears the transmit FIFO, which is always empty here.
    fcr_ = value & FCR_STORED;
}

void Serial::write_mcr(std::uint8_t value)
{
    const std::uint8_t before = modem_lines();
    mcr_ = value & MCR_MASK;
    const std::uint8_t after = modem_lines();
    const auto changed = static_cast<std::uint8_t>(before ^ after);
    // In loopback the modem inputs follow MCR, so writing MCR can move them and latch deltas;
    // RI latches only on its trailing edge (datasheet, MSR bit 2).
    std::uint8_t delta = 0;
    if ((changed & MSR_CTS) != 0) {
        delta |= MSR_DCTS;
    }
    if ((changed & MSR_DSR) != 0) {
        delta |= MSR_DDSR;
    }
    if ((before & MSR_RI) != 0 && (after & MSR_RI) == 0) {
        delta |= MSR_TERI;
    }
    if ((changed & MSR_DCD) != 0) {
        delta |= MSR_DDCD;
    }
    msr_delta_ |= delta;
}

std::uint8_t Serial::modem_lines() const
{
    if ((mcr_ & MCR_LOOP) == 0) {
        return MSR_CONNECTED;
    }
    // Loopback wiring (datasheet, MCR bit 4): DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD. Linux's
    // autoconfig checks this with MCR = LOOP|OUT2|RTS and expects MSR 7:4 = DCD|CTS.
    std::uint8_t lines = 0;
    if ((mcr_ & MCR_DTR) != 0) {
        lines |= MSR_DSR;
    }
    if ((mcr_ & MCR_RTS) != 0) {
        lines |= MSR_CTS;
    }
    if ((mcr_ & MCR_OUT1) != 0) {
        lines |= MSR_RI;
    }
    if ((mcr_ & MCR_OUT2) != 0) {
        lines |= MSR_DCD;
    }
    return lines;
}

void Serial::receive(std::uint8_t byte)
{
    if (rx_count_ == RX_BUFFER_SIZE) {
        ++rx_dropped_;
        lsr_errors_ |= LSR_OE;
        return;
    }
    rx_[(rx_head_ + rx_count_) % RX_BUFFER_SIZE] = byte;
    ++rx_count_;
}

void Serial::clear_rx()
{
    rx_head_ = 0;
    rx_count_ = 0;
}

bool Serial::fifo_enabled() const
{
    return (fcr_ & FCR_ENABLE) != 0;
}

std::uint8_t Serial::interrupt_id() const
{
    // Priority order from the datasheet's Table IV.
    if ((ier_ & IER_RLSI) != 0 && lsr_errors_ != 0) {
        return IIR_RLSI;
    }
    if ((ier_ & IER_RDI) != 0 && rx_count_ != 0) {
        const std::size_t trigger = RX_TRIGGER_LEVELS[static_cast<std::size_t>(fcr_ >> FCR_TRIGGER_SHIFT)];
        return fifo_enabled() && rx_count_ < trigger ? IIR_RX_TIMEOUT : IIR_RDI;
    }
    if ((ier_ & IER_THRI) != 0 && thre_pending_) {
        return IIR_THRI;
    }
    if ((ier_ & IER_MSI) != 0 && msr_delta_ != 0) {
        return IIR_MSI;
    }
    return IIR_NO_INT;
}

void Serial::update_irq()
{
    // The INTR pin is high while any enabled source is pending. (On a PC, MCR.OUT2 gates the
    // pin onto the bus; like other VMMs this model does not, as Linux sets OUT2 anyway.)
    const bool level = interrupt_id() != IIR_NO_INT;
    if (level == irq_level_) {
        return;
    }
    irq_level_ = level;
    if (set_irq_) {
        set_irq_(level);
    }
}

} // namespace vmm
