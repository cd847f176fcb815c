// SPDX-License-Identifier: Apache-2.0
// Msix: table programming, masking, the pending bits, and routes the platform refuses.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "vmm/pci/msix.hpp"

using namespace vmm;
using namespace vmm::pci;

namespace {

struct VectorLog {
    std::optional<MsiMessage> route;
    std::uint32_t sent = 0;
    std::uint32_t routes_set = 0;
};

class LoggingVector final : public MsiVector {
public:
    LoggingVector(VectorLog* log, const bool* refuse)
        : log_(log)
        , refuse_(refuse)
    {
    }
    Result<> set_route(const MsiMessage& m) override
    {
        if (*refuse_) {
            return fail(Errc::invalid_argument, "refused");
        }
        ++log_->routes_set;
        log_->route = m;
        return {};
    }
    void trigger() noexcept override { ++log_->sent; }

private:
    VectorLog* log_;
    const bool* refuse_;
};

class LoggingRouter final : public MsiRouter {
public:
    Result<std::unique_ptr<MsiVector>> allocate() override
    {
        logs.push_back(std::make_unique<VectorLog>());
        return std::unique_ptr<MsiVector>(std::make_unique<LoggingVector>(logs.back().get(), &refuse));
    }
    std::vector<std::unique_ptr<VectorLog>> logs;
    bool refuse = false;
};

void write32(Msix& m, std::uint64_t off, std::uint32_t v)
{
    m.write_table(off, std::as_bytes(std::span(&v, 1)));
}

std::uint32_t read32(const Msix& m, std::uint64_t off)
{
    std::uint32_t v = 0;
    m.read_table(off, std::as_writable_bytes(std::span(&v, 1)));
    return v;
}

std::uint8_t pba_byte(const Msix& m)
{
    std::uint8_t v = 0;
    m.read_pba(0, std::as_writable_bytes(std::span(&v, 1)));
    return v;
}

// Entry `v` programmed with address 0xfee00000 and data 0x40 + v, still masked.
void program(Msix& m, std::uint16_t v)
{
    const std::uint64_t e = v * Msix::ENTRY_SIZE;
    write32(m, e, 0xfee0'0000);
    write32(m, e + 4, 0);
    write32(m, e + 8, 0x40U + v);
}

void unmask(Msix& m, std::uint16_t v)
{
    write32(m, v * Msix::ENTRY_SIZE + 12, 0);
}

struct MsixFixture {
    MsixFixture()
    {
        auto r = Msix::create(router, 3);
        REQUIRE(r);
        msix = std::move(r).value();
    }
    LoggingRouter router;
    std::unique_ptr<Msix> msix;
};

} // namespace

TEST_CASE("each MSI-X entry gets its own vector from the router and starts masked", "[pci][msix]")
{
    MsixFixture f;

    CHECK(f.router.logs.size() == 3);
    CHECK(f.msix->masked(0));
    CHECK(read32(*f.msix, 12) == Msix::ENTRY_CONTROL_MASKED);
    CHECK(f.msix->table_bytes() == 48);
    CHECK(f.msix->pba_bytes() == 8);
}

TEST_CASE("the capability reports the table size minus one and the table and PBA locations", "[pci][msix]")
{
    MsixFixture f;

    const auto cap = f.msix->capability(0, 0x4000, 0, 0x5000);

    CHECK(cap[0] == 0x11);
    CHECK((cap[2] | cap[3] << 8) == 2);
    CHECK((cap[4] | cap[5] << 8 | cap[6] << 16 | cap[7] << 24) == 0x4000);
    CHECK((cap[8] | cap[9] << 8 | cap[10] << 16 | cap[11] << 24) == 0x5000);
    CHECK(Msix::capability_writable()[3] == 0xc0);
}

TEST_CASE("an unmasked vector of an enabled function is routed and sends its message", "[pci][msix]")
{
    MsixFixture f;
    f.msix->set_control(Msix::CONTROL_ENABLE);
    program(*f.msix, 1);

    unmask(*f.msix, 1);
    f.msix->fire(1);

    const auto& log = *f.router.logs[1];
    REQUIRE(log.route);
    CHECK(log.route->address == 0xfee0'0000);
    CHECK(log.route->data == 0x41);
    CHECK(log.sent == 1);
}

TEST_CASE("a message fired while its vector is masked is pending and goes out on unmask", "[pci][msix]")
{
    MsixFixture f;
    f.msix->set_control(Msix::CONTROL_ENABLE);
    program(*f.msix, 2);

    f.msix->fire(2);
    const std::uint8_t pba = pba_byte(*f.msix);
    CHECK(f.router.logs[2]->sent == 0);
    unmask(*f.msix, 2);

    CHECK(pba == 0x4);
    CHECK(f.router.logs[2]->sent == 1);
    CHECK_FALSE(f.msix->pending(2));
    CHECK(pba_byte(*f.msix) == 0);
}

TEST_CASE("the function mask holds every vector's messages as pending until it is cleared", "[pci][msix]")
{
    MsixFixture f;
    program(*f.msix, 0);
    unmask(*f.msix, 0);
    f.msix->set_control(Msix::CONTROL_ENABLE | Msix::CONTROL_FUNCTION_MASK);

    f.msix->fire(0);
    f.msix->fire(0);
    CHECK(f.router.logs[0]->sent == 0);
    CHECK(f.msix->pending(0));
    f.msix->set_control(Msix::CONTROL_ENABLE);

    CHECK(f.router.logs[0]->sent == 1); // pending is one bit: the two merge
}

TEST_CASE("masking a vector again stops its messages", "[pci][msix]")
{
    MsixFixture f;
    f.msix->set_control(Msix::CONTROL_ENABLE);
    program(*f.msix, 0);
    unmask(*f.msix, 0);

    write32(*f.msix, 12, Msix::ENTRY_CONTROL_MASKED);
    f.msix->fire(0);

    CHECK(f.router.logs[0]->sent == 0);
    CHECK(f.msix->pending(0));
}

TEST_CASE("a new message in an unmasked entry is routed before the next message goes out", "[pci][msix]")
{
    MsixFixture f;
    f.msix->set_control(Msix::CONTROL_ENABLE);
    program(*f.msix, 0);
    unmask(*f.msix, 0);

    write32(*f.msix, 8, 0x99);
    f.msix->fire(0);

    CHECK(f.router.logs[0]->route->data == 0x99);
    CHECK(f.router.logs[0]->routes_set == 2);
}

TEST_CASE("unmasking an unchanged entry does not route it again", "[pci][msix]")
{
    MsixFixture f;
    f.msix->set_control(Msix::CONTROL_ENABLE);
    program(*f.msix, 0);
    unmask(*f.msix, 0);

    write32(*f.msix, 12, Msix::ENTRY_CONTROL_MASKED);
    unmask(*f.msix, 0);

    CHECK(f.router.logs[0]->routes_set == 1);
}

TEST_CASE("a route the platform refuses leaves the vector undeliverable: its messages pend", "[pci][msix]")
{
    MsixFixture f;
    f.msix->set_control(Msix::CONTROL_ENABLE);
    f.router.refuse = true;
    program(*f.msix, 0);

    unmask(*f.msix, 0);
    f.msix->fire(0);

    CHECK(f.router.logs[0]->sent == 0);
    CHECK(f.msix->pending(0));
}

TEST_CASE("table writes that are not aligned DWORDs or QWORDs are ignored", "[pci][msix]")
{
    MsixFixture f;
    const std::uint16_t half = 0;
    const std::uint32_t misaligned = 0;

    f.msix->write_table(12, std::as_bytes(std::span(&half, 1)));
    f.msix->write_table(13, std::as_bytes(std::span(&misaligned, 1)));

    CHECK(f.msix->masked(0));
}

TEST_CASE("a QWORD write sets the whole address; reserved bits read as zero", "[pci][msix]")
{
    MsixFixture f;
    const std::uint64_t address = 0x0000'0001'fee0'0003;

    f.msix->write_table(16, std::as_bytes(std::span(&address, 1)));
    write32(*f.msix, 28, 0xffff'fffe);

    CHECK(f.msix->message(1).address == 0x1'fee0'0000); // bits 1:0 of the address are zero
    CHECK(read32(*f.msix, 28) == 0);                    // vector control: only the mask bit
}

TEST_CASE("fire() past the table and table accesses past its end do nothing", "[pci][msix]")
{
    MsixFixture f;
    f.msix->set_control(Msix::CONTROL_ENABLE);

    f.msix->fire(3);
    f.msix->fire(0xffff);
    write32(*f.msix, 48, 0);

    CHECK(read32(*f.msix, 48) == 0);
    CHECK(f.router.logs[0]->sent == 0);
}

TEST_CASE("disabling MSI-X makes every vector undeliverable", "[pci][msix]")
{
    MsixFixture f;
    f.msix->set_control(Msix::CONTROL_ENABLE);
    program(*f.msix, 0);
    unmask(*f.msix, 0);

    f.msix->set_control(0);
    f.msix->fire(0);

    CHECK_FALSE(f.msix->enabled());
    CHECK(f.router.logs[0]->sent == 0);
}

TEST_CASE("a table of no vectors or more than 2048 is refused", "[pci][msix]")
{
    LoggingRouter router;

    CHECK_FALSE(Msix::create(router, 0));
    CHECK_FALSE(Msix::create(router, 2049));
    CHECK(Msix::create(router, 2048));
}
