// SPDX-License-Identifier: Apache-2.0
// A minimal i8042 keyboard controller: the reset line, and answers for Linux's probe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

#include "vmm/bus/bus.hpp"

namespace vmm {

// One device for both ports: insert it once at x86::PORT_I8042_DATA (0x60) with SIZE bytes, so
// that offset 0 is the data port and offset 4 the command/status port (0x64). Offsets 1-3
// (0x61 is the PC speaker port, handled by KVM's in-kernel PIT) are ignored.
//
// There is no keyboard or mouse behind it. What it does:
// - pulses the CPU reset line for command 0xfe (or any 0xf0-0xff pulse that includes bit 0,
//   or an output-port write with bit 0 clear), calling on_reset: Linux's reboot=k path;
// - answers the controller commands Linux's i8042 driver sends at probe (self-test 0xaa,
//   read/write of the command byte 0x20/0x60, port enable/disable and interface tests) at
//   once, so no probe step waits for its 500 ms timeout. The AUX loopback (0xd3) echoes
//   without the AUX status bit and the AUX interface test fails, so the driver decides there
//   is no mouse port straight away even without i8042.noaux;
// - ignores bytes for the keyboard itself. With i8042.dumbkbd (the test command line) Linux
//   never sends any.
//
// Threads: called on vCPU threads; a mutex guards the state. on_reset runs on the vCPU thread
// that wrote the command, without the mutex held, and only for the first request: the VM is
// going down, and a guest repeating the command (Linux's reboot loop writes 0xfe up to ten
// times; a hostile one, millions) must not flood the VM with stop requests.
class I8042 final : public BusDevice {
public:
    static constexpr std::uint64_t SIZE = 5;
    static constexpr std::uint64_t DATA_OFFSET = 0;
    static constexpr std::uint64_t COMMAND_OFFSET = 4;

    explicit I8042(std::function<void()> on_reset);

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override;

private:
    // Returns true when the write asks for a CPU reset.
    bool write_command(std::uint8_t command);
    bool write_data(std::uint8_t value);
    void respond(std::uint8_t value);

    const std::function<void()> on_reset_;

    std::mutex mutex_;
    std::uint8_t ctr_;         // the "command byte" (controller configuration)
    std::uint8_t output_port_; // P2: bit 0 is the reset line (active low), bit 1 A20
    std::uint8_t output_ = 0;  // the output buffer, valid while obf_
    bool obf_ = false;
    bool last_write_was_command_ = false;
    std::uint8_t pending_command_ = 0; // a command waiting for its data byte, or 0
    std::atomic<bool> reset_requested_ { false };
};

} // namespace vmm
