// SPDX-License-Identifier: Apache-2.0
// KvmTransportHost.
#include "vmm/virtio/kvm_transport_host.hpp"

#include <atomic>
#include <optional>

#include <spdlog/spdlog.h>

#include "vmm/base/event_fd.hpp"
#include "vmm/loop/fd_watch.hpp"

namespace vmm {
namespace {

class KvmKick final : public virtio::QueueKick {
public:
    KvmKick(EventLoop& loop, const kvm::VmFd& vm, EventFd fd, std::function<void()> handler)
        : vm_(&vm)
        , fd_(std::move(fd))
        , handler_(std::move(handler))
        , watch_(loop.io(), fd_.fd(), [this] {
            // Drain first: a notify that arrives while the handler runs sets the eventfd
            // again and is seen on the next turn.
            fd_.drain();
            handled_.fetch_add(1, std::memory_order_relaxed);
            handler_();
        })
    {
    }
    ~KvmKick() override { unbind(); }

    void signal() noexcept override { fd_.signal(); }

    [[nodiscard]] Result<> bind(std::uint64_t addr, std::uint32_t len, std::optional<std::uint64_t> match) override
    {
        unbind();
        VMM_TRY(vm_->ioeventfd(fd_.fd(), addr, len, false, match));
        binding_ = Binding { addr, len, match };
        return {};
    }

    void unbind() noexcept override
    {
        if (binding_) {
            if (auto r = vm_->ioeventfd(fd_.fd(), binding_->addr, binding_->len, false, binding_->match, true); !r) {
                spdlog::warn("removing an ioeventfd at {:#x}: {}", binding_->addr, r.error().describe());
            }
            binding_.reset();
        }
    }

    [[nodiscard]] std::uint64_t handled() const noexcept override { return handled_.load(std::memory_order_relaxed); }

private:
    struct Binding {
        std::uint64_t addr;
        std::uint32_t len;
        std::optional<std::uint64_t> match;
    };

    const kvm::VmFd* vm_;
    EventFd fd_;
    std::function<void()> handler_;
    std::atomic<std::uint64_t> handled_ { 0 };
    std::optional<Binding> binding_;
    FdWatch watch_; // last: destroyed first, so no handler runs on a half-destroyed kick
};

class IrqfdLine final : public virtio::IrqLine {
public:
    IrqfdLine(const kvm::VmFd& vm, EventFd fd, std::uint32_t gsi) : vm_(&vm), fd_(std::move(fd)), gsi_(gsi) {}
    ~IrqfdLine() override { (void)vm_->irqfd(fd_.fd(), gsi_, true); }
    void trigger() noexcept override { fd_.signal(); }
    [[nodiscard]] int fd() const noexcept { return fd_.fd(); }

private:
    const kvm::VmFd* vm_;
    EventFd fd_;
    std::uint32_t gsi_;
};

class ResampledLevelLine final : public virtio::LevelIrqLine {
public:
    ResampledLevelLine(EventLoop& loop, const kvm::VmFd& vm, EventFd irq, EventFd resample, std::uint32_t gsi)
        : vm_(&vm)
        , irq_(std::move(irq))
        , resample_(std::move(resample))
        , gsi_(gsi)
        , watch_(loop.io(), resample_.fd(), [this] {
            // The guest acknowledged the interrupt and KVM lowered the line: raise it again if
            // the device still holds it (its ISR is still non-zero).
            resample_.drain();
            if (level_.load()) {
                irq_.signal();
            }
        })
    {
    }
    ~ResampledLevelLine() override { (void)vm_->irqfd(irq_.fd(), gsi_, true); }

    void set_level(bool asserted) noexcept override
    {
        // Lowering takes effect at the guest's acknowledgement: the pin stays high until then,
        // which is no different to the guest (its handler runs with the pin masked).
        level_.store(asserted);
        if (asserted) {
            irq_.signal();
        }
    }

private:
    const kvm::VmFd* vm_;
    EventFd irq_;
    EventFd resample_;
    std::uint32_t gsi_;
    std::atomic<bool> level_ { false };
    FdWatch watch_; // last: destroyed first
};

} // namespace

Result<std::unique_ptr<virtio::LevelIrqLine>> KvmTransportHost::make_level_irq_line(std::uint32_t gsi)
{
    auto irq = VMM_TRY(EventFd::create());
    auto resample = VMM_TRY(EventFd::create());
    VMM_TRY(vm_->irqfd_resample(irq.fd(), resample.fd(), gsi));
    return std::unique_ptr<virtio::LevelIrqLine>(
        std::make_unique<ResampledLevelLine>(*loop_, *vm_, std::move(irq), std::move(resample), gsi));
}

void KvmTransportHost::run_on_loop(const std::function<void()>& f)
{
    // false only while the VM goes down (the loop has stopped): the guest will not run again,
    // so the activation or reset it asked for no longer matters.
    (void)loop_->call(f);
}

Result<std::unique_ptr<virtio::QueueKick>> KvmTransportHost::make_kick(std::function<void()> handler)
{
    auto fd = VMM_TRY(EventFd::create());
    return std::unique_ptr<virtio::QueueKick>(std::make_unique<KvmKick>(*loop_, *vm_, std::move(fd), std::move(handler)));
}

Result<std::unique_ptr<virtio::IrqLine>> KvmTransportHost::make_irq_line(std::uint32_t gsi)
{
    auto fd = VMM_TRY(EventFd::create());
    VMM_TRY(vm_->irqfd(fd.fd(), gsi));
    return std::unique_ptr<virtio::IrqLine>(std::make_unique<IrqfdLine>(*vm_, std::move(fd), gsi));
}

} // namespace vmm
