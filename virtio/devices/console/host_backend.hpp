// SPDX-License-Identifier: Apache-2.0
// The real port backends: vmm/console's stdio, file, socket, pty and off consoles.
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "virtio/devices/console/port_backend.hpp"
#include "vmm/base/result.hpp"
#include "vmm/console/console.hpp"

namespace vmm::virtio {

// Opens the console `spec` describes (see vmm::ConsoleSpec for each mode's behaviour) as a
// port backend. `on_quit` is the terminal's quit key for a stdio port.
[[nodiscard]] Result<std::unique_ptr<PortBackend>> open_host_backend(
    boost::asio::io_context& io, const ConsoleSpec& spec, std::function<void()> on_quit);

} // namespace vmm::virtio
