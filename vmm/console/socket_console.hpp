// SPDX-License-Identifier: Apache-2.0
// The socket console backend (see ConsoleSpec::Mode::socket); open_console's helper.
#pragma once

#include <filesystem>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "vmm/base/result.hpp"
#include "vmm/console/console.hpp"

namespace vmm {

[[nodiscard]] Result<std::unique_ptr<Console>> open_socket_console(
    boost::asio::io_context& io, const std::filesystem::path& path, ConsoleCallbacks callbacks);

} // namespace vmm
