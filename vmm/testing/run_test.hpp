// SPDX-License-Identifier: Apache-2.0
// vireo test: a run whose console is read for results, with a time limit, ending in a verdict
// written as JSON and JUnit XML.
#pragma once

#include "vmm/config/command_line.hpp"
#include "vmm/config/config.hpp"

namespace vmm::testing {

// Runs the VM (restarts included) and returns the process's exit status: see
// config/exit_status.hpp and Verdict. The configuration has been validated.
[[nodiscard]] int run_test(const config::VmConfig& cfg, const config::TestOptions& options);

} // namespace vmm::testing
