// SPDX-License-Identifier: Apache-2.0
// KVM ioctl wrappers.
#include "vmm/kvm/kvm.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace vmm::kvm {
namespace {

// ioctl with a pointer or integer argument; -1 with errno on failure.
template <class Arg>
int xioctl(int fd, unsigned long req, Arg arg) noexcept
{
    int r = 0;
    do {
        r = ::ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r;
}

struct Capability {
    long cap;
    const char* name;
};

// What the VMM relies on. All of these have been in Linux since 4.x; a missing one means a
// very old or unusual host kernel.
constexpr std::array<Capability, 10> REQUIRED_CAPS { {
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
    { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
    { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
    { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
    { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
    { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    { KVM_CAP_IRQFD_RESAMPLE, "KVM_CAP_IRQFD_RESAMPLE" },
} };

// The ioctl numbers of the structs that end in a flexible array encode the struct's size,
// which in C++ differs from the kernel's C view (see FlexArray). These use the C size: an
// 8-byte header.
struct AbiHeader {
    std::uint32_t first;
    std::uint32_t second;
};
static_assert(sizeof(AbiHeader) == 8);
constexpr unsigned long IOCTL_GET_SUPPORTED_CPUID = _IOWR(KVMIO, 0x05, AbiHeader);
constexpr unsigned long IOCTL_SET_CPUID2 = _IOW(KVMIO, 0x90, AbiHeader);
constexpr unsigned long IOCTL_SET_MSRS = _IOW(KVMIO, 0x89, AbiHeader);
constexpr unsigned long IOCTL_GET_MSRS = _IOWR(KVMIO, 0x88, AbiHeader);
constexpr unsigned long IOCTL_SET_GSI_ROUTING = _IOW(KVMIO, 0x6a, AbiHeader);

} // namespace

bool CpuidList::push(const kvm_cpuid_entry2& e) noexcept
{
    if (raw()->nent >= MAX_ENTRIES) {
        return false;
    }
    buf_.entries()[raw()->nent++] = e;
    return true;
}

kvm_cpuid_entry2* CpuidList::find(std::uint32_t function, std::uint32_t index) noexcept
{
    for (auto& e : entries()) {
        if (e.function == function && e.index == index) {
            return &e;
        }
    }
    return nullptr;
}

Result<Kvm> Kvm::open(const char* path)
{
    UniqueFd fd(::open(path, O_RDWR | O_CLOEXEC));
    if (!fd) {
        int err = errno;
        if (err == ENOENT) {
            return fail(Errc::not_found,
                "{} does not exist: this host has no KVM. Enable virtualization in the firmware and load "
                "kvm-intel or kvm-amd, or run Vireo inside scripts/sandbox",
                path);
        }
        if (err == EACCES || err == EPERM) {
            return fail_errno(err, "cannot open {} (add your user to the 'kvm' group, or run as root)", path);
        }
        return fail_errno(err, "cannot open {}", path);
    }
    int version = xioctl(fd.get(), KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        return fail(Errc::unsupported, "{}: KVM API version {} (expected {})", path, version, KVM_API_VERSION);
    }
    for (const auto& c : REQUIRED_CAPS) {
        if (xioctl(fd.get(), KVM_CHECK_EXTENSION, c.cap) <= 0) {
            return fail(Errc::unsupported, "the host's KVM lacks {}: a newer host kernel is needed", c.name);
        }
    }
    int size = xioctl(fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < static_cast<int>(sizeof(kvm_run))) {
        return fail_errno(errno, "KVM_GET_VCPU_MMAP_SIZE failed");
    }
    return Kvm(std::move(fd), static_cast<std::size_t>(size));
}

int Kvm::check_extension(long cap) const noexcept
{
    int r = xioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

Result<VmFd> Kvm::create_vm() const
{
    int vm = xioctl(fd_.get(), KVM_CREATE_VM, 0);
    if (vm < 0) {
        return fail_errno(errno, "KVM_CREATE_VM failed");
    }
    return VmFd(UniqueFd(vm), vcpu_mmap_size_);
}

Result<CpuidList> Kvm::supported_cpuid() const
{
    CpuidList list;
    if (xioctl(fd_.get(), IOCTL_GET_SUPPORTED_CPUID, list.raw()) != 0) {
        return fail_errno(errno, "KVM_GET_SUPPORTED_CPUID failed");
    }
    return list;
}

Result<> VmFd::set_user_memory_region(
    std::uint32_t slot, std::uint64_t gpa, std::uint64_t size, void* host, std::uint32_t flags) const
{
    kvm_userspace_memory_region r {};
    r.slot = slot;
    r.flags = flags;
    r.guest_phys_addr = gpa;
    r.memory_size = size;
    r.userspace_addr = reinterpret_cast<std::uint64_t>(host);
    if (xioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        return fail_errno(errno, "KVM_SET_USER_MEMORY_REGION slot {} at {:#x} size {:#x}", slot, gpa, size);
    }
    return {};
}

Result<> VmFd::set_tss_addr(std::uint64_t addr) const
{
    if (xioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr)) < 0) {
        return fail_errno(errno, "KVM_SET_TSS_ADDR");
    }
    return {};
}

Result<> VmFd::set_identity_map_addr(std::uint64_t addr) const
{
    std::uint64_t a = addr;
    if (xioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &a) < 0) {
        return fail_errno(errno, "KVM_SET_IDENTITY_MAP_ADDR");
    }
    return {};
}

Result<> VmFd::create_irqchip() const
{
    if (xioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0) {
        return fail_errno(errno, "KVM_CREATE_IRQCHIP");
    }
    return {};
}

Result<> VmFd::create_pit2() const
{
    kvm_pit_config cfg {};
    // The PC speaker port is left to userspace (nothing there): no speaker emulation in the kernel.
    cfg.flags = KVM_PIT_SPEAKER_DUMMY;
    if (xioctl(fd_.get(), KVM_CREATE_PIT2, &cfg) < 0) {
        return fail_errno(errno, "KVM_CREATE_PIT2");
    }
    return {};
}

Result<> VmFd::irq_line(std::uint32_t irq, bool level) const noexcept
{
    kvm_irq_level l {};
    l.irq = irq;
    l.level = level ? 1 : 0;
    if (xioctl(fd_.get(), KVM_IRQ_LINE, &l) < 0) {
        return fail_errno(errno, "KVM_IRQ_LINE {}", irq);
    }
    return {};
}

Result<> VmFd::set_gsi_routing(std::span<const kvm_irq_routing_entry> entries) const
{
    // kvm_irq_routing ends in a flexible array: header and entries share one allocation.
    constexpr std::size_t MAX_ROUTES = 4096; // KVM_MAX_IRQ_ROUTES
    if (entries.size() > MAX_ROUTES) {
        return fail(Errc::out_of_range, "{} GSI routes exceed KVM's limit of {}", entries.size(), MAX_ROUTES);
    }
    auto table = std::make_unique<FlexArray<kvm_irq_routing, kvm_irq_routing_entry, MAX_ROUTES>>();
    table->header()->nr = static_cast<std::uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), table->entries());
    if (xioctl(fd_.get(), IOCTL_SET_GSI_ROUTING, table->header()) < 0) {
        return fail_errno(errno, "KVM_SET_GSI_ROUTING ({} entries)", entries.size());
    }
    return {};
}

Result<> VmFd::irqfd(int eventfd, std::uint32_t gsi, bool deassign) const
{
    kvm_irqfd f {};
    f.fd = static_cast<std::uint32_t>(eventfd);
    f.gsi = gsi;
    f.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
    if (xioctl(fd_.get(), KVM_IRQFD, &f) < 0) {
        return fail_errno(errno, "KVM_IRQFD gsi {}", gsi);
    }
    return {};
}

Result<> VmFd::irqfd_resample(int eventfd, int resamplefd, std::uint32_t gsi) const
{
    kvm_irqfd f {};
    f.fd = static_cast<std::uint32_t>(eventfd);
    f.gsi = gsi;
    f.flags = KVM_IRQFD_FLAG_RESAMPLE;
    f.resamplefd = static_cast<std::uint32_t>(resamplefd);
    if (xioctl(fd_.get(), KVM_IRQFD, &f) < 0) {
        return fail_errno(errno, "KVM_IRQFD (resample) gsi {}", gsi);
    }
    return {};
}

Result<> VmFd::ioeventfd(int eventfd, std::uint64_t addr, std::uint32_t len, bool pio,
    std::optional<std::uint64_t> match, bool deassign) const
{
    kvm_ioeventfd e {};
    e.addr = addr;
    e.len = len;
    e.fd = eventfd;
    e.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0U) | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0U);
    if (match) {
        e.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        e.datamatch = *match;
    }
    if (xioctl(fd_.get(), KVM_IOEVENTFD, &e) < 0) {
        return fail_errno(errno, "KVM_IOEVENTFD at {:#x}", addr);
    }
    return {};
}

Result<VcpuFd> VmFd::create_vcpu(std::uint32_t id) const
{
    int fd = xioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
    if (fd < 0) {
        return fail_errno(errno, "KVM_CREATE_VCPU {}", id);
    }
    UniqueFd vcpu(fd);
    void* run = ::mmap(nullptr, vcpu_mmap_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.get(), 0);
    if (run == MAP_FAILED) {
        return fail_errno(errno, "mmap of vCPU {} run area", id);
    }
    return VcpuFd(std::move(vcpu), static_cast<kvm_run*>(run), vcpu_mmap_size_);
}

VcpuFd::VcpuFd(UniqueFd fd, kvm_run* run, std::size_t run_size) noexcept
    : fd_(std::move(fd))
    , run_(run)
    , run_size_(run_size)
{
}

VcpuFd::VcpuFd(VcpuFd&& o) noexcept
    : fd_(std::move(o.fd_))
    , run_(std::exchange(o.run_, nullptr))
    , run_size_(o.run_size_)
{
}

VcpuFd::~VcpuFd()
{
    if (run_ != nullptr) {
        ::munmap(run_, run_size_);
    }
}

int VcpuFd::run() const noexcept
{
    // No EINTR retry here: an interrupted KVM_RUN is how a kick reaches the vCPU loop.
    int r = ::ioctl(fd_.get(), KVM_RUN, 0);
    return r < 0 ? -errno : 0;
}

#define VMM_KVM_GET(type, req, what)                                                                        \
    type v {};                                                                                              \
    if (xioctl(fd_.get(), req, &v) < 0) {                                                                   \
        return fail_errno(errno, what);                                                                     \
    }                                                                                                       \
    return v

#define VMM_KVM_SET(req, arg, what)                                                                         \
    if (xioctl(fd_.get(), req, arg) < 0) {                                                                  \
        return fail_errno(errno, what);                                                                     \
    }                                                                                                       \
    return {}

Result<kvm_regs> VcpuFd::get_regs() const { VMM_KVM_GET(kvm_regs, KVM_GET_REGS, "KVM_GET_REGS"); }
Result<> VcpuFd::set_regs(const kvm_regs& r) const { VMM_KVM_SET(KVM_SET_REGS, &r, "KVM_SET_REGS"); }
Result<kvm_sregs> VcpuFd::get_sregs() const { VMM_KVM_GET(kvm_sregs, KVM_GET_SREGS, "KVM_GET_SREGS"); }
Result<> VcpuFd::set_sregs(const kvm_sregs& s) const { VMM_KVM_SET(KVM_SET_SREGS, &s, "KVM_SET_SREGS"); }
Result<> VcpuFd::set_fpu(const kvm_fpu& f) const { VMM_KVM_SET(KVM_SET_FPU, &f, "KVM_SET_FPU"); }
Result<> VcpuFd::set_cpuid(const CpuidList& c) const { VMM_KVM_SET(IOCTL_SET_CPUID2, c.raw(), "KVM_SET_CPUID2"); }
Result<kvm_lapic_state> VcpuFd::get_lapic() const
{
    VMM_KVM_GET(kvm_lapic_state, KVM_GET_LAPIC, "KVM_GET_LAPIC");
}
Result<> VcpuFd::set_lapic(const kvm_lapic_state& l) const { VMM_KVM_SET(KVM_SET_LAPIC, &l, "KVM_SET_LAPIC"); }
Result<kvm_mp_state> VcpuFd::get_mp_state() const
{
    VMM_KVM_GET(kvm_mp_state, KVM_GET_MP_STATE, "KVM_GET_MP_STATE");
}

Result<kvm_vcpu_events> VcpuFd::get_vcpu_events() const
{
    VMM_KVM_GET(kvm_vcpu_events, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS");
}

#undef VMM_KVM_GET
#undef VMM_KVM_SET

Result<> VcpuFd::set_msrs(std::span<const kvm_msr_entry> entries) const
{
    constexpr std::size_t MAX_MSRS = 64;
    if (entries.size() > MAX_MSRS) {
        return fail(Errc::out_of_range, "too many MSRs ({})", entries.size());
    }
    FlexArray<kvm_msrs, kvm_msr_entry, MAX_MSRS> m;
    m.header()->nmsrs = static_cast<std::uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), m.entries());
    int r = xioctl(fd_.get(), IOCTL_SET_MSRS, m.header());
    if (r < 0) {
        return fail_errno(errno, "KVM_SET_MSRS");
    }
    if (static_cast<std::size_t>(r) != entries.size()) {
        return fail(Errc::unsupported, "KVM_SET_MSRS set {} of {} MSRs (index {:#x} refused)", r, entries.size(),
            entries[static_cast<std::size_t>(r)].index);
    }
    return {};
}

Result<std::optional<std::uint64_t>> VcpuFd::translate(std::uint64_t gva) const
{
    kvm_translation t {};
    t.linear_address = gva;
    if (xioctl(fd_.get(), KVM_TRANSLATE, &t) < 0) {
        return fail_errno(errno, "KVM_TRANSLATE {:#x}", gva);
    }
    if (t.valid == 0) {
        return std::optional<std::uint64_t> {};
    }
    return std::optional<std::uint64_t> { t.physical_address };
}

Result<> VcpuFd::get_msrs(std::span<kvm_msr_entry> entries) const
{
    constexpr std::size_t MAX_MSRS = 64;
    if (entries.size() > MAX_MSRS) {
        return fail(Errc::out_of_range, "too many MSRs ({})", entries.size());
    }
    FlexArray<kvm_msrs, kvm_msr_entry, MAX_MSRS> m;
    m.header()->nmsrs = static_cast<std::uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), m.entries());
    int r = xioctl(fd_.get(), IOCTL_GET_MSRS, m.header());
    if (r < 0) {
        return fail_errno(errno, "KVM_GET_MSRS");
    }
    if (static_cast<std::size_t>(r) != entries.size()) {
        return fail(Errc::unsupported, "KVM_GET_MSRS read {} of {} MSRs (index {:#x} refused)", r, entries.size(),
            entries[static_cast<std::size_t>(r)].index);
    }
    std::copy(m.entries(), m.entries() + entries.size(), entries.begin());
    return {};
}

} // namespace vmm::kvm
