// SPDX-License-Identifier: Apache-2.0
// FakeMsiRouter.
#include "tests/support/fake_msi.hpp"

namespace vmm::virtio::test {

class FakeMsiVector final : public pci::MsiVector {
public:
    explicit FakeMsiVector(FakeMsiRouter& router)
        : router_(&router)
    {
    }

    [[nodiscard]] Result<> set_route(const pci::MsiMessage& message) override
    {
        if (router_->accept_ && !router_->accept_(message)) {
            return fail(Errc::invalid_argument, "message to {:#x} refused", message.address);
        }
        ++router_->route_changes_;
        route_ = message;
        return {};
    }

    void trigger() noexcept override
    {
        if (route_) {
            ++router_->delivered_[route_->data];
            ++router_->total_;
        }
    }

private:
    FakeMsiRouter* router_;
    std::optional<pci::MsiMessage> route_;
};

Result<std::unique_ptr<pci::MsiVector>> FakeMsiRouter::allocate()
{
    ++allocated_;
    return std::unique_ptr<pci::MsiVector>(std::make_unique<FakeMsiVector>(*this));
}

std::uint32_t FakeMsiRouter::delivered(std::uint32_t data) const
{
    const auto it = delivered_.find(data);
    return it == delivered_.end() ? 0 : it->second;
}

} // namespace vmm::virtio::test
