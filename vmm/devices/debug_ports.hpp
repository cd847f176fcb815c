// SPDX-License-Identifier: Apache-2.0
// Debug ports: the test-exit port, the POST/boot-marker port 0x80, and the pvpanic port.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "vmm/bus/bus.hpp"

namespace vmm {

// At x86::PORT_TEST_EXIT (x86::PORT_TEST_EXIT_SIZE bytes): a write of any width at offset 0
// calls on_exit with the low 8 bits of the value, which the VMM makes its exit status, so a
// test inside the guest can report its result. Unlike QEMU's isa-debug-exit the value is not
// shifted. Reads return 0. Called on vCPU threads; on_exit must be thread-safe. Only the first
// write calls it: the VM is stopping, and a guest looping on the port must not flood it.
class TestExitPort final : public BusDevice {
public:
    explicit TestExitPort(std::function<void(std::uint8_t code)> on_exit);

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override;

private:
    const std::function<void(std::uint8_t)> on_exit_;
    std::atomic<bool> exited_ { false };
};

// A value written to the POST port and when it arrived.
struct PostMarker {
    std::uint8_t value = 0;
    std::chrono::steady_clock::time_point time;
};

// At x86::PORT_POST (0x80, one byte). PC firmware writes POST codes here; guests also use it
// as a cheap boot marker (an `outb` from init), which boot-time measurement times. Each write
// is recorded with its steady_clock time, and on_marker (optional) is called.
//
// Linux may also write here as an I/O delay (outb_p, unless it runs with KVM's no-op delay),
// so writes can be frequent: the record keeps the first MAX_MARKERS writes, which hold the
// boot markers, and counts the rest. Reads return 0xff, like an empty ISA port.
// Thread-safe; on_marker runs on the vCPU thread, without the lock held.
class PostPort final : public BusDevice {
public:
    static constexpr std::size_t MAX_MARKERS = 1024;

    explicit PostPort(std::function<void(std::uint8_t value)> on_marker = {});

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override;

    // The recorded writes, oldest first (at most MAX_MARKERS).
    [[nodiscard]] std::vector<PostMarker> markers() const;
    // Every write, recorded or not.
    [[nodiscard]] std::uint64_t write_count() const noexcept;

private:
    const std::function<void(std::uint8_t)> on_marker_;
    mutable std::mutex mutex_;
    std::vector<PostMarker> markers_;
    std::uint64_t writes_ = 0;
};

// At x86::PORT_PVPANIC (one byte): QEMU's pvpanic ISA device, ACPI _HID QEMU0001 (QEMU
// docs/specs/pvpanic.rst). Reads return the events supported: bit 0 PANICKED and bit 1
// CRASH_LOADED. The guest writes PANICKED when the kernel panics, which calls on_panic with
// the written value, once (later reports are logged only); CRASH_LOADED alone (a kdump kernel
// is taking over) is only logged.
class PvPanicPort final : public BusDevice {
public:
    static constexpr std::uint8_t PANICKED = 0x01;
    static constexpr std::uint8_t CRASH_LOADED = 0x02;
    static constexpr std::uint8_t SUPPORTED_EVENTS = PANICKED | CRASH_LOADED;

    explicit PvPanicPort(std::function<void(std::uint8_t events)> on_panic);

    void read(std::uint64_t offset, std::span<std::byte> data) noexcept override;
    void write(std::uint64_t offset, std::span<const std::byte> data) noexcept override;

private:
    const std::function<void(std::uint8_t)> on_panic_;
    std::atomic<bool> panicked_ { false };
};

} // namespace vmm
