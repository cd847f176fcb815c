// SPDX-License-Identifier: Apache-2.0
#include "virtio/devices/pmem/pmem_device.hpp"

#include <cerrno>
#include <system_error>

#include <spdlog/spdlog.h>

#include "virtio/spec/pmem.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio::pmem {
namespace {

std::uint64_t offered_features() noexcept
{
    return feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX) | feature_bit(VIRTIO_F_RING_PACKED)
        | feature_bit(VIRTIO_F_RING_RESET);
}

} // namespace

PmemDevice::PmemDevice(std::unique_ptr<block::BlockBackend> backend, PmemMapping mapping, bool read_only)
    : DeviceBase(DeviceType::pmem, { QUEUE_SIZE }, offered_features(), sizeof(VirtioPmemConfig))
    , backend_(std::move(backend))
    , mapping_(std::move(mapping))
    , read_only_(read_only)
{
    backend_->set_sink(this);
    VirtioPmemConfig cfg {};
    cfg.size = le64(mapping_.size());
    set_config_obj(0, cfg);
}

PmemDevice::~PmemDevice()
{
    queue_.reset();
    backend_->drain();
}

std::optional<GuestWindow> PmemDevice::guest_window() const noexcept
{
    return GuestWindow { .host = mapping_.data(), .size = mapping_.size(), .align = ALIGN, .read_only = read_only_ };
}

void PmemDevice::place_guest_window(std::uint64_t gpa) noexcept
{
    base_ = gpa;
    set_config_obj(offsetof(VirtioPmemConfig, start), le64(gpa));
}

Result<> PmemDevice::activate(ActivationContext ctx)
{
    if (ctx.queues.size() != 1 || ctx.queues.front().index() != 0) {
        return fail(Errc::invalid_argument, "virtio-pmem needs exactly its request queue 0, got {} queues",
            ctx.queues.size());
    }
    queue_.emplace(std::move(ctx.queues.front()));
    interrupt_ = &ctx.interrupt;
    set_interrupt(&ctx.interrupt);
    return {};
}

void PmemDevice::reset() noexcept
{
    // virtio 1.2 §2.4: the queue goes first, so that flushes completing while the backend
    // drains find it gone and write nothing into guest memory.
    queue_.reset();
    backend_->drain();
    flush_failed_ = false;
    interrupt_ = nullptr;
    reset_base();
}

void PmemDevice::reset_queue(std::uint16_t queue_index) noexcept
{
    if (queue_index == 0) {
        queue_.reset();
        backend_->drain();
    }
}

Result<> PmemDevice::enable_queue(Queue queue)
{
    if (queue.index() != 0) {
        return fail(Errc::invalid_argument, "virtio-pmem has one queue, not {}", queue.index() + 1);
    }
    queue_.emplace(std::move(queue));
    return {};
}

void PmemDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    if (queue_index != 0 || !queue_) {
        return; // before activation, after a reset, or a queue that does not exist
    }
    Queue& q = *queue_;
    do {
        q.disable_notification();
        while (auto chain = q.pop()) {
            handle(q, std::move(*chain));
        }
    } while (q.enable_notification());
    backend_->flush_submissions();
    q.notify_if_needed();
    touched_ = false;
}

void PmemDevice::respond(Queue& queue, DescriptorChain&& chain, std::uint32_t ret) noexcept
{
    // Invariant: handle() checked that the chain has room for the response.
    (void)chain.writer().write_obj(VirtioPmemResp { le32(ret) });
    queue.add_used(std::move(chain));
}

void PmemDevice::handle(Queue& queue, DescriptorChain&& chain) noexcept
{
    // Guest-controlled: the chain's layout and the request type. §5.19.6: a readable request,
    // then a writable response; without room for the response nothing can be answered.
    if (chain.writer().available() < sizeof(VirtioPmemResp)) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-pmem {}: request without a {}-byte response buffer; rejected",
            backend_->describe(), sizeof(VirtioPmemResp));
        ++bad_requests_;
        queue.add_used(std::move(chain), 0);
        if (interrupt_ != nullptr) {
            interrupt_->signal_needs_reset();
        }
        return;
    }
    auto req = chain.reader().read_obj<VirtioPmemReq>();
    if (!req || req->type.get() != VIRTIO_PMEM_REQ_TYPE_FLUSH) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-pmem {}: {}; answered with failure", backend_->describe(),
            req ? fmt::format("unknown request type {}", req->type.get()) : std::string("request shorter than 4 bytes"));
        ++bad_requests_;
        respond(queue, std::move(chain), VIRTIO_PMEM_RESP_EIO);
        return;
    }
    ++flushes_;
    if (flush_failed_) {
        ++failed_flushes_;
        respond(queue, std::move(chain), VIRTIO_PMEM_RESP_EIO);
        return;
    }
    if (read_only_) {
        respond(queue, std::move(chain), VIRTIO_PMEM_RESP_OK); // nothing can be dirty
        return;
    }
    const std::uint32_t slot = requests_.acquire();
    Request& r = requests_[slot];
    r.chain.emplace(std::move(chain));
    // The response buffer stays in use across loop turns: an IOMMU unmap of it waits.
    r.pin = queue.dma().pin();
    block::IoRequest io;
    io.op = block::IoOp::flush;
    io.tag = slot;
    backend_->submit(std::move(io));
}

void PmemDevice::io_complete(std::uint64_t tag, int result) noexcept
{
    const auto slot = static_cast<std::uint32_t>(tag);
    VMM_ASSERT(requests_.in_use(tag));
    Request& r = requests_[slot];
    if (result < 0) {
        flush_failed_ = true;
        ++failed_flushes_;
        VMM_LOG_GUEST(spdlog::level::err, "virtio-pmem {}: flush failed: {}", backend_->describe(),
            std::error_code(-result, std::system_category()).message());
    }
    // A chain of a queue that was reset meanwhile is stale: its buffers may be reused.
    if (queue_ && queue_->owns(*r.chain)) {
        respond(*queue_, std::move(*r.chain), result < 0 ? VIRTIO_PMEM_RESP_EIO : VIRTIO_PMEM_RESP_OK);
        touched_ = true;
    }
    r.chain.reset();
    r.pin.reset();
    requests_.release(slot);
}

void PmemDevice::io_batch_done() noexcept
{
    if (touched_ && queue_) {
        touched_ = false;
        queue_->notify_if_needed();
    }
}

nlohmann::json PmemDevice::status() const
{
    nlohmann::json out = {
        { "path", backend_->describe() },
        { "start", fmt::format("{:#x}", base_) },
        { "size", mapping_.size() },
        { "read_only", read_only_ },
        { "flushes", flushes_ },
        { "failed_flushes", failed_flushes_ },
        { "flushes_in_flight", requests_.in_use_count() },
        { "bad_requests", bad_requests_ },
        { "flush_failed", flush_failed_ },
    };
    if (auto faults = backend_->status(); !faults.is_null()) {
        out["backend"] = std::move(faults);
    }
    return out;
}

} // namespace vmm::virtio::pmem
