// SPDX-License-Identifier: Apache-2.0
// FakeGuest and FakeInterrupt.
#include "tests/support/fake_guest.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace vmm::virtio::test {
namespace {

[[noreturn]] void die(const char* what)
{
    std::fprintf(stderr, "FakeGuest: %s\n", what);
    std::abort();
}

GuestMemory make_memory(std::span<const MemoryRegionSpec> regions)
{
    auto mem = GuestMemory::create(regions);
    if (!mem) {
        die("cannot map guest memory");
    }
    return std::move(mem).value();
}

constexpr std::array<MemoryRegionSpec, 2> DEFAULT_MAP { {
    { GuestAddress { FakeGuest::RAM0_BASE }, FakeGuest::RAM0_SIZE },
    { GuestAddress { FakeGuest::RAM1_BASE }, FakeGuest::RAM1_SIZE },
} };

} // namespace

FakeGuest::FakeGuest() : FakeGuest(DEFAULT_MAP) {}

FakeGuest::FakeGuest(std::span<const MemoryRegionSpec> regions)
    : memory_(make_memory(regions))
    , dma_(std::make_unique<DirectDma>(memory_))
    , next_(regions.front().base.raw + 0x1000)
    , limit_(regions.front().base.raw + regions.front().size)
{
}

std::uint64_t FakeGuest::alloc(std::uint64_t size, std::uint64_t align)
{
    const std::uint64_t at = (next_ + align - 1) / align * align;
    if (at > limit_ || size > limit_ - at) {
        die("out of fake guest memory");
    }
    next_ = at + size;
    fill(at, std::byte { 0 }, static_cast<std::size_t>(size));
    return at;
}

void FakeGuest::write(std::uint64_t gpa, std::span<const std::byte> bytes) const
{
    // Through the DMA view, so that a range may span adjacent regions; append() builds no
    // Result and, for a range in one region, allocates nothing.
    SliceList slices;
    if (!dma_->append(gpa, bytes.size(), Access::write, slices)) {
        die("test wrote outside guest RAM");
    }
    std::size_t done = 0;
    for (const auto& s : slices) {
        s.copy_from(bytes.subspan(done, s.size()));
        done += s.size();
    }
}

std::vector<std::byte> FakeGuest::read(std::uint64_t gpa, std::size_t len) const
{
    std::vector<std::byte> out(len);
    read_into(gpa, out);
    return out;
}

void FakeGuest::read_into(std::uint64_t gpa, std::span<std::byte> out) const
{
    SliceList slices;
    if (!dma_->append(gpa, out.size(), Access::read, slices)) {
        die("test read outside guest RAM");
    }
    std::size_t done = 0;
    for (const auto& s : slices) {
        s.copy_to(out.subspan(done, s.size()));
        done += s.size();
    }
}

void FakeGuest::fill(std::uint64_t gpa, std::byte value, std::size_t len) const
{
    std::vector<std::byte> bytes(len, value);
    write(gpa, bytes);
}

void FakeInterrupt::trigger_queue(std::uint16_t queue_index) noexcept
{
    if (queue_.size() <= queue_index) {
        queue_.resize(std::size_t { queue_index } + 1);
    }
    ++queue_[queue_index];
}

std::uint32_t FakeInterrupt::queue_count(std::uint16_t queue_index) const noexcept
{
    return queue_index < queue_.size() ? queue_[queue_index] : 0;
}

std::vector<std::byte> bytes_of(std::string_view text)
{
    std::vector<std::byte> out(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        out[i] = static_cast<std::byte>(text[i]);
    }
    return out;
}

std::vector<std::byte> pattern(std::size_t len, std::uint8_t seed)
{
    std::vector<std::byte> out(len);
    for (std::size_t i = 0; i < len; ++i) {
        out[i] = static_cast<std::byte>(static_cast<std::uint8_t>(seed + i * 7));
    }
    return out;
}

} // namespace vmm::virtio::test
