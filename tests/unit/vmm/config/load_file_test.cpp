// SPDX-License-Identifier: Apache-2.0
// Tests for load_file: reading, JSON syntax errors, duplicate keys, file-relative paths.
#include <string>

#include <catch2/catch.hpp>

#include "test_support.hpp"
#include "vmm/config/config.hpp"

using namespace vmm::config;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using vmm::config::test::error_text;
using vmm::config::test::TempDir;

TEST_CASE("a config file's relative paths resolve against the file's directory", "[config]")
{
    const TempDir dir;
    const auto file = dir.write("vms/vm.json",
        R"({"boot": {"kernel": "bzImage", "initrd": "../initrd.img"}, "api_socket": "api.sock"})");

    const auto cfg = load_file(file);

    REQUIRE(cfg);
    CHECK(cfg->kernel == dir.path() / "vms" / "bzImage");
    CHECK(cfg->initrd == dir.path() / "vms" / "../initrd.img");
    CHECK(cfg->api_socket == dir.path() / "vms" / "api.sock");
}

TEST_CASE("a missing config file is an error naming the file", "[config]")
{
    const TempDir dir;
    const auto missing = dir.path() / "nope.json";

    const auto r = load_file(missing);

    REQUIRE_FALSE(r);
    CHECK_THAT(error_text(r), StartsWith(missing.string() + ": cannot open config file"));
    CHECK_THAT(error_text(r), Contains("No such file or directory"));
}

TEST_CASE("a directory given as config file is refused", "[config]")
{
    const TempDir dir;

    CHECK_THAT(error_text(load_file(dir.path())), Contains("not a regular file"));
}

TEST_CASE("invalid JSON is reported with file and line and column", "[config]")
{
    const TempDir dir;
    const auto file = dir.write("bad.json", "{\n  \"vm\": {\n    \"cpus\": 2,\n  }\n}\n");

    const auto r = load_file(file);

    REQUIRE_FALSE(r);
    CHECK_THAT(error_text(r), StartsWith(file.string() + ": invalid JSON at line 4, column 3: "));
    CHECK_THAT(error_text(r), Contains("unexpected '}'"));
}

TEST_CASE("an empty config file is reported as invalid JSON at line 1", "[config]")
{
    const TempDir dir;
    const auto file = dir.write("empty.json", "");

    CHECK_THAT(error_text(load_file(file)), Contains("invalid JSON at line 1, column 1"));
}

TEST_CASE("a key given twice in a config file is refused with its path", "[config]")
{
    const TempDir dir;
    const auto file = dir.write("dup.json",
        R"({"devices": [{"type": "rng"}, 7, {"type": "rng", "type": "block"}], "vm": {"memory": "1G"}})");

    CHECK_THAT(error_text(load_file(file)), Contains("dup.json: devices[2].type: duplicate key"));
}

TEST_CASE("a top-level key given twice is refused", "[config]")
{
    const TempDir dir;
    const auto file = dir.write("dup.json", R"({"vm": {"cpus": 1}, "log_level": "info", "vm": {}})");

    CHECK_THAT(error_text(load_file(file)), Contains("dup.json: vm: duplicate key"));
}

TEST_CASE("a semantic error in a config file is prefixed with the file name", "[config]")
{
    const TempDir dir;
    const auto file = dir.write("vm.json", R"({"vm": {"cpu": 2}})");

    CHECK(error_text(load_file(file)) == file.string() + ": vm.cpu: unknown key; did you mean \"cpus\"?");
}

TEST_CASE("a config file larger than the cap is refused without parsing it", "[config]")
{
    const TempDir dir;
    const auto file = dir.write("huge.json", std::string(MAX_CONFIG_FILE_SIZE + 1, ' '));

    CHECK_THAT(error_text(load_file(file)), Contains("larger than the 1024 KiB limit"));
}
