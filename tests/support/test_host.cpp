// SPDX-License-Identifier: Apache-2.0
// TestHost.
#include "tests/support/test_host.hpp"

#include <algorithm>
#include <cstring>

namespace vmm::virtio::test {

class TestKick final : public QueueKick {
public:
    TestKick(TestHost& host, std::function<void()> handler) : host_(&host), handler_(std::move(handler)) {}
    ~TestKick() override { host_->set_binding(this, std::nullopt); }

    void signal() noexcept override
    {
        ++handled_;
        handler_();
    }
    [[nodiscard]] Result<> bind(std::uint64_t addr, std::uint32_t len, std::optional<std::uint64_t> match) override
    {
        host_->set_binding(this, TestHost::Binding { this, addr, len, match });
        return {};
    }
    void unbind() noexcept override { host_->set_binding(this, std::nullopt); }
    [[nodiscard]] std::uint64_t handled() const noexcept override { return handled_; }

private:
    TestHost* host_;
    std::function<void()> handler_;
    std::uint64_t handled_ = 0;
};

Result<std::unique_ptr<QueueKick>> TestHost::make_kick(std::function<void()> handler)
{
    return std::unique_ptr<QueueKick>(std::make_unique<TestKick>(*this, std::move(handler)));
}

void TestHost::set_binding(QueueKick* kick, std::optional<Binding> binding)
{
    std::erase_if(bindings_, [kick](const Binding& b) { return b.kick == kick; });
    if (binding) {
        bindings_.push_back(*binding);
    }
}

bool TestHost::mmio_write(const Bus& bus, std::uint64_t addr, std::span<const std::byte> data)
{
    std::uint64_t value = 0;
    std::memcpy(&value, data.data(), std::min(data.size(), sizeof(value)));
    for (const auto& b : bindings_) {
        if (b.addr == addr && (b.len == 0 || b.len == data.size()) && (!b.match || *b.match == value)) {
            b.kick->signal();
            return true;
        }
    }
    return bus.write(addr, data);
}

} // namespace vmm::virtio::test
