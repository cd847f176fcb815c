// SPDX-License-Identifier: Apache-2.0
// The vCPU run loop.
#include "vmm/vcpu/vcpu.hpp"

#include <pthread.h>
#include <signal.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/base/log.hpp"

namespace vmm {
namespace {

int kick_signal() noexcept
{
    return SIGRTMIN;
}

void on_kick(int /*sig*/) { }

// The kvm_run page is shared with the kernel; immediate_exit is read by KVM_RUN on entry.
std::atomic_ref<std::uint8_t> immediate_exit(kvm_run* run) noexcept
{
    return std::atomic_ref<std::uint8_t>(run->immediate_exit);
}

} // namespace

Vcpu::Vcpu(std::uint32_t index, kvm::VcpuFd fd, VcpuContext ctx)
    : index_(index)
    , fd_(std::move(fd))
    , ctx_(std::move(ctx))
{
}

Vcpu::~Vcpu()
{
    request_stop();
    join();
}

void Vcpu::install_kick_signal()
{
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: the signal must interrupt KVM_RUN with EINTR
    ::sigaction(kick_signal(), &sa, nullptr);
}

void Vcpu::start()
{
    thread_ = std::thread([this] { thread_main(); });
    std::string name = fmt::format("vcpu{}", index_);
    ::pthread_setname_np(thread_.native_handle(), name.c_str());
}

void Vcpu::kick() noexcept
{
    // Set the flag first: a vCPU that has not entered KVM_RUN yet returns at once, one already
    // inside is interrupted by the signal.
    immediate_exit(fd_.run_data()).store(1);
    if (thread_.joinable()) {
        ::pthread_kill(thread_.native_handle(), kick_signal());
    }
}

void Vcpu::request_stop() noexcept
{
    stop_.store(true);
    {
        std::lock_guard lock(mutex_);
        cv_.notify_all();
    }
    kick();
}

void Vcpu::pause()
{
    pause_.store(true);
    kick();
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return paused_ || stop_.load() || !thread_.joinable(); });
}

void Vcpu::resume()
{
    std::lock_guard lock(mutex_);
    pause_.store(false);
    cv_.notify_all();
}

void Vcpu::join()
{
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
        thread_.join();
    }
}

void Vcpu::emit(StopReason reason, int code, std::string detail) noexcept
{
    if (ctx_.on_stop) {
        ctx_.on_stop(StopEvent { reason, code, std::move(detail) });
    }
}

void Vcpu::thread_main() noexcept
{
    // The kick signal is delivered only to this thread, by pthread_kill.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kick_signal());
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

    kvm_run* run = fd_.run_data();
    while (!stop_.load()) {
        immediate_exit(run).store(0);
        if (pause_.load()) {
            std::unique_lock lock(mutex_);
            paused_ = true;
            cv_.notify_all();
            cv_.wait(lock, [this] { return !pause_.load() || stop_.load(); });
            paused_ = false;
            continue;
        }
        int r = fd_.run();
        if (r == -EINTR || r == -EAGAIN) {
            continue;
        }
        if (r < 0) {
            emit(StopReason::error, 1, fmt::format("vCPU {}: KVM_RUN failed: {}", index_, std::strerror(-r)));
            break;
        }
        exits_.fetch_add(1, std::memory_order_relaxed);
        if (!handle_exit()) {
            break;
        }
    }
    std::lock_guard lock(mutex_);
    paused_ = true; // a stopped vCPU is as good as paused for anyone waiting
    cv_.notify_all();
}

// The registers that tell where a crashed guest was, for the one line the crash produces.
std::string Vcpu::cpu_state() const
{
    const auto regs = fd_.get_regs();
    const auto sregs = fd_.get_sregs();
    if (!regs || !sregs) {
        return "";
    }
    // On AMD, KVM reinitialises the VMCB after a SHUTDOWN intercept (the VMCB is undefined
    // then), so a triple fault reports the reset state and where the guest was is lost.
    const bool reset_state = regs->rip == 0xfff0 && sregs->cs.selector == 0xf000 && sregs->cr0 == 0x10;
    return fmt::format(" (rip {:#x} rsp {:#x} rflags {:#x} cr0 {:#x} cr2 {:#x} cr3 {:#x} cr4 {:#x} efer {:#x}"
                       " cs {:#x} idt {:#x}+{:#x}{})",
        regs->rip, regs->rsp, regs->rflags, sregs->cr0, sregs->cr2, sregs->cr3, sregs->cr4, sregs->efer,
        sregs->cs.selector, sregs->idt.base, sregs->idt.limit,
        reset_state ? "; the reset state: this host's KVM does not keep the registers of a triple fault" : "");
}

bool Vcpu::handle_exit() noexcept
{
    kvm_run* run = fd_.run_data();
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        // Safety: KVM places `count` items of `size` bytes at data_offset inside the run page.
        auto* data = reinterpret_cast<std::byte*>(run) + run->io.data_offset;
        const std::size_t size = run->io.size;
        for (std::uint32_t i = 0; i < run->io.count; ++i) {
            std::span<std::byte> item(data + i * size, size);
            if (run->io.direction == KVM_EXIT_IO_OUT) {
                (void)ctx_.pio->write(run->io.port, item);
            } else if (!ctx_.pio->read(run->io.port, item)) {
                std::memset(item.data(), 0xff, item.size()); // nothing there: the bus floats high
            }
        }
        return true;
    }
    case KVM_EXIT_MMIO: {
        const std::size_t len = run->mmio.len > sizeof(run->mmio.data) ? sizeof(run->mmio.data) : run->mmio.len;
        std::span<std::byte> item(reinterpret_cast<std::byte*>(run->mmio.data), len);
        if (run->mmio.is_write != 0) {
            if (!ctx_.mmio->write(run->mmio.phys_addr, item)) {
                VMM_LOG_GUEST(spdlog::level::debug, "vCPU {}: MMIO write to unassigned {:#x}", index_,
                    run->mmio.phys_addr);
            }
        } else if (!ctx_.mmio->read(run->mmio.phys_addr, item)) {
            std::memset(item.data(), 0xff, item.size());
        }
        return true;
    }
    case KVM_EXIT_HLT:
        // With the in-kernel local APIC a halted vCPU waits in the kernel; this exit means
        // the vCPU halted with interrupts off for good.
        emit(StopReason::crash, 3, fmt::format("vCPU {} halted with interrupts disabled", index_));
        return false;
    case KVM_EXIT_SHUTDOWN:
        emit(StopReason::crash, 3, fmt::format("vCPU {}: triple fault{}", index_, cpu_state()));
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            emit(StopReason::poweroff, 0, "system event: shutdown");
            break;
        case KVM_SYSTEM_EVENT_RESET:
            emit(StopReason::reset, 0, "system event: reset");
            break;
        default:
            emit(StopReason::crash, 3, fmt::format("system event type {}", run->system_event.type));
            break;
        }
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        emit(StopReason::crash, 3,
            fmt::format("vCPU {}: VM entry failed, hardware reason {:#x}", index_,
                run->fail_entry.hardware_entry_failure_reason));
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        emit(StopReason::crash, 3,
            fmt::format("vCPU {}: KVM internal error, suberror {}{}", index_, run->internal.suberror, cpu_state()));
        return false;
    default:
        emit(StopReason::crash, 3, fmt::format("vCPU {}: unhandled exit reason {}", index_, run->exit_reason));
        return false;
    }
}

} // namespace vmm
