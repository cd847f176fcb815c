// SPDX-License-Identifier: Apache-2.0
// The console escape sequences typed on a terminal: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace vmm {

// Filters keyboard input from the host terminal before it reaches the guest. As in QEMU's
// -nographic mode, Ctrl-A (0x01) starts an escape:
//   Ctrl-A x        quit the VMM (the guest is stopped, not shut down);
//   Ctrl-A Ctrl-A   send one Ctrl-A to the guest;
//   Ctrl-A other    nothing: both keys are swallowed.
// An escape may span two reads. Used only when stdin is a terminal in raw mode; piped input
// passes through untouched.
class EscapeFilter {
public:
    static constexpr std::byte ESCAPE { 0x01 };
    static constexpr std::byte QUIT { 'x' };

    // Appends the bytes meant for the guest to `out`. Returns true when Ctrl-A x was typed;
    // bytes after it are not forwarded.
    bool feed(std::span<const std::byte> in, std::vector<std::byte>& out);

private:
    bool escaped_ = false;
};

} // namespace vmm
