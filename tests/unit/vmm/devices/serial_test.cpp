// SPDX-License-Identifier: Apache-2.0
// Tests for the 16550A UART: registers, interrupts, FIFOs, loopback and host input.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "vmm/console/char_sink.hpp"
#include "vmm/devices/serial.hpp"

using namespace vmm;

namespace {

// Register offsets and bits, from the PC16550D datasheet (independently of serial.cpp).
constexpr std::uint64_t RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
                        LSR = 5, MSR = 6, SCR = 7;
constexpr std::uint8_t IIR_NONE = 0x01, IIR_RLS = 0x06, IIR_RDA = 0x04, IIR_TIMEOUT = 0x0c, IIR_THRE = 0x02,
                       IIR_MS = 0x00;
constexpr std::uint8_t LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;

class CaptureSink final : public CharSink {
public:
    void write(std::span<const std::byte> data) noexcept override
    {
        const std::lock_guard lock(mutex_);
        for (const auto b : data) {
            text_.push_back(static_cast<char>(b));
        }
    }
    std::string text()
    {
        const std::lock_guard lock(mutex_);
        return text_;
    }

private:
    std::mutex mutex_;
    std::string text_;
};

struct Uart {
    std::shared_ptr<CaptureSink> out = std::make_shared<CaptureSink>();
    std::vector<bool> irq_changes;
    Serial serial { [this](bool level) { irq_changes.push_back(level); }, out };

    [[nodiscard]] bool irq() const { return !irq_changes.empty() && irq_changes.back(); }

    std::uint8_t in(std::uint64_t offset)
    {
        std::array<std::byte, 1> d { std::byte { 0x5a } };
        serial.read(offset, d);
        return static_cast<std::uint8_t>(d[0]);
    }
    void out_byte(std::uint64_t offset, std::uint8_t v)
    {
        const std::array<std::byte, 1> d { std::byte { v } };
        serial.write(offset, d);
    }
    void input(std::string_view s)
    {
        std::vector<std::byte> bytes;
        for (const char c : s) {
            bytes.push_back(static_cast<std::byte>(c));
        }
        serial.enqueue_input(bytes);
    }
};

} // namespace

TEST_CASE("after reset the UART has an empty transmitter, no data and no interrupt", "[serial]")
{
    Uart u;
    CHECK(u.in(LSR) == (LSR_THRE | LSR_TEMT));
    CHECK(u.in(IIR) == IIR_NONE);
    CHECK(u.in(IER) == 0);
    CHECK(u.in(MSR) == 0xb0); // DCD, DSR and CTS asserted: a connected modem
    CHECK(u.irq_changes.empty());
}

TEST_CASE("a THR write reaches the sink and raises no interrupt while IER is clear", "[serial]")
{
    Uart u;
    u.out_byte(THR, 'h');
    u.out_byte(THR, 'i');
    CHECK(u.out->text() == "hi");
    CHECK(u.irq_changes.empty());
    CHECK(u.in(LSR) == (LSR_THRE | LSR_TEMT));
}

TEST_CASE("with DLAB set, offsets 0 and 1 are the divisor latch and THR and IER are untouched", "[serial]")
{
    Uart u;
    u.out_byte(LCR, 0x83);
    u.out_byte(DLL, 0x01);
    u.out_byte(DLM, 0x02);
    CHECK(u.in(DLL) == 0x01);
    CHECK(u.in(DLM) == 0x02);
    CHECK(u.in(LCR) == 0x83);

    u.out_byte(LCR, 0x03);
    CHECK(u.out->text().empty());
    CHECK(u.in(IER) == 0);
    CHECK(u.irq_changes.empty());
    u.out_byte(LCR, 0x80);
    CHECK(u.in(DLL) == 0x01); // the latch kept its value while DLAB was clear
}

TEST_CASE("LCR, MCR and SCR read back what was written, within their implemented bits", "[serial]")
{
    Uart u;
    u.out_byte(LCR, 0x1b);
    u.out_byte(MCR, 0xff);
    u.out_byte(SCR, 0xa5);
    CHECK(u.in(LCR) == 0x1b);
    CHECK(u.in(MCR) == 0x1f); // bits 7:5 are not implemented on a 16550A
    CHECK(u.in(SCR) == 0xa5);
}

TEST_CASE("IER bits 7:4 read as zero, as Linux's probe expects of a 16550A", "[serial]")
{
    Uart u;
    u.out_byte(IER, 0xff);
    CHECK(u.in(IER) == 0x0f);
}

TEST_CASE("enabling the THRE interrupt while THR is empty raises it, and reading IIR clears it", "[serial]")
{
    Uart u;
    u.out_byte(IER, 0x02);
    CHECK(u.irq());
    CHECK(u.in(IIR) == IIR_THRE);
    CHECK_FALSE(u.irq());
    CHECK(u.in(IIR) == IIR_NONE);
}

TEST_CASE("rewriting IER with THRI still set does not raise THRE again", "[serial]")
{
    Uart u;
    u.out_byte(IER, 0x02);
    (void)u.in(IIR);
    u.out_byte(IER, 0x03);
    CHECK(u.in(IIR) == IIR_NONE);
    CHECK_FALSE(u.irq());
}

TEST_CASE("toggling THRI off and on raises THRE again, as Linux's TXEN probe needs", "[serial]")
{
    Uart u;
    u.out_byte(IER, 0x02);
    (void)u.in(IIR);
    u.out_byte(IER, 0x00);
    u.out_byte(IER, 0x02);
    CHECK(u.in(IIR) == IIR_THRE);
}

TEST_CASE("a THR write with the THRE interrupt enabled raises it again", "[serial]")
{
    Uart u;
    u.out_byte(IER, 0x02);
    (void)u.in(IIR);
    u.out_byte(THR, 'x');
    CHECK(u.irq());
    CHECK(u.in(IIR) == IIR_THRE);
}

TEST_CASE("IIR reports received data before THRE, and THRE once the data is read", "[serial]")
{
    Uart u;
    u.out_byte(IER, 0x03);
    u.input("a");
    CHECK(u.in(IIR) == IIR_RDA);
    CHECK(u.in(IIR) == IIR_RDA); // an IIR read does not clear received data
    CHECK(u.in(RBR) == 'a');
    CHECK(u.in(IIR) == IIR_THRE);
    CHECK(u.in(IIR) == IIR_NONE);
    CHECK_FALSE(u.irq());
}

TEST_CASE("received bytes come out of RBR in arrival order and LSR.DR clears when none are left", "[serial]")
{
    Uart u;
    u.input("ab");
    u.input("c");
    CHECK((u.in(LSR)&LSR_DR) != 0);
    CHECK(u.in(RBR) == 'a');
    CHECK(u.in(RBR) == 'b');
    CHECK(u.in(RBR) == 'c');
    CHECK((u.in(LSR)&LSR_DR) == 0);
}

TEST_CASE("host input raises the line only when the receive interrupt is enabled", "[serial]")
{
    Uart u;
    u.input("a");
    CHECK(u.irq_changes.empty());
    u.out_byte(IER, 0x01);
    CHECK(u.irq());
    (void)u.in(RBR);
    CHECK_FALSE(u.irq());
    CHECK(u.irq_changes == std::vector<bool> { true, false });
}

TEST_CASE("with FIFOs enabled IIR has bits 7:6 set and data below the trigger level is a timeout", "[serial]")
{
    Uart u;
    u.out_byte(FCR, 0x01); // FIFO on, trigger level 1
    u.out_byte(IER, 0x01);
    CHECK(u.in(IIR) == (0xc0 | IIR_NONE));
    u.input("a");
    CHECK(u.in(IIR) == (0xc0 | IIR_RDA));
    u.out_byte(FCR, 0xc1); // trigger level 14
    CHECK(u.in(IIR) == (0xc0 | IIR_TIMEOUT));
}

TEST_CASE("the FCR receive-clear bit discards received data", "[serial]")
{
    Uart u;
    u.out_byte(FCR, 0x01);
    u.input("abc");
    u.out_byte(FCR, 0x03);
    CHECK((u.in(LSR)&LSR_DR) == 0);
    u.input("d");
    CHECK(u.in(RBR) == 'd');
}

TEST_CASE("loopback sends THR bytes to RBR instead of the sink and mirrors MCR on MSR", "[serial]")
{
    Uart u;
    u.out_byte(MCR, 0x10 | 0x0a); // LOOP | OUT2 | RTS: Linux's autoconfig test
    CHECK((u.in(MSR)&0xf0) == 0x90);
    u.out_byte(THR, 'x');
    CHECK(u.out->text().empty());
    CHECK((u.in(LSR)&LSR_DR) != 0);
    CHECK(u.in(RBR) == 'x');
    u.out_byte(MCR, 0x00);
    u.out_byte(THR, 'y');
    CHECK(u.out->text() == "y");
}

TEST_CASE("modem line changes in loopback latch deltas and a modem status interrupt", "[serial]")
{
    Uart u;
    u.out_byte(IER, 0x08);
    u.out_byte(MCR, 0x10); // loopback, all outputs off: DCD, DSR and CTS drop
    CHECK(u.irq());
    CHECK(u.in(IIR) == IIR_MS);
    CHECK(u.in(MSR) == 0x0b); // DDCD | DDSR | DCTS, lines all low
    CHECK(u.in(IIR) == IIR_NONE);
    CHECK_FALSE(u.irq());
}

TEST_CASE("input beyond the buffer is dropped, counted and reported once as an overrun", "[serial]")
{
    Uart u;
    const std::string burst(Serial::RX_BUFFER_SIZE + 10, 'z');
    u.input(burst);
    CHECK(u.serial.dropped_input() == 10);
    CHECK(u.in(LSR) == (LSR_THRE | LSR_TEMT | LSR_OE | LSR_DR));
    CHECK(u.in(LSR) == (LSR_THRE | LSR_TEMT | LSR_DR));
}

TEST_CASE(
    "an overrun raises a line status interrupt that outranks data and clears on an LSR read", "[serial]")
{
    Uart u;
    u.out_byte(IER, 0x05);
    u.input(std::string(Serial::RX_BUFFER_SIZE + 1, 'z'));
    CHECK(u.in(IIR) == IIR_RLS);
    (void)u.in(LSR);
    CHECK(u.in(IIR) == IIR_RDA);
}

TEST_CASE("accesses wider than a byte or past the registers are ignored", "[serial]")
{
    Uart u;
    u.input("a");
    const std::array<std::byte, 2> word { std::byte { 'x' }, std::byte { 'y' } };
    u.serial.write(THR, word);
    std::array<std::byte, 4> dword {};
    u.serial.read(RBR, dword);
    std::array<std::byte, 1> past { std::byte { 0 } };
    u.serial.read(8, past);
    u.serial.write(8, std::span<const std::byte>(word).first(1));

    CHECK(u.out->text().empty());
    CHECK(dword
        == std::array<std::byte, 4> {
            std::byte { 0xff }, std::byte { 0xff }, std::byte { 0xff }, std::byte { 0xff } });
    CHECK(past[0] == std::byte { 0xff });
    CHECK(u.in(RBR) == 'a'); // the wide read did not consume the byte
}

TEST_CASE("writes to LSR and MSR change nothing", "[serial]")
{
    Uart u;
    u.out_byte(LSR, 0xff);
    u.out_byte(MSR, 0x00);
    CHECK(u.in(LSR) == (LSR_THRE | LSR_TEMT));
    CHECK(u.in(MSR) == 0xb0);
}

TEST_CASE("THR writes from several vCPU threads all reach the sink", "[serial]")
{
    Uart u;
    constexpr int THREADS = 4;
    constexpr int BYTES = 500;
    std::vector<std::thread> threads;
    for (int t = 0; t < THREADS; ++t) {
        threads.emplace_back([&u] {
            for (int i = 0; i < BYTES; ++i) {
                u.out_byte(THR, '.');
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(u.out->text().size() == static_cast<std::size_t>(THREADS * BYTES));
}
