// SPDX-License-Identifier: Apache-2.0
// The pty console backend (see ConsoleSpec::Mode::pty); open_console's helper.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>

#include "vmm/base/result.hpp"
#include "vmm/console/console.hpp"

namespace vmm {

[[nodiscard]] Result<std::unique_ptr<Console>> open_pty_console(
    boost::asio::io_context& io, ConsoleCallbacks callbacks);

} // namespace vmm
