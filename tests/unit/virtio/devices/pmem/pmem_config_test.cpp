// SPDX-License-Identifier: Apache-2.0
// The pmem kind's config keys and factory over real files: creating and growing the file, the
// size rules and their messages, and the mapping that is the guest's persistent memory.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/virtio/devices/device_rig.hpp"
#include "tests/unit/virtio/devices/params_test_support.hpp"
#include "virtio/devices/pmem/pmem_config.hpp"
#include "virtio/devices/pmem/pmem_device.hpp"
#include "virtio/registry.hpp"
#include "vmm/loop/event_loop.hpp"

using namespace vmm;
using namespace vmm::virtio;
using namespace vmm::virtio::test;
using Catch::Contains;

namespace {

constexpr std::uint64_t MIB = 1 << 20;

struct TempDir {
    TempDir()
    {
        char tmpl[] = "/tmp/vireo-pmem-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    config::DeviceConfig entry(const std::string& params) const
    {
        auto e = test::entry("pmem", params);
        e.base_dir = path;
        return e;
    }
    void make_file(const std::string& name, std::uint64_t size) const
    {
        std::ofstream(path / name).close();
        std::filesystem::resize_file(path / name, size);
    }
    std::filesystem::path path;
};

} // namespace

TEST_CASE("a pmem entry needs a path, and takes size, readonly and faults", "[pmem][params]")
{
    CHECK_THAT(error_text(pmem::parse_pmem_config(entry("pmem", "{}"))), Contains("\"path\": required"));
    CHECK_THAT(error_text(pmem::parse_pmem_config(entry("pmem", R"({"path": "p.img", "sise": 1})"))),
        Contains("sise"));
    const auto c = pmem::parse_pmem_config(entry("pmem", R"({"path": "p.img", "size": "64M", "readonly": false})"));
    REQUIRE(c);
    CHECK(c->path == std::filesystem::path("/vm/p.img"));
    CHECK(c->size == 64 * MIB);
    CHECK_FALSE(c->read_only);
    const auto bytes = pmem::parse_pmem_config(entry("pmem", R"({"path": "p.img", "size": 4194304})"));
    REQUIRE(bytes);
    CHECK(bytes->size == 4 * MIB);
    CHECK(pmem::parse_pmem_config(entry("pmem", R"({"path": "p.img", "faults": [{"op": "flush", "error": "eio"}]})")));
    CHECK_THAT(error_text(pmem::parse_pmem_config(entry("pmem", R"({"path": "p.img", "faults": [{"op": "flosh"}]})"))),
        Contains("faults"));
    CHECK_THAT(error_text(pmem::parse_pmem_config(entry("pmem", R"({"path": "p.img", "faults": [{"op": "read", "error": "eio"}]})"))),
        Contains("only has flushes"));
    CHECK_THAT(error_text(pmem::parse_pmem_config(
                   entry("pmem", R"({"path": "p.img", "faults": [{"first_sector": 1, "error": "eio"}]})"))),
        Contains("faults[0]"));
}

TEST_CASE("a pmem size must be a whole number of 2 MiB pieces, up to 1 TiB", "[pmem][params]")
{
    for (const char* bad : { R"("3M")", "1000", R"("0")", R"("2T")", R"("lots")", "-2" }) {
        INFO(bad);
        const auto r = pmem::parse_pmem_config(entry("pmem", std::string(R"({"path": "p.img", "size": )") + bad + "}"));
        CHECK_FALSE(r);
    }
    CHECK_THAT(error_text(pmem::parse_pmem_config(entry("pmem", R"({"path": "p.img", "size": "3M"})"))),
        Contains("multiple of 2 MiB") && Contains("\"size\": \"4M\""));
}

TEST_CASE("pmem validation names a missing, odd-sized or unusable file and how to fix it", "[pmem][params]")
{
    TempDir d;
    CHECK_THAT(error_text(pmem::validate_pmem(d.entry(R"({"path": "none.img"})"))),
        Contains("does not exist") && Contains("truncate -s") && Contains("\"size\""));
    CHECK(pmem::validate_pmem(d.entry(R"({"path": "none.img", "size": "4M"})")));
    d.make_file("odd.img", 3 * MIB);
    CHECK_THAT(error_text(pmem::validate_pmem(d.entry(R"({"path": "odd.img"})"))),
        Contains("not a multiple of 2 MiB") && Contains("truncate -s 4M "));
    d.make_file("big.img", 8 * MIB);
    CHECK_THAT(error_text(pmem::validate_pmem(d.entry(R"({"path": "big.img", "size": "4M"})"))),
        Contains("larger than"));
    CHECK_THAT(error_text(pmem::validate_pmem(d.entry(R"({"path": "none.img", "size": "4M", "readonly": true})"))),
        Contains("read-only"));
    CHECK(pmem::validate_pmem(d.entry(R"({"path": "big.img", "size": "8M", "readonly": true})")));
    CHECK_THAT(error_text(pmem::validate_pmem(d.entry(R"({"path": "."})"))), Contains("not a regular file"));
    // Nothing was created by validation.
    CHECK_FALSE(std::filesystem::exists(d.path / "none.img"));
}

TEST_CASE("the pmem factory creates or grows the file and maps it shared", "[pmem][params]")
{
    TempDir d;
    DeviceResources res;
    SECTION("created at the size asked for")
    {
        auto dev = make_device(d.entry(R"({"path": "new.img", "size": "4M"})"), res);
        REQUIRE(dev);
        CHECK(std::filesystem::file_size(d.path / "new.img") == 4 * MIB);
        const auto w = (*dev)->guest_window();
        REQUIRE(w);
        CHECK(w->size == 4 * MIB);
        // A store into the window is a store into the file.
        std::memcpy(w->host + 3 * MIB, "persist", 7);
        std::ifstream f(d.path / "new.img", std::ios::binary);
        f.seekg(3 * MIB);
        char got[8] = {};
        f.read(got, 7);
        CHECK(std::string(got) == "persist");
    }
    SECTION("grown, keeping what it held")
    {
        d.make_file("old.img", 2 * MIB);
        {
            std::fstream f(d.path / "old.img", std::ios::binary | std::ios::in | std::ios::out);
            f.write("kept", 4);
        }
        auto dev = make_device(d.entry(R"({"path": "old.img", "size": "6M"})"), res);
        REQUIRE(dev);
        CHECK(std::filesystem::file_size(d.path / "old.img") == 6 * MIB);
        CHECK(std::memcmp((*dev)->guest_window()->host, "kept", 4) == 0);
    }
    SECTION("read-only, mapped without write access")
    {
        d.make_file("ro.img", 2 * MIB);
        auto dev = make_device(d.entry(R"({"path": "ro.img", "readonly": true})"), res);
        REQUIRE(dev);
        CHECK((*dev)->guest_window()->read_only);
    }
    SECTION("in use by another device")
    {
        d.make_file("busy.img", 2 * MIB);
        auto first = make_device(d.entry(R"({"path": "busy.img"})"), res);
        REQUIRE(first);
        CHECK_THAT(error_text(make_device(d.entry(R"({"path": "busy.img"})"), res)),
            Contains("pmem file") && Contains("in use"));
    }
}

TEMPLATE_TEST_CASE("a pmem device flushes its file through the io_uring backend on the loop", "[pmem][params]",
    DriverSplitQueue, DriverPackedQueue)
{
    TempDir d;
    EventLoop loop;
    DeviceResources res;
    res.loop = &loop;
    auto dev = make_device(d.entry(R"({"path": "f.img", "size": "2M"})"), res);
    REQUIRE(dev);
    auto* pmem = dynamic_cast<pmem::PmemDevice*>(dev->get());
    REQUIRE(pmem != nullptr);
    std::memcpy(pmem->guest_window()->host, "stored", 6);
    DeviceRig<TestType> rig(*pmem);
    rig.start(0, {}, &loop);
    const std::uint64_t req = rig.buffer(4);
    const std::uint64_t resp = rig.buffer(4);
    rig.guest.write_obj(resp, std::uint32_t { 0xaaaa'aaaa });
    rig.queue(0).add({ readable(req, 4), writable(resp, 4) });
    rig.kick(0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pmem->flushes_in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        loop.io().run_one_for(std::chrono::milliseconds(100));
    }
    REQUIRE(rig.queue(0).pop_used());
    CHECK(rig.guest.template read_obj<std::uint32_t>(resp) == 0);
    CHECK(pmem->status()["flushes"] == 1);
    CHECK(pmem->status()["path"] == (d.path / "f.img").string());
    CHECK(rig.irq.queue_count(0) == 1);
}
