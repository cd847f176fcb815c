// SPDX-License-Identifier: Apache-2.0
// Thin RAII wrappers over the KVM ioctls: the system fd, a VM fd, and vCPU fds.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "vmm/base/result.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm::kvm {

class VmFd;
class VcpuFd;

// Storage for a KVM struct that ends in a flexible array `entries` (kvm_cpuid2, kvm_msrs,
// kvm_irq_routing): the header and up to N entries in one aligned block.
template <class Header, class Entry, std::size_t N>
class FlexArray {
public:
    // The kernel ABI puts the entries right after an 8-byte header (two u32s) in all three
    // structs. offsetof(Header, entries) is not usable: in C++ the kernel's
    // __DECLARE_FLEX_ARRAY adds an empty struct of size 1 before the array, moving it to 12.
    static constexpr std::size_t ENTRIES_OFFSET = 8;
    static constexpr std::size_t CAPACITY = N;

    // Safety: the block is aligned for both types and large enough for the header and N entries.
    [[nodiscard]] Header* header() noexcept { return reinterpret_cast<Header*>(bytes_.data()); }
    [[nodiscard]] const Header* header() const noexcept { return reinterpret_cast<const Header*>(bytes_.data()); }
    [[nodiscard]] Entry* entries() noexcept { return reinterpret_cast<Entry*>(bytes_.data() + ENTRIES_OFFSET); }
    [[nodiscard]] const Entry* entries() const noexcept
    {
        return reinterpret_cast<const Entry*>(bytes_.data() + ENTRIES_OFFSET);
    }

private:
    alignas(Header) alignas(Entry) std::array<std::byte, ENTRIES_OFFSET + N * sizeof(Entry)> bytes_ {};
};

// A kvm_cpuid2 with room for KVM's maximum number of entries.
class CpuidList {
public:
    static constexpr std::size_t MAX_ENTRIES = 256; // KVM_MAX_CPUID_ENTRIES

    CpuidList() noexcept { raw()->nent = MAX_ENTRIES; }
    [[nodiscard]] kvm_cpuid2* raw() noexcept { return buf_.header(); }
    [[nodiscard]] const kvm_cpuid2* raw() const noexcept { return buf_.header(); }
    [[nodiscard]] std::span<kvm_cpuid_entry2> entries() noexcept { return { buf_.entries(), size() }; }
    [[nodiscard]] std::span<const kvm_cpuid_entry2> entries() const noexcept { return { buf_.entries(), size() }; }
    // Appends an entry; false when full.
    bool push(const kvm_cpuid_entry2& e) noexcept;
    // nullptr when absent.
    [[nodiscard]] kvm_cpuid_entry2* find(std::uint32_t function, std::uint32_t index = 0) noexcept;
    void clear() noexcept { raw()->nent = 0; }

private:
    [[nodiscard]] std::size_t size() const noexcept { return raw()->nent < MAX_ENTRIES ? raw()->nent : MAX_ENTRIES; }
    FlexArray<kvm_cpuid2, kvm_cpuid_entry2, MAX_ENTRIES> buf_;
};

class Kvm {
public:
    // Opens /dev/kvm and checks the API version and the capabilities Vireo needs. The error
    // names the problem and the fix (no KVM, no permission, too old a kernel).
    [[nodiscard]] static Result<Kvm> open(const char* path = "/dev/kvm");

    [[nodiscard]] int check_extension(long cap) const noexcept;
    [[nodiscard]] Result<VmFd> create_vm() const;
    [[nodiscard]] Result<CpuidList> supported_cpuid() const;
    [[nodiscard]] std::size_t vcpu_mmap_size() const noexcept { return vcpu_mmap_size_; }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }

private:
    Kvm(UniqueFd fd, std::size_t mmap_size) noexcept : fd_(std::move(fd)), vcpu_mmap_size_(mmap_size) {}
    UniqueFd fd_;
    std::size_t vcpu_mmap_size_;
};

class VmFd {
public:
    VmFd(UniqueFd fd, std::size_t vcpu_mmap_size) noexcept : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size)
    {
    }

    [[nodiscard]] Result<> set_user_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
        void* host, std::uint32_t flags = 0) const;
    [[nodiscard]] Result<> set_tss_addr(std::uint64_t addr) const;
    [[nodiscard]] Result<> set_identity_map_addr(std::uint64_t addr) const;
    [[nodiscard]] Result<> create_irqchip() const;
    [[nodiscard]] Result<> create_pit2() const;
    [[nodiscard]] Result<> irq_line(std::uint32_t irq, bool level) const noexcept;
    [[nodiscard]] Result<> set_gsi_routing(std::span<const kvm_irq_routing_entry> entries) const;
    [[nodiscard]] Result<> irqfd(int eventfd, std::uint32_t gsi, bool deassign = false) const;
    // A level-triggered irqfd: a signal asserts `gsi` until the guest acknowledges it, when KVM
    // lowers the line and signals `resamplefd` (for the VMM to raise it again if the device still
    // holds it). Removed with irqfd(eventfd, gsi, true).
    [[nodiscard]] Result<> irqfd_resample(int eventfd, int resamplefd, std::uint32_t gsi) const;
    // An ioeventfd on an MMIO (or PIO) address; datamatch when `match` is set.
    [[nodiscard]] Result<> ioeventfd(int eventfd, std::uint64_t addr, std::uint32_t len, bool pio,
        std::optional<std::uint64_t> match, bool deassign = false) const;
    [[nodiscard]] Result<VcpuFd> create_vcpu(std::uint32_t id) const;
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }

private:
    UniqueFd fd_;
    std::size_t vcpu_mmap_size_;
};

class VcpuFd {
public:
    VcpuFd(UniqueFd fd, kvm_run* run, std::size_t run_size) noexcept;
    VcpuFd(VcpuFd&& o) noexcept;
    VcpuFd& operator=(VcpuFd&&) = delete;
    VcpuFd(const VcpuFd&) = delete;
    VcpuFd& operator=(const VcpuFd&) = delete;
    ~VcpuFd();

    // Returns 0, or -errno (EINTR/EAGAIN are normal: a kick or a signal).
    [[nodiscard]] int run() const noexcept;
    [[nodiscard]] kvm_run* run_data() const noexcept { return run_; }

    [[nodiscard]] Result<kvm_regs> get_regs() const;
    [[nodiscard]] Result<> set_regs(const kvm_regs& r) const;
    [[nodiscard]] Result<kvm_sregs> get_sregs() const;
    [[nodiscard]] Result<> set_sregs(const kvm_sregs& s) const;
    [[nodiscard]] Result<> set_fpu(const kvm_fpu& f) const;
    [[nodiscard]] Result<> set_cpuid(const CpuidList& cpuid) const;
    [[nodiscard]] Result<> set_msrs(std::span<const kvm_msr_entry> entries) const;
    [[nodiscard]] Result<kvm_lapic_state> get_lapic() const;
    [[nodiscard]] Result<> set_lapic(const kvm_lapic_state& l) const;
    [[nodiscard]] Result<kvm_mp_state> get_mp_state() const;
    [[nodiscard]] Result<kvm_vcpu_events> get_vcpu_events() const;
    // The guest-physical address of a guest-virtual one under the vCPU's current paging
    // (KVM_TRANSLATE); nullopt when it is not mapped.
    [[nodiscard]] Result<std::optional<std::uint64_t>> translate(std::uint64_t gva) const;
    // Reads the MSRs whose index is set in `entries`, filling in their data; fails unless KVM
    // read every one of them.
    [[nodiscard]] Result<> get_msrs(std::span<kvm_msr_entry> entries) const;
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }

private:
    UniqueFd fd_;
    kvm_run* run_;
    std::size_t run_size_;
};

} // namespace vmm::kvm
