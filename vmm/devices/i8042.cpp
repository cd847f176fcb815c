// SPDX-License-Identifier: Apache-2.0
// Minimal i8042 keyboard controller.
#include "vmm/devices/i8042.hpp"

#include <utility>

#include "vmm/base/log.hpp"

namespace vmm {

namespace {

// Status register (read at 0x64). Bit names as in Linux's drivers/input/serio/i8042.h.
constexpr std::uint8_t STR_OBF = 0x01;     // output buffer full: a byte waits at 0x60
constexpr std::uint8_t STR_SYSFLAG = 0x04; // copy of the command byte's system flag
constexpr std::uint8_t STR_CMDDAT = 0x08;  // the last write went to 0x64
constexpr std::uint8_t STR_KEYLOCK = 0x10; // set: keyboard not inhibited (Linux warns if clear)
// IBF (0x02) is never set: every write is taken at once, so a guest polling for room to
// write never waits.

// Command byte (CTR) bits.
constexpr std::uint8_t CTR_KBDINT = 0x01;
constexpr std::uint8_t CTR_SYSFLAG = 0x04;
constexpr std::uint8_t CTR_KBDDIS = 0x10;
constexpr std::uint8_t CTR_AUXDIS = 0x20;
constexpr std::uint8_t CTR_XLATE = 0x40;
// What a PC BIOS typically leaves: POST passed, keyboard enabled with scan code
// translation, no mouse.
constexpr std::uint8_t CTR_RESET_VALUE = CTR_XLATE | CTR_AUXDIS | CTR_SYSFLAG | CTR_KBDINT;

// Output port bits.
constexpr std::uint8_t OUTPUT_PORT_RESET_N = 0x01; // CPU reset line, active low
constexpr std::uint8_t OUTPUT_PORT_A20 = 0x02;

// Controller commands (written to 0x64).
constexpr std::uint8_t CMD_READ_CTR = 0x20;
constexpr std::uint8_t CMD_READ_RAM_LAST = 0x3f;
constexpr std::uint8_t CMD_WRITE_CTR = 0x60;
constexpr std::uint8_t CMD_WRITE_RAM_LAST = 0x7f;
constexpr std::uint8_t CMD_AUX_DISABLE = 0xa7;
constexpr std::uint8_t CMD_AUX_ENABLE = 0xa8;
constexpr std::uint8_t CMD_AUX_TEST = 0xa9;
constexpr std::uint8_t CMD_SELF_TEST = 0xaa;
constexpr std::uint8_t CMD_KBD_TEST = 0xab;
constexpr std::uint8_t CMD_KBD_DISABLE = 0xad;
constexpr std::uint8_t CMD_KBD_ENABLE = 0xae;
constexpr std::uint8_t CMD_READ_OUTPUT_PORT = 0xd0;
constexpr std::uint8_t CMD_WRITE_OUTPUT_PORT = 0xd1;
constexpr std::uint8_t CMD_KBD_LOOP = 0xd2;
constexpr std::uint8_t CMD_AUX_LOOP = 0xd3;
constexpr std::uint8_t CMD_AUX_SEND = 0xd4;
constexpr std::uint8_t CMD_PULSE_FIRST = 0xf0; // 0xf0-0xff: pulse output lines 3:0 (0 = pulse)

constexpr std::uint8_t SELF_TEST_PASSED = 0x55;
constexpr std::uint8_t INTERFACE_OK = 0x00;
// "Clock line stuck high": what a controller reports with nothing on its AUX port. Linux's
// i8042_check_aux takes 0x00, 0xfa and 0xff as a working port and anything else as none.
constexpr std::uint8_t INTERFACE_CLOCK_STUCK_HIGH = 0x02;

} // namespace

I8042::I8042(std::function<void()> on_reset)
    : on_reset_(std::move(on_reset))
    , ctr_(CTR_RESET_VALUE)
    , output_port_(OUTPUT_PORT_RESET_N | OUTPUT_PORT_A20)
{
}

void I8042::read(std::uint64_t offset, std::span<std::byte> data) noexcept
{
    if (data.size() != 1 || (offset != DATA_OFFSET && offset != COMMAND_OFFSET)) {
        VMM_LOG_GUEST(
            spdlog::level::debug, "i8042: ignoring a {}-byte read at offset {}", data.size(), offset);
        for (auto& b : data) {
            b = std::byte { 0xff };
        }
        return;
    }
    const std::lock_guard lock(mutex_);
    if (offset == DATA_OFFSET) {
        obf_ = false;
        data[0] = std::byte { output_ };
        return;
    }
    std::uint8_t status = STR_KEYLOCK;
    if (obf_) {
        status |= STR_OBF;
    }
    if ((ctr_ & CTR_SYSFLAG) != 0) {
        status |= STR_SYSFLAG;
    }
    if (last_write_was_command_) {
        status |= STR_CMDDAT;
    }
    data[0] = std::byte { status };
}

void I8042::write(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    if (data.size() != 1 || (offset != DATA_OFFSET && offset != COMMAND_OFFSET)) {
        VMM_LOG_GUEST(
            spdlog::level::debug, "i8042: ignoring a {}-byte write at offset {}", data.size(), offset);
        return;
    }
    // Guest-controlled:
    const auto value = static_cast<std::uint8_t>(data[0]);
    bool reset = false;
    {
        const std::lock_guard lock(mutex_);
        last_write_was_command_ = offset == COMMAND_OFFSET;
        reset = offset == COMMAND_OFFSET ? write_command(value) : write_data(value);
    }
    // Outside the lock: the VM's handler may stop vCPUs, and another one may be in here.
    if (reset && !reset_requested_.exchange(true)) {
        VMM_LOG_GUEST(spdlog::level::info, "i8042: the guest pulsed the CPU reset line");
        if (on_reset_) {
            on_reset_();
        }
    }
}

bool I8042::write_command(std::uint8_t command)
{
    // A new command replaces one still waiting for its data byte, as on the real part.
    pending_command_ = 0;
    if (command >= CMD_PULSE_FIRST) {
        return (command & OUTPUT_PORT_RESET_N) == 0;
    }
    if (command == CMD_READ_CTR) {
        respond(ctr_);
        return false;
    }
    if (command > CMD_READ_CTR && command <= CMD_READ_RAM_LAST) {
        respond(0); // the rest of the controller's RAM: nothing kept there
        return false;
    }
    if (command >= CMD_WRITE_CTR && command <= CMD_WRITE_RAM_LAST) {
        pending_command_ = command;
        return false;
    }
    switch (command) {
    case CMD_AUX_DISABLE:
        ctr_ |= CTR_AUXDIS;
        break;
    case CMD_AUX_ENABLE:
        ctr_ &= static_cast<std::uint8_t>(~CTR_AUXDIS);
        break;
    case CMD_AUX_TEST:
        respond(INTERFACE_CLOCK_STUCK_HIGH);
        break;
    case CMD_SELF_TEST:
        respond(SELF_TEST_PASSED);
        break;
    case CMD_KBD_TEST:
        respond(INTERFACE_OK);
        break;
    case CMD_KBD_DISABLE:
        ctr_ |= CTR_KBDDIS;
        break;
    case CMD_KBD_ENABLE:
        ctr_ &= static_cast<std::uint8_t>(~CTR_KBDDIS);
        break;
    case CMD_READ_OUTPUT_PORT:
        respond(output_port_);
        break;
    case CMD_WRITE_OUTPUT_PORT:
    case CMD_KBD_LOOP:
    case CMD_AUX_LOOP:
    case CMD_AUX_SEND:
        pending_command_ = command;
        break;
    default:
        VMM_LOG_GUEST(spdlog::level::debug, "i8042: ignoring unknown command {:#x}", command);
        break;
    }
    return false;
}

bool I8042::write_data(std::uint8_t value)
{
    const std::uint8_t command = pending_command_;
    pending_command_ = 0;
    if (command == CMD_WRITE_CTR) {
        ctr_ = value;
        return false;
    }
    switch (command) {
    case 0:
        // A byte for the keyboard: there is none to answer.
        VMM_LOG_GUEST(spdlog::level::debug, "i8042: no keyboard, ignoring byte {:#x}", value);
        return false;
    case CMD_WRITE_OUTPUT_PORT:
        output_port_ = value;
        return (value & OUTPUT_PORT_RESET_N) == 0;
    case CMD_KBD_LOOP:
        respond(value);
        return false;
    case CMD_AUX_LOOP:
        // Echoed without STR_AUXDATA: Linux's AUX loopback check then fails at once instead
        // of finding a mouse port that never interrupts and waiting 250 ms for it.
        respond(value);
        return false;
    default:
        return false; // 0x61-0x7f (controller RAM) and 0xd4 (to the absent mouse)
    }
}

void I8042::respond(std::uint8_t value)
{
    output_ = value;
    obf_ = true;
}

} // namespace vmm
