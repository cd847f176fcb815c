// SPDX-License-Identifier: Apache-2.0
// Debug ports: test exit, POST markers, pvpanic.
#include "vmm/devices/debug_ports.hpp"

#include <utility>

#include "vmm/base/log.hpp"

namespace vmm {

namespace {

void fill(std::span<std::byte> data, std::uint8_t value)
{
    for (auto& b : data) {
        b = std::byte { value };
    }
}

} // namespace

TestExitPort::TestExitPort(std::function<void(std::uint8_t code)> on_exit)
    : on_exit_(std::move(on_exit))
{
}

void TestExitPort::read(std::uint64_t /*offset*/, std::span<std::byte> data) noexcept
{
    fill(data, 0);
}

void TestExitPort::write(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    // outb, outw and outl at the base all count; a write into the middle of the port (a
    // guest poking at 0xf5) is not an exit request.
    if (offset != 0 || data.empty()) {
        VMM_LOG_GUEST(
            spdlog::level::warn, "test-exit: ignoring a {}-byte write at offset {}", data.size(), offset);
        return;
    }
    // Guest-controlled: any value; the low byte (x86 is little-endian) is the exit code.
    const auto code = static_cast<std::uint8_t>(data[0]);
    if (exited_.exchange(true)) {
        return;
    }
    VMM_LOG_GUEST(spdlog::level::info, "test-exit: the guest wrote exit code {}", code);
    if (on_exit_) {
        on_exit_(code);
    }
}

PostPort::PostPort(std::function<void(std::uint8_t value)> on_marker)
    : on_marker_(std::move(on_marker))
{
}

void PostPort::read(std::uint64_t /*offset*/, std::span<std::byte> data) noexcept
{
    fill(data, 0xff);
}

void PostPort::write(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    // Take the time first: the point of the port is when the write happened.
    const auto now = std::chrono::steady_clock::now();
    if (offset != 0 || data.empty()) {
        VMM_LOG_GUEST(
            spdlog::level::debug, "post: ignoring a {}-byte write at offset {}", data.size(), offset);
        return;
    }
    // Guest-controlled:
    const auto value = static_cast<std::uint8_t>(data[0]);
    {
        const std::lock_guard lock(mutex_);
        ++writes_;
        if (markers_.size() < MAX_MARKERS) {
            if (markers_.empty()) {
                markers_.reserve(MAX_MARKERS); // one allocation, on the first write
            }
            markers_.push_back(PostMarker { value, now });
        }
    }
    VMM_LOG_GUEST(spdlog::level::debug, "post: {:#04x}", value);
    if (on_marker_) {
        on_marker_(value);
    }
}

std::vector<PostMarker> PostPort::markers() const
{
    const std::lock_guard lock(mutex_);
    return markers_;
}

std::uint64_t PostPort::write_count() const noexcept
{
    const std::lock_guard lock(mutex_);
    return writes_;
}

PvPanicPort::PvPanicPort(std::function<void(std::uint8_t events)> on_panic)
    : on_panic_(std::move(on_panic))
{
}

void PvPanicPort::read(std::uint64_t offset, std::span<std::byte> data) noexcept
{
    // The Linux driver reads one byte and uses only the events it finds here.
    fill(data, 0);
    if (offset == 0 && !data.empty()) {
        data[0] = std::byte { SUPPORTED_EVENTS };
    }
}

void PvPanicPort::write(std::uint64_t offset, std::span<const std::byte> data) noexcept
{
    if (offset != 0 || data.size() != 1) {
        VMM_LOG_GUEST(
            spdlog::level::warn, "pvpanic: ignoring a {}-byte write at offset {}", data.size(), offset);
        return;
    }
    // Guest-controlled: unsupported bits are ignored, as the spec allows.
    const auto events = static_cast<std::uint8_t>(data[0]);
    if ((events & PANICKED) != 0) {
        if (panicked_.exchange(true)) {
            return; // reported already
        }
        VMM_LOG_GUEST(spdlog::level::err, "pvpanic: the guest reported a kernel panic ({:#x})", events);
        if (on_panic_) {
            on_panic_(events);
        }
        return;
    }
    if ((events & CRASH_LOADED) != 0) {
        VMM_LOG_GUEST(spdlog::level::warn, "pvpanic: the guest is starting its crash kernel");
        return;
    }
    VMM_LOG_GUEST(spdlog::level::debug, "pvpanic: ignoring event bits {:#x}", events);
}

} // namespace vmm
