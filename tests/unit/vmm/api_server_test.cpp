// SPDX-License-Identifier: Apache-2.0
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "vmm/api/api_server.hpp"

using namespace vmm;

namespace {

Result<nlohmann::json> echo_handler(const std::string& command, const nlohmann::json& /*request*/)
{
    if (command == "status") {
        return nlohmann::json { { "state", "running" } };
    }
    return fail(Errc::not_found, "unknown command '{}'", command);
}

nlohmann::json reply_to(const std::string& line)
{
    return nlohmann::json::parse(ApiServer::handle_line(line, echo_handler));
}

} // namespace

TEST_CASE("a known API command is answered with ok and its result", "[api]")
{
    auto r = reply_to(R"({"command": "status"})");
    CHECK(r["ok"] == true);
    CHECK(r["result"]["state"] == "running");
}

TEST_CASE("an unknown API command is answered with the handler's error", "[api]")
{
    auto r = reply_to(R"({"command": "fly"})");
    CHECK(r["ok"] == false);
    CHECK(r["error"] == "unknown command 'fly'");
}

TEST_CASE("malformed API requests get an error reply, not a crash", "[api]")
{
    CHECK(reply_to("{not json")["ok"] == false);
    CHECK(reply_to("[1,2]")["ok"] == false);
    CHECK(reply_to(R"({"command": 5})")["ok"] == false);
    CHECK(reply_to("\"\\ud800\"")["ok"] == false);
}
