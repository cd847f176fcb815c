// SPDX-License-Identifier: Apache-2.0
// The files in configs/: every example parses, and the schema names the parser's keys.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "test_support.hpp"
#include "virtio/devices/balloon/balloon_config.hpp"
#include "virtio/devices/block/block_config.hpp"
#include "virtio/devices/mem/mem_config.hpp"
#include "virtio/devices/net/net_config.hpp"
#include "virtio/devices/pmem/pmem_config.hpp"
#include "virtio/devices/scsi/scsi_config.hpp"
#include "vmm/config/config.hpp"

using namespace vmm::config;
using Catch::Matchers::Contains;
using nlohmann::json;
using vmm::config::test::error_text;
namespace fs = std::filesystem;

namespace {

// This file is tests/unit/vmm/config/examples_test.cpp: five levels below the source root.
fs::path root_from(const fs::path& self)
{
    return self.parent_path().parent_path().parent_path().parent_path().parent_path();
}

// __FILE__ is relative to the build directory when meson compiles with relative paths, so
// look for the build directory among the test executable's ancestors.
fs::path source_root()
{
    const fs::path self = __FILE__;
    if (self.is_absolute()) {
        return root_from(self);
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
        if (fs::exists(dir / self, ec)) {
            return root_from(fs::weakly_canonical(dir / self));
        }
    }
    return root_from(fs::absolute(self));
}

std::vector<fs::path> example_files()
{
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(source_root() / "configs" / "examples", ec)) {
        if (entry.path().extension() == ".json") {
            files.push_back(entry.path());
        }
    }
    return files;
}

json read_json(const fs::path& file)
{
    std::ifstream in(file);
    return json::parse(in);
}

// Every key in a config document as a JSON pointer ("/vm/cpus"), device entries excluded.
void collect_keys(const json& obj, const std::string& prefix, std::vector<std::string>& out)
{
    for (const auto& [key, value] : obj.items()) {
        out.push_back(prefix + "/" + key);
        if (value.is_object()) {
            collect_keys(value, prefix + "/" + key, out);
        }
    }
}

// The same key paths, as the schema declares them under "properties".
void collect_schema_keys(const json& schema, const std::string& prefix, std::vector<std::string>& out)
{
    if (!schema.contains("properties")) {
        return;
    }
    for (const auto& [key, sub] : schema["properties"].items()) {
        out.push_back(prefix + "/" + key);
        if (sub.value("type", "") == "object") {
            collect_schema_keys(sub, prefix + "/" + key, out);
        }
    }
}

} // namespace

TEST_CASE("the source root holding configs/ is found from the test's own path", "[config]")
{
    CHECK(fs::is_regular_file(source_root() / "configs" / "vireo.schema.json"));
    CHECK(fs::is_regular_file(source_root() / "configs" / "examples" / "minimal.json"));
    CHECK(fs::is_regular_file(source_root() / "configs" / "examples" / "devices.json"));
}

TEST_CASE("every example config passes parse_json with paths relative to its directory", "[config]")
{
    const auto files = example_files();
    REQUIRE(files.size() >= 2);
    for (const fs::path& file : files) {
        INFO("example " << file.string());
        const auto cfg = parse_json(read_json(file), file.parent_path());
        CHECK(error_text(cfg) == "<no error>");
        CHECK(load_file(file));
        if (cfg) {
            CHECK(cfg->kernel.parent_path() == file.parent_path());
        }
    }
}

TEST_CASE("the devices example has rng and console entries on both transports", "[config]")
{
    const auto cfg = load_file(source_root() / "configs" / "examples" / "devices.json");

    REQUIRE(cfg);
    std::vector<std::string> seen;
    for (const DeviceConfig& dev : cfg->devices) {
        seen.push_back(dev.type + "/" + std::string(to_string(dev.transport)));
    }
    CHECK_THAT(seen, Catch::Matchers::VectorContains(std::string("rng/mmio")));
    CHECK_THAT(seen, Catch::Matchers::VectorContains(std::string("rng/pci")));
    CHECK_THAT(seen, Catch::Matchers::VectorContains(std::string("console/pci")));
}

TEST_CASE("the schema declares draft 2020-12 and exactly the keys of the full example", "[config]")
{
    const json schema = read_json(source_root() / "configs" / "vireo.schema.json");
    std::vector<std::string> schema_keys;
    collect_schema_keys(schema, "", schema_keys);
    std::vector<std::string> example_keys;
    collect_keys(read_json(source_root() / "configs" / "examples" / "full.json"), "", example_keys);
    std::sort(schema_keys.begin(), schema_keys.end());
    std::sort(example_keys.begin(), example_keys.end());

    CHECK(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema");
    CHECK(schema["additionalProperties"] == false);
    CHECK(schema_keys == example_keys);
}

TEST_CASE("the parser accepts every key the schema declares", "[config]")
{
    const json schema = read_json(source_root() / "configs" / "vireo.schema.json");
    std::vector<std::string> keys;
    collect_schema_keys(schema, "", keys);
    REQUIRE(keys.size() > 10);
    for (const std::string& key : keys) {
        INFO("schema key " << key);
        // A null value makes every key fail on its type; what matters is that none is unknown.
        json doc = json::object();
        doc[json::json_pointer(key)] = nullptr;
        CHECK_THAT(error_text(parse_json(doc, "/")), !Contains("unknown key"));
    }
}

TEST_CASE("the schema's block entry names exactly the keys the block device reads", "[config]")
{
    const json schema = read_json(source_root() / "configs" / "vireo.schema.json");
    const json& items = schema["properties"]["devices"]["items"];
    const json& then = items["allOf"][0]["then"];
    std::vector<std::string> schema_keys;
    for (const auto& [key, value] : then["properties"].items()) {
        // The keys every device entry has (type, transport, packed, ...) are the config's.
        if (!items["properties"].contains(key)) {
            schema_keys.push_back(key);
        }
    }
    for (const auto& [key, value] : items["properties"].items()) {
        CHECK(then["properties"].contains(key));
    }
    std::vector<std::string> device_keys;
    for (const auto key : vmm::virtio::block::block_config_keys()) {
        device_keys.emplace_back(key);
    }
    std::sort(schema_keys.begin(), schema_keys.end());
    std::sort(device_keys.begin(), device_keys.end());

    CHECK(then["properties"].contains("path"));
    CHECK(schema_keys == device_keys);
}


namespace {

// The keys a device kind's schema branch names beyond the ones every entry has, against the
// keys its parser reads.
void check_schema_branch(const std::string& type, std::span<const std::string_view> keys)
{
    const json schema = read_json(source_root() / "configs" / "vireo.schema.json");
    const json& items = schema["properties"]["devices"]["items"];
    const json* then = nullptr;
    for (const auto& branch : items["allOf"]) {
        if (branch["if"]["properties"]["type"]["const"] == type) {
            then = &branch["then"];
        }
    }
    REQUIRE(then != nullptr);
    std::vector<std::string> schema_keys;
    for (const auto& [key, value] : (*then)["properties"].items()) {
        if (!items["properties"].contains(key)) {
            schema_keys.push_back(key);
        }
    }
    std::vector<std::string> device_keys(keys.begin(), keys.end());
    std::sort(schema_keys.begin(), schema_keys.end());
    std::sort(device_keys.begin(), device_keys.end());
    CHECK(schema_keys == device_keys);
}

} // namespace

TEST_CASE("the schema's net, pmem, scsi, balloon and mem entries name exactly the keys those devices read", "[config]")
{
    check_schema_branch("balloon", vmm::virtio::balloon::balloon_config_keys());
    check_schema_branch("mem", vmm::virtio::mem::mem_config_keys());
    check_schema_branch("net", vmm::virtio::net::net_config_keys());
    check_schema_branch("pmem", vmm::virtio::pmem::pmem_config_keys());
    check_schema_branch("scsi", vmm::virtio::scsi::scsi_config_keys());
}
