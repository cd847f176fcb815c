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
    // Set the flag first: a vCPU that has not entered KVM_RUN yet returns at once. Only a vCPU
    // that may be inside already needs the signal; one in an exit handler is left alone, so
    // that the signal cannot cut short a system call there.
    immediate_exit(fd_.run_data()).store(1);
    if (thread_.joinable() && phase_.load() == VcpuPhase::in_guest) {
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

void Vcpu::request_pause() noexcept
{
    pause_.store(true);
    kick();
}

bool Vcpu::wait_paused(std::chrono::milliseconds timeout)
{
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return paused_ || stop_.load() || !thread_.joinable(); });
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
    phase_.store(VcpuPhase::in_vmm);
    while (!stop_.load()) {
        immediate_exit(run).store(0);
        if (report_wanted_.load()) {
            take_report_state();
        }
        if (pause_.load()) {
            std::unique_lock lock(mutex_);
            paused_ = true;
            phase_.store(VcpuPhase::paused);
            cv_.notify_all();
            cv_.wait(lock, [this] { return !pause_.load() || stop_.load() || report_wanted_.load(); });
            paused_ = false;
            phase_.store(VcpuPhase::in_vmm);
            continue;
        }
        phase_.store(VcpuPhase::in_guest);
        int r = fd_.run();
        phase_.store(VcpuPhase::in_vmm);
        if (r == -EINTR || r == -EAGAIN) {
            continue;
        }
        if (r < 0) {
            emit(StopReason::error, 1, fmt::format("vCPU {}: KVM_RUN failed: {}", index_, std::strerror(-r)));
            break;
        }
        exits_.fetch_add(1, std::memory_order_relaxed);
        note_exit();
        if (!handle_exit()) {
            break;
        }
    }
    std::lock_guard lock(mutex_);
    paused_ = true; // a stopped vCPU is as good as paused for anyone waiting
    phase_.store(VcpuPhase::stopped);
    cv_.notify_all();
}

// Where the exit came from, for report(): relaxed stores, read only for diagnosis.
void Vcpu::note_exit() noexcept
{
    const kvm_run* run = fd_.run_data();
    std::uint64_t address = 0;
    std::uint32_t size = 0;
    bool write = false;
    if (run->exit_reason == KVM_EXIT_IO) {
        address = run->io.port;
        size = run->io.size;
        write = run->io.direction == KVM_EXIT_IO_OUT;
    } else if (run->exit_reason == KVM_EXIT_MMIO) {
        address = run->mmio.phys_addr;
        size = run->mmio.len;
        write = run->mmio.is_write != 0;
    }
    last_exit_address_.store(address, std::memory_order_relaxed);
    last_exit_info_.store((run->exit_reason & 0xffU) | ((size & 0xffU) << 8) | (write ? 1U << 16 : 0U),
        std::memory_order_relaxed);
    last_exit_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

void Vcpu::take_report_state() noexcept
{
    VcpuGuestState g;
    std::string errors;
    auto note = [&errors](const Error& e) { errors += (errors.empty() ? "" : "; ") + e.describe(); };
    if (auto r = fd_.get_regs()) {
        g.regs = *r;
    } else {
        note(r.error());
    }
    if (auto r = fd_.get_sregs()) {
        g.sregs = *r;
    } else {
        note(r.error());
    }
    if (auto r = fd_.get_mp_state()) {
        g.mp_state = r->mp_state;
    } else {
        note(r.error());
    }
    if (auto r = fd_.get_vcpu_events()) {
        g.events = *r;
    } else {
        note(r.error());
    }
    if (auto r = fd_.get_lapic()) {
        g.lapic = summarize_lapic(*r);
    } else {
        note(r.error());
    }
    constexpr std::uint32_t MSR_IA32_TSC = 0x10;
    constexpr std::uint32_t MSR_IA32_TSC_DEADLINE = 0x6e0;
    std::array<kvm_msr_entry, 2> msrs { { { MSR_IA32_TSC, 0, 0 }, { MSR_IA32_TSC_DEADLINE, 0, 0 } } };
    if (auto r = fd_.get_msrs(msrs); r) {
        g.tsc = msrs[0].data;
        g.tsc_deadline = msrs[1].data;
    } else {
        note(r.error());
    }
    read_guest_words(g);
    g.error = std::move(errors);
    std::lock_guard lock(mutex_);
    report_wanted_.store(false);
    guest_ = std::move(g);
    reports_taken_ = reports_asked_;
    cv_.notify_all();
}

void Vcpu::read_guest_words(VcpuGuestState& g) const
{
    if (ctx_.memory == nullptr) {
        return;
    }
    // One guest-virtual qword, or nullopt when unmapped or outside RAM.
    auto read_virtual = [this](std::uint64_t gva) -> std::optional<std::uint64_t> {
        if (gva % 8 != 0) {
            return std::nullopt;
        }
        auto gpa = fd_.translate(gva);
        if (!gpa || !*gpa) {
            return std::nullopt;
        }
        auto v = ctx_.memory->read_obj<std::uint64_t>(GuestAddress { **gpa });
        return v ? std::optional(*v) : std::nullopt;
    };
    g.at_rdi = read_virtual(g.regs.rdi);
    // 1 KiB of stack is enough for the few frames between a spin loop and its caller's caller.
    constexpr std::size_t STACK_WORDS = 128;
    constexpr std::size_t MAX_TEXT_WORDS = 16;
    const std::uint64_t sp = g.regs.rsp & ~std::uint64_t { 7 };
    for (std::size_t i = 0; i < STACK_WORDS && g.stack_text.size() < MAX_TEXT_WORDS; ++i) {
        const auto w = read_virtual(sp + i * 8);
        if (!w) {
            break;
        }
        if (kernel_text_address(*w)) {
            g.stack_text.push_back(*w);
        }
    }
}

VcpuReport Vcpu::report(std::chrono::milliseconds wait)
{
    VcpuReport r;
    r.index = index_;
    r.phase = phase_.load();
    r.exits = exits_.load(std::memory_order_relaxed);
    if (const std::int64_t at = last_exit_ns_.load(std::memory_order_relaxed); at != 0) {
        const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
        r.seconds_since_exit = std::chrono::duration<double>(std::chrono::steady_clock::duration(now - at)).count();
        const std::uint32_t info = last_exit_info_.load(std::memory_order_relaxed);
        r.last_exit = ExitSite { info & 0xffU, last_exit_address_.load(std::memory_order_relaxed), (info >> 8) & 0xffU,
            (info >> 16 & 1U) != 0 };
    }
    if (r.phase == VcpuPhase::not_started || r.phase == VcpuPhase::stopped || !thread_.joinable()) {
        r.note = "no thread runs this vCPU";
        return r;
    }
    std::unique_lock lock(mutex_);
    const std::uint64_t ticket = ++reports_asked_;
    guest_.reset();
    report_wanted_.store(true);
    cv_.notify_all(); // a parked vCPU takes it where it waits
    lock.unlock();
    kick();
    lock.lock();
    const bool taken = cv_.wait_for(lock, wait, [&] { return reports_taken_ >= ticket || stop_.load(); });
    if (taken && guest_) {
        r.guest = guest_;
    } else {
        r.note = fmt::format("the thread did not reach its loop within {} ms, so KVM's state for it was not read{}",
            wait.count(), r.phase == VcpuPhase::in_vmm ? " (it is inside an exit handler of the VMM)" : "");
    }
    return r;
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
