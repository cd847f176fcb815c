// SPDX-License-Identifier: Apache-2.0
// The API socket: JSON requests over a Unix stream socket, one per line, answered in order.
//
// Request:  {"command": "status"}            (more keys as a command needs)
// Response: {"ok": true, "result": {...}}  or  {"ok": false, "error": "message"}
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>

#include "vmm/base/result.hpp"

namespace vmm {

class ApiServer {
public:
    // Runs on the loop thread. Returns the result object, or an error message.
    using Handler = std::function<Result<nlohmann::json>(const std::string& command, const nlohmann::json& request)>;

    static constexpr std::size_t MAX_REQUEST_BYTES = 64 * 1024;
    static constexpr std::size_t MAX_CLIENTS = 16;

    [[nodiscard]] static Result<std::unique_ptr<ApiServer>> open(
        boost::asio::io_context& io, const std::filesystem::path& path, Handler handler);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // The reply for one request line (exposed for tests).
    [[nodiscard]] static std::string handle_line(const std::string& line, const Handler& handler);

    struct State; // defined in the .cpp; shared with the client sessions

private:
    ApiServer(std::shared_ptr<State> state, std::filesystem::path path);
    std::shared_ptr<State> state_;
    std::filesystem::path path_;
};

} // namespace vmm
