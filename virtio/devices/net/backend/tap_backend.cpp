// SPDX-License-Identifier: Apache-2.0
// TapBackend.
#include "virtio/devices/net/backend/tap_backend.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include "vmm/base/log.hpp"
#include "vmm/base/unique_fd.hpp"

namespace vmm::virtio::net {
namespace {

// virtio_net_hdr_v1 (virtio 1.2 §5.1.6): the header in front of every frame, both ways.
constexpr int VNET_HDR_SIZE = 12;
// Linux 6.2 added UDP segmentation offload to tun (include/uapi/linux/if_tun.h); older
// headers lack the names.
constexpr unsigned TUN_F_USO4_BIT = 0x20;
constexpr unsigned TUN_F_USO6_BIT = 0x40;

Result<UniqueFd> open_queue(const std::string& name, bool multi_queue)
{
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        return fail_errno(errno, "cannot open /dev/net/tun (is the tun module loaded? `modprobe tun`)");
    }
    unsigned features = 0;
    if (::ioctl(fd.get(), TUNGETFEATURES, &features) < 0) {
        return fail_errno(errno, "TUNGETFEATURES on /dev/net/tun");
    }
    if ((features & IFF_VNET_HDR) == 0 || (multi_queue && (features & IFF_MULTI_QUEUE) == 0)) {
        return fail(Errc::unsupported, "this kernel's tun driver lacks {}",
            (features & IFF_VNET_HDR) == 0 ? "IFF_VNET_HDR" : "IFF_MULTI_QUEUE");
    }
    ifreq ifr {};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi_queue ? IFF_MULTI_QUEUE : 0));
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
        const int e = errno;
        if (e == EPERM) {
            return fail_errno(EPERM,
                "tap '{}': not allowed to create or attach it (needs CAP_NET_ADMIN, or an interface made for this "
                "user: `ip tuntap add dev {} mode tap{} user $USER`)",
                name, name, multi_queue ? " multi_queue" : "");
        }
        if (e == EINVAL || e == EBUSY) {
            return fail(Errc::invalid_argument,
                "tap '{}' exists with other settings than {} needs ({}): recreate it with "
                "`ip tuntap add dev {} mode tap{}`",
                name, multi_queue ? "a multi-queue device" : "a single-queue device", std::strerror(e), name,
                multi_queue ? " multi_queue" : "");
        }
        return fail_errno(e, "TUNSETIFF for tap '{}'", name);
    }
    const int hdr = VNET_HDR_SIZE;
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr) < 0) {
        return fail_errno(errno, "TUNSETVNETHDRSZ on tap '{}'", name);
    }
    // Until the guest's features are known, it accepts no offloads.
    if (::ioctl(fd.get(), TUNSETOFFLOAD, 0U) < 0) {
        return fail_errno(errno, "TUNSETOFFLOAD on tap '{}'", name);
    }
    return fd;
}

// The offloads this kernel's tun knows: each TUNSETOFFLOAD flag it accepts (TSO and UFO need
// CSUM beside them). A kernel that knows a flag also takes such frames from us.
Offloads probe_offloads(int fd) noexcept
{
    auto accepts = [fd](unsigned flags) { return ::ioctl(fd, TUNSETOFFLOAD, flags) == 0; };
    Offloads o;
    o.csum = accepts(TUN_F_CSUM);
    if (o.csum) {
        o.tso4 = accepts(TUN_F_CSUM | TUN_F_TSO4);
        o.tso6 = accepts(TUN_F_CSUM | TUN_F_TSO6);
        o.ecn = o.tso4 && accepts(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN);
        o.ufo = accepts(TUN_F_CSUM | TUN_F_UFO);
        o.uso = accepts(TUN_F_CSUM | TUN_F_USO4_BIT | TUN_F_USO6_BIT);
    }
    (void)::ioctl(fd, TUNSETOFFLOAD, 0U);
    return o;
}

// Brings the interface up when it is down (a tap this VMM created starts down). Best effort:
// an interface made by the user keeps whatever the user set.
void bring_up(const std::string& name) noexcept
{
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) {
        return;
    }
    ifreq ifr {};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags & IFF_UP) != 0) {
        return;
    }
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) {
        spdlog::warn("tap '{}' is down and could not be brought up ({}): `ip link set {} up`", name,
            std::strerror(errno), name);
    }
}

} // namespace

struct TapBackend::Queue {
    explicit Queue(boost::asio::io_context& io, int fd) : stream(io, fd) { }
    boost::asio::posix::stream_descriptor stream; // owns the fd
};

TapBackend::TapBackend(boost::asio::io_context& io, std::string name)
    : io_(&io)
    , name_(std::move(name))
    , generation_(std::make_shared<std::uint64_t>(0))
{
}

TapBackend::~TapBackend()
{
    stop_watching();
}

Result<std::unique_ptr<TapBackend>> TapBackend::create(boost::asio::io_context& io, const TapOptions& options)
{
    if (options.name.empty() || options.name.size() >= IFNAMSIZ) {
        return fail(Errc::invalid_argument, "tap name '{}' must have 1 to {} characters", options.name, IFNAMSIZ - 1);
    }
    if (options.queues == 0) {
        return fail(Errc::invalid_argument, "tap '{}' needs at least one queue", options.name);
    }
    auto tap = std::unique_ptr<TapBackend>(new TapBackend(io, options.name));
    const bool multi = options.queues > 1;
    for (std::size_t i = 0; i < options.queues; ++i) {
        auto fd = VMM_TRY(open_queue(options.name, multi));
        if (i == 0) {
            tap->supported_ = probe_offloads(fd.get());
        }
        tap->queues_.push_back(std::make_unique<Queue>(io, fd.release()));
    }
    bring_up(options.name);
    return tap;
}

std::size_t TapBackend::queues() const noexcept
{
    return queues_.size();
}

unsigned TapBackend::tun_offload_flags(const Offloads& o) noexcept
{
    if (!o.csum) {
        return 0; // every segmentation offload needs partial checksums
    }
    unsigned flags = TUN_F_CSUM;
    flags |= o.tso4 ? TUN_F_TSO4 : 0U;
    flags |= o.tso6 ? TUN_F_TSO6 : 0U;
    flags |= (o.ecn && (o.tso4 || o.tso6)) ? TUN_F_TSO_ECN : 0U;
    flags |= o.ufo ? TUN_F_UFO : 0U;
    flags |= o.uso ? (TUN_F_USO4_BIT | TUN_F_USO6_BIT) : 0U;
    return flags;
}

Result<> TapBackend::set_receive_offloads(const Offloads& offloads)
{
    // Only what both the kernel and the guest take.
    Offloads o {
        .csum = offloads.csum && supported_.csum,
        .tso4 = offloads.tso4 && supported_.tso4,
        .tso6 = offloads.tso6 && supported_.tso6,
        .ecn = offloads.ecn && supported_.ecn,
        .ufo = offloads.ufo && supported_.ufo,
        .uso = offloads.uso && supported_.uso,
    };
    const unsigned flags = tun_offload_flags(o);
    for (auto& q : queues_) {
        if (::ioctl(q->stream.native_handle(), TUNSETOFFLOAD, flags) < 0) {
            return fail_errno(errno, "TUNSETOFFLOAD {:#x} on tap '{}'", flags, name_);
        }
    }
    receive_ = o;
    return {};
}

IoResult TapBackend::send(std::size_t queue, std::span<const iovec> iov) noexcept
{
    if (queue >= queues_.size()) {
        return { IoResult::Status::error, 0, EINVAL };
    }
    const ssize_t n = ::writev(queues_[queue]->stream.native_handle(), iov.data(), static_cast<int>(iov.size()));
    if (n >= 0) {
        ++frames_sent_;
        return { IoResult::Status::done, static_cast<std::size_t>(n), 0 };
    }
    const int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) {
        return { IoResult::Status::again, 0, 0 };
    }
    ++send_errors_;
    if (e == EBADFD || e == EIO || e == ENODEV) {
        lost(e);
    }
    return { IoResult::Status::error, 0, e };
}

IoResult TapBackend::receive(std::size_t queue, std::span<const iovec> iov) noexcept
{
    if (queue >= queues_.size()) {
        return { IoResult::Status::error, 0, EINVAL };
    }
    // tun returns the frame's whole length even when it had to cut it to fit `iov`.
    const ssize_t n = ::readv(queues_[queue]->stream.native_handle(), iov.data(), static_cast<int>(iov.size()));
    if (n >= 0) {
        ++frames_received_;
        return { IoResult::Status::done, static_cast<std::size_t>(n), 0 };
    }
    const int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) {
        return { IoResult::Status::again, 0, 0 };
    }
    ++receive_errors_;
    if (e == EBADFD || e == EIO || e == ENODEV) {
        lost(e);
    }
    return { IoResult::Status::error, 0, e };
}

void TapBackend::lost(int error) noexcept
{
    if (!link_up_) {
        return;
    }
    link_up_ = false;
    spdlog::error("tap '{}' failed ({}): the guest's link goes down; the VM keeps running", name_,
        std::strerror(error));
    if (on_link_) {
        boost::asio::post(*io_, [cb = on_link_] { cb(false); });
    }
}

void TapBackend::watch(std::size_t queue, bool write, std::function<void()> ready)
{
    if (queue >= queues_.size() || !link_up_) {
        return;
    }
    const auto kind = write ? boost::asio::posix::stream_descriptor::wait_write
                            : boost::asio::posix::stream_descriptor::wait_read;
    queues_[queue]->stream.async_wait(kind,
        [weak = std::weak_ptr<std::uint64_t>(generation_), gen = *generation_, ready = std::move(ready)](
            const boost::system::error_code& ec) {
            auto current = weak.lock();
            if (ec == boost::asio::error::operation_aborted || !current || *current != gen) {
                return; // cancelled, or armed before a stop_watching()
            }
            // Any other error (the tap deleted under the VM polls as an error) goes to the
            // device too: its next read or write meets the errno and reports the link lost.
            ready();
        });
}

void TapBackend::watch_readable(std::size_t queue, std::function<void()> ready)
{
    watch(queue, false, std::move(ready));
}

void TapBackend::watch_writable(std::size_t queue, std::function<void()> ready)
{
    watch(queue, true, std::move(ready));
}

void TapBackend::stop_watching() noexcept
{
    ++*generation_;
    for (auto& q : queues_) {
        boost::system::error_code ec;
        q->stream.cancel(ec);
    }
}

std::string TapBackend::describe() const
{
    return fmt::format("tap '{}' ({} {})", name_, queues_.size(), queues_.size() == 1 ? "queue" : "queues");
}

nlohmann::json TapBackend::status() const
{
    auto offloads = [](const Offloads& o) {
        return nlohmann::json { { "csum", o.csum }, { "tso4", o.tso4 }, { "tso6", o.tso6 }, { "ecn", o.ecn },
            { "ufo", o.ufo }, { "uso", o.uso } };
    };
    return {
        { "backend", "tap" },
        { "tap", name_ },
        { "queues", queues_.size() },
        { "link_up", link_up_ },
        { "offloads_supported", offloads(supported_) },
        { "offloads_to_guest", offloads(receive_) },
        { "frames_sent", frames_sent_ },
        { "frames_received", frames_received_ },
        { "send_errors", send_errors_ },
        { "receive_errors", receive_errors_ },
    };
}

} // namespace vmm::virtio::net
