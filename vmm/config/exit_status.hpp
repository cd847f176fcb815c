// SPDX-License-Identifier: Apache-2.0
// The exit status of the vireo process, as documented in configs/README.md.
#pragma once

namespace vmm::config {

// The guest powered off, or rebooted while on_reboot is "exit". Also --help, --version and a
// successful validate.
inline constexpr int EXIT_POWER_OFF = 0;
// The VMM failed while running: a host resource failed, or an internal error.
inline constexpr int EXIT_VMM_ERROR = 1;
// The configuration or the command line is wrong (or /dev/kvm is missing); nothing ran.
inline constexpr int EXIT_CONFIG_ERROR = 2;
// The guest crashed: a panic reported through pvpanic, a triple fault, or a KVM internal error.
inline constexpr int EXIT_GUEST_CRASHED = 3;
// vireo test: the guest ended well, but its console showed failures: a KTAP test that failed,
// or a kernel report (oops, WARN, KASAN, hung task, ...). The results file names them.
inline constexpr int EXIT_TEST_FAILED = 4;
// vireo test: the --timeout passed before the guest stopped (as timeout(1) reports it).
inline constexpr int EXIT_TIMEOUT = 124;
// SIGINT or SIGTERM: a clean shutdown with 128 + the signal number, as shells report it.
inline constexpr int EXIT_SIGNAL_BASE = 128;
// Besides these, a value the guest writes to the test-exit port becomes the exit status as is,
// so that test guests can report results; such guests should avoid 1 to 4.

} // namespace vmm::config
