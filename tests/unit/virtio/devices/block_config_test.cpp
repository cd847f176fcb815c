// SPDX-License-Identifier: Apache-2.0
// Block config keys: defaults, every key, unknown keys with suggestions, types, bounds, files.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <cerrno>

#include <catch2/catch.hpp>

#include "virtio/devices/block/block_config.hpp"

using namespace vmm;
using namespace vmm::virtio::block;
using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

config::DeviceConfig entry(json params, fs::path base = "/")
{
    config::DeviceConfig d;
    d.type = "block";
    d.origin = "devices[0]";
    d.params = std::move(params);
    d.base_dir = std::move(base);
    return d;
}

std::string error_of(const json& params)
{
    auto r = parse_block_config(entry(params));
    return r ? std::string("<no error>") : r.error().describe();
}

} // namespace

TEST_CASE("block config: only a path is needed; the rest has defaults", "[virtio][blk][config]")
{
    const auto c = parse_block_config(entry({ { "path", "disk.img" } }, "/vms/a"));

    REQUIRE(c);
    CHECK(c->path == "/vms/a/disk.img");
    CHECK(c->options.cache == CacheMode::writeback);
    CHECK(c->options.num_queues == 1);
    CHECK(c->options.queue_size == 256);
    CHECK_FALSE(c->options.read_only);
    CHECK_FALSE(c->options.discard);
    CHECK(c->options.write_zeroes);
    CHECK_FALSE(c->options.lifetime);
    CHECK(c->options.coalesce);
}

TEST_CASE("block config: every key is read", "[virtio][blk][config]")
{
    const json p = {
        { "path", "/dev/null" }, { "readonly", false }, { "cache", "writethrough" },
        { "num_queues", 4 }, { "queue_size", 128 }, { "serial", "SN1" }, { "discard", true },
        { "write_zeroes", false }, { "secure_erase", true },
        { "lifetime", { { "pre_eol_info", 1 }, { "device_lifetime_est_typ_a", 2 }, { "device_lifetime_est_typ_b", 11 } } },
        { "seg_max", 64 }, { "size_max", 65536 }, { "blk_size", 4096 }, { "physical_block_size", 8192 },
        { "alignment_offset", 1 }, { "min_io_size", 2 }, { "opt_io_size", 32 }, { "max_discard_sectors", 1024 },
        { "max_discard_seg", 8 }, { "max_write_zeroes_sectors", 2048 }, { "max_write_zeroes_seg", 2 },
        { "max_secure_erase_sectors", 512 }, { "max_secure_erase_seg", 1 }, { "coalesce", false },
        { "faults", json::array({ { { "op", "read" }, { "error", "eio" } } }) },
    };

    auto e = entry(p);
    e.id = "data";
    const auto c = parse_block_config(e);

    REQUIRE(c);
    CHECK(c->id == "data");
    CHECK(c->options.cache == CacheMode::writethrough);
    CHECK(c->options.num_queues == 4);
    CHECK(c->options.queue_size == 128);
    CHECK(c->options.serial == "SN1");
    CHECK_FALSE(c->options.coalesce);
    REQUIRE(c->options.lifetime);
    CHECK(c->options.lifetime->device_lifetime_est_typ_b == 11);
    CHECK(c->options.physical_block_size == 8192);
    CHECK(c->options.max_secure_erase_seg == 1);
    REQUIRE(c->faults.size() == 1);
    CHECK(c->faults[0].error == -EIO);
    CHECK(block_config_keys().size() == p.size());
}

TEST_CASE("block config: an unknown key is refused with a suggestion", "[virtio][blk][config]")
{
    CHECK_THAT(error_of({ { "path", "x" }, { "read_only", true } }), Contains("\"read_only\": unknown key")
            && Contains("did you mean \"readonly\""));
    CHECK_THAT(error_of({ { "path", "x" }, { "lifetime", { { "pre_eol", 1 } } } }),
        Contains("lifetime.pre_eol") && Contains("pre_eol_info"));
}

TEST_CASE("block config: wrong types are named", "[virtio][blk][config]")
{
    CHECK_THAT(error_of({ { "path", "x" }, { "readonly", "yes" } }), Contains("\"readonly\": expected a boolean"));
    CHECK_THAT(error_of({ { "path", "x" }, { "num_queues", "2" } }), Contains("\"num_queues\": expected a whole number"));
    CHECK_THAT(error_of({ { "path", 5 } }), Contains("\"path\": expected a non-empty string"));
    CHECK_THAT(error_of({ { "path", "x" }, { "lifetime", 3 } }), Contains("\"lifetime\": expected an object"));
}

TEST_CASE("block config: a missing path says what to give", "[virtio][blk][config]")
{
    CHECK_THAT(error_of(json::object()), Contains("missing key \"path\""));
}

TEST_CASE("block config: bounds are checked", "[virtio][blk][config]")
{
    CHECK_THAT(error_of({ { "path", "x" }, { "num_queues", 0 } }), Contains("num_queues"));
    CHECK_THAT(error_of({ { "path", "x" }, { "num_queues", 65 } }), Contains("num_queues"));
    CHECK_THAT(error_of({ { "path", "x" }, { "queue_size", 100 } }), Contains("power of two"));
    CHECK_THAT(error_of({ { "path", "x" }, { "queue_size", 2048 } }), Contains("queue_size"));
    CHECK_THAT(error_of({ { "path", "x" }, { "serial", "123456789012345678901" } }), Contains("at most 20"));
    CHECK_THAT(error_of({ { "path", "x" }, { "serial", "tab\there" } }), Contains("printable"));
    CHECK_THAT(error_of({ { "path", "x" }, { "cache", "none" } }), Contains("not a cache mode"));
    CHECK_THAT(error_of({ { "path", "x" }, { "cache", "writeback2" } }), Contains("did you mean \"writeback\""));
    CHECK_THAT(error_of({ { "path", "x" }, { "blk_size", 1000 } }), Contains("power of two"));
    CHECK_THAT(error_of({ { "path", "x" }, { "blk_size", 4096 }, { "physical_block_size", 2048 } }),
        Contains("physical_block_size"));
    CHECK_THAT(error_of({ { "path", "x" }, { "size_max", 512 } }), Contains("size_max"));
    CHECK_THAT(error_of({ { "path", "x" }, { "max_discard_seg", 257 } }), Contains("max_discard_seg"));
    CHECK_THAT(error_of({ { "path", "x" }, { "readonly", true }, { "discard", true } }), Contains("read-only"));
}

TEST_CASE("block config: reserved lifetime values are refused", "[virtio][blk][config]")
{
    CHECK_THAT(error_of({ { "path", "x" }, { "lifetime", { { "pre_eol_info", 4 } } } }),
        Contains("lifetime.pre_eol_info") && Contains("0 to 3"));
    CHECK_THAT(error_of({ { "path", "x" }, { "lifetime", { { "device_lifetime_est_typ_a", 12 } } } }),
        Contains("0 to 11"));
}

TEST_CASE("block config: validation names a missing image and how to create it", "[virtio][blk][config]")
{
    const auto r = validate_block(entry({ { "path", "/nonexistent/vm/disk.img" } }));

    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Contains("/nonexistent/vm/disk.img") && Contains("truncate -s"));
}

TEST_CASE("block config: validation refuses a directory and accepts a file", "[virtio][blk][config]")
{
    const fs::path dir = fs::temp_directory_path();
    const fs::path file = dir / ("vireo-cfg-" + std::to_string(::getpid()) + ".img");
    std::ofstream(file) << "x";

    const auto on_dir = validate_block(entry({ { "path", dir.string() } }));
    const auto on_file = validate_block(entry({ { "path", file.string() } }));
    fs::remove(file);

    CHECK_FALSE(on_dir);
    CHECK(on_file);
}
