// SPDX-License-Identifier: Apache-2.0
// IommuDevice: requests, PROBE properties, fault reports, and completion after pins.
#include "virtio/devices/iommu/iommu.hpp"

#include <array>
#include <cstring>

#include "virtio/spec/iommu.hpp"
#include "vmm/base/log.hpp"

namespace vmm::virtio {
namespace {

// §5.13.6: the error statuses, and the request types in their numbering (ATTACH = 1 ... PROBE
// = 5), for injected faults.
constexpr std::array<ErrorStatus, 8> IOMMU_STATUSES { { { "ioerr", VIRTIO_IOMMU_S_IOERR },
    { "unsupp", VIRTIO_IOMMU_S_UNSUPP }, { "deverr", VIRTIO_IOMMU_S_DEVERR }, { "inval", VIRTIO_IOMMU_S_INVAL },
    { "range", VIRTIO_IOMMU_S_RANGE }, { "noent", VIRTIO_IOMMU_S_NOENT }, { "fault", VIRTIO_IOMMU_S_FAULT },
    { "nomem", VIRTIO_IOMMU_S_NOMEM } } };
constexpr std::array<std::string_view, 6> IOMMU_REQUESTS { "none", "attach", "detach", "map", "unmap", "probe" };

constexpr std::uint64_t OFFERED = feature_bit(VIRTIO_IOMMU_F_INPUT_RANGE) | feature_bit(VIRTIO_IOMMU_F_DOMAIN_RANGE)
    | feature_bit(VIRTIO_IOMMU_F_MAP_UNMAP) | feature_bit(VIRTIO_IOMMU_F_PROBE) | feature_bit(VIRTIO_IOMMU_F_MMIO);

template <class T>
[[nodiscard]] T load(std::span<const std::byte> req, std::size_t offset) noexcept
{
    T v {};
    // Invariant: the caller checked that req holds the request's fixed part.
    std::memcpy(&v, req.data() + offset, sizeof(T));
    return v;
}

[[nodiscard]] std::uint32_t u32(std::span<const std::byte> r, std::size_t off) noexcept
{
    return load<le32>(r, off).get();
}

[[nodiscard]] std::uint64_t u64(std::span<const std::byte> r, std::size_t off) noexcept
{
    return load<le64>(r, off).get();
}

[[nodiscard]] bool all_zero(std::span<const std::byte> r, std::size_t off, std::size_t len) noexcept
{
    for (std::size_t i = off; i < off + len; ++i) {
        if (r[i] != std::byte { 0 }) {
            return false;
        }
    }
    return true;
}

} // namespace

IommuReservedRange msi_doorbell_range() noexcept
{
    return IommuReservedRange { VIRTIO_IOMMU_RESV_MEM_T_MSI, 0xfee0'0000, 0xfeef'ffff };
}

IommuDevice::IommuDevice(Options options)
    : DeviceBase(DeviceType::iommu, { REQUEST_QUEUE_SIZE, EVENT_QUEUE_SIZE },
        OFFERED
            | (options.legacy_bypass ? feature_bit(VIRTIO_IOMMU_F_BYPASS) : feature_bit(VIRTIO_IOMMU_F_BYPASS_CONFIG))
            | feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_F_EVENT_IDX),
        sizeof(VirtioIommuConfig))
    , options_(options)
    , domains_(options.limits)
    , status_faults_(IOMMU_STATUSES, IOMMU_REQUESTS)
{
    VirtioIommuConfig cfg {};
    // §5.13.4: the lowest set bit is the granule; every larger power of two maps too.
    cfg.page_size_mask.set(~(options_.limits.granule - 1));
    cfg.input_start.set(0);
    cfg.input_end.set(options_.limits.input_end);
    cfg.domain_start.set(options_.limits.domain_start);
    cfg.domain_end.set(options_.limits.domain_end);
    cfg.probe_size.set(PROBE_SIZE);
    cfg.bypass = options_.bypass && !options_.legacy_bypass ? 1 : 0;
    set_config_obj(0, cfg);
    update_bypass();
}

IommuDevice::~IommuDevice()
{
    ++*epoch_;
}

const DmaSpace& IommuDevice::add_endpoint(std::uint32_t endpoint, const DmaSpace& direct)
{
    domains_.add_endpoint(endpoint);
    auto& dma = endpoint_dma_[endpoint];
    dma = std::make_unique<IommuDma>(endpoint, domains_, direct, this, &injected_);
    return *dma;
}

void IommuDevice::update_bypass() noexcept
{
    std::uint8_t bypass = 0;
    read_config(IOMMU_CONFIG_BYPASS_OFFSET, std::as_writable_bytes(std::span(&bypass, 1)));
    // §5.13.6.1: with BYPASS_CONFIG offered, the config field decides (even before the driver
    // accepts the feature); with the legacy BYPASS feature, negotiating it does.
    domains_.set_unattached_bypass(
        options_.legacy_bypass ? acked(VIRTIO_IOMMU_F_BYPASS) : (bypass & 1) != 0);
}

void IommuDevice::ack_features(std::uint64_t features) noexcept
{
    DeviceBase::ack_features(features);
    update_bypass();
}

bool IommuDevice::on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept
{
    // §5.13.4: only `bypass`, only with BYPASS_CONFIG negotiated, and only its bit 0 counts.
    if (!acked(VIRTIO_IOMMU_F_BYPASS_CONFIG) || offset != IOMMU_CONFIG_BYPASS_OFFSET || in.size() != 1) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-iommu: driver wrote {} bytes of config at {:#x}; ignored", in.size(),
            offset);
        return false;
    }
    const std::uint8_t value = std::to_integer<std::uint8_t>(in[0]) & 1U;
    set_config(offset, std::as_bytes(std::span(&value, 1)));
    update_bypass();
    return true;
}

Result<> IommuDevice::activate(ActivationContext ctx)
{
    for (auto& q : ctx.queues) {
        if (q.index() == 0) {
            requests_.emplace(std::move(q));
        } else if (q.index() == 1) {
            events_.emplace(std::move(q));
        }
    }
    if (!requests_) {
        return fail(Errc::device_failed, "virtio-iommu: the driver did not enable the request queue");
    }
    set_interrupt(&ctx.interrupt);
    return {};
}

void IommuDevice::reset() noexcept
{
    // Held requests belong to the old queues: the driver may reuse their buffers now.
    ++*epoch_;
    held_.clear();
    requests_.reset();
    events_.reset();
    pending_faults_.clear();
    // §5.13.5: after a reset no endpoint is attached. `bypass` keeps its value (§5.13.4).
    domains_.detach_all();
    reset_base();
    update_bypass();
}

void IommuDevice::on_queue_notify(std::uint16_t queue_index) noexcept
{
    if (queue_index == 0) {
        process_requests();
    } else if (queue_index == 1) {
        deliver_faults();
    }
}

void IommuDevice::process_requests() noexcept
{
    if (!requests_) {
        return;
    }
    Queue& q = *requests_;
    do {
        q.disable_notification();
        while (auto chain = q.pop()) {
            ++request_count_;
            bool invalidates = false;
            const std::size_t properties = chain->writer().capacity() >= sizeof(VirtioIommuReqTail)
                ? chain->writer().capacity() - sizeof(VirtioIommuReqTail)
                : 0;
            const std::optional<std::uint8_t> status = handle(*chain, &invalidates);
            if (!status || !invalidates) {
                complete(std::move(*chain), status, properties);
                continue;
            }
            // The request took translations away: answer once every pin on an older
            // generation is gone (virtio 1.2 §5.13.6.3: "When this request completes, the
            // endpoint cannot access any mapping from that domain anymore").
            const std::uint64_t id = next_held_++;
            held_.emplace(id, Held { std::move(*chain), *status, properties });
            domains_.generations().when_released(domains_.generations().current(),
                [this, id, epoch = epoch_, at = *epoch_] {
                    if (*epoch == at) {
                        finish_held(id);
                    }
                });
        }
    } while (q.enable_notification());
    q.notify_if_needed();
}

void IommuDevice::finish_held(std::uint64_t id) noexcept
{
    auto it = held_.find(id);
    if (it == held_.end() || !requests_) {
        return;
    }
    Held h = std::move(it->second);
    held_.erase(it);
    complete(std::move(h.chain), h.status, h.properties);
    requests_->notify_if_needed();
}

void IommuDevice::complete(DescriptorChain&& chain, std::optional<std::uint8_t> status, std::size_t properties)
{
    if (!requests_ || !requests_->owns(chain)) {
        return;
    }
    if (!status) {
        requests_->add_used(std::move(chain), 0);
        return;
    }
    Writer& w = chain.writer();
    // The tail is the last 4 bytes of the device-writable part; PROBE's properties fill what
    // comes before it, anything else leaves it unwritten.
    if (w.bytes_written() < properties) {
        (void)w.skip(properties - w.bytes_written());
    }
    const VirtioIommuReqTail tail { *status, {} };
    (void)w.write_obj(tail);
    requests_->add_used(std::move(chain));
}

std::optional<std::uint8_t> IommuDevice::handle(DescriptorChain& chain, bool* invalidates)
{
    Reader& r = chain.reader();
    Writer& w = chain.writer();
    // Copied once: nothing the guest writes afterwards can change what is decided below.
    std::array<std::byte, iommu_req::MAX> req {};
    const std::size_t got = std::min(r.available(), req.size());
    if (got < iommu_req::HEAD || w.capacity() < sizeof(VirtioIommuReqTail) || !r.read(std::span(req).first(got))) {
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-iommu: request without a head or a tail; returned unwritten");
        return std::nullopt;
    }
    const std::span<const std::byte> bytes(req.data(), got);
    const auto type = std::to_integer<std::uint8_t>(req[0]);
    if (!status_faults_.empty() && type >= VIRTIO_IOMMU_T_ATTACH && type <= VIRTIO_IOMMU_T_PROBE) {
        if (auto injected = status_faults_.pick(type)) {
            return *injected; // not carried out: nothing changes, nothing to invalidate
        }
    }
    const auto needs = [&](std::size_t size) { return got >= size; };

    switch (type) {
    case VIRTIO_IOMMU_T_ATTACH: {
        if (!needs(iommu_req::ATTACH_SIZE)) {
            return VIRTIO_IOMMU_S_INVAL;
        }
        const std::uint32_t flags = u32(bytes, iommu_req::ATTACH_FLAGS);
        // §5.13.6.2: non-zero reserved bytes or unknown flags: INVAL. The bypass flag exists
        // only with BYPASS_CONFIG.
        const std::uint32_t known = acked(VIRTIO_IOMMU_F_BYPASS_CONFIG) ? VIRTIO_IOMMU_ATTACH_F_BYPASS : 0U;
        if (!all_zero(bytes, iommu_req::ATTACH_RESERVED, 4) || (flags & ~known) != 0) {
            return VIRTIO_IOMMU_S_INVAL;
        }
        *invalidates = true;
        return domains_.attach(u32(bytes, iommu_req::DOMAIN), u32(bytes, iommu_req::ENDPOINT),
            (flags & VIRTIO_IOMMU_ATTACH_F_BYPASS) != 0);
    }
    case VIRTIO_IOMMU_T_DETACH:
        if (!needs(iommu_req::DETACH_SIZE)) {
            return VIRTIO_IOMMU_S_INVAL;
        }
        *invalidates = true;
        return domains_.detach(u32(bytes, iommu_req::DOMAIN), u32(bytes, iommu_req::ENDPOINT));
    case VIRTIO_IOMMU_T_MAP: {
        if (!acked(VIRTIO_IOMMU_F_MAP_UNMAP)) {
            return VIRTIO_IOMMU_S_UNSUPP;
        }
        if (!needs(iommu_req::MAP_SIZE)) {
            return VIRTIO_IOMMU_S_INVAL;
        }
        const std::uint32_t flags = u32(bytes, iommu_req::MAP_FLAGS);
        const std::uint32_t known = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE
            | (acked(VIRTIO_IOMMU_F_MMIO) ? VIRTIO_IOMMU_MAP_F_MMIO : 0U);
        if ((flags & ~known) != 0) {
            return VIRTIO_IOMMU_S_INVAL;
        }
        return domains_.map(u32(bytes, iommu_req::DOMAIN), u64(bytes, iommu_req::VIRT_START),
            u64(bytes, iommu_req::VIRT_END), u64(bytes, iommu_req::PHYS_START), flags);
    }
    case VIRTIO_IOMMU_T_UNMAP:
        if (!acked(VIRTIO_IOMMU_F_MAP_UNMAP)) {
            return VIRTIO_IOMMU_S_UNSUPP;
        }
        if (!needs(iommu_req::UNMAP_SIZE)) {
            return VIRTIO_IOMMU_S_INVAL;
        }
        // §5.13.6.5: reserved bytes MAY be refused; they are ignored here, as Linux zeroes them.
        *invalidates = true;
        return domains_.unmap(u32(bytes, iommu_req::DOMAIN), u64(bytes, iommu_req::VIRT_START),
            u64(bytes, iommu_req::VIRT_END));
    case VIRTIO_IOMMU_T_PROBE:
        // §5.13.6.7: without the feature, the buffer goes back unwritten.
        if (!acked(VIRTIO_IOMMU_F_PROBE)) {
            return std::nullopt;
        }
        if (!needs(iommu_req::PROBE_SIZE)) {
            return VIRTIO_IOMMU_S_INVAL;
        }
        return probe(u32(bytes, iommu_req::PROBE_ENDPOINT), w, w.capacity() - sizeof(VirtioIommuReqTail));
    default:
        VMM_LOG_GUEST(spdlog::level::warn, "virtio-iommu: unknown request type {}; returned unwritten", type);
        return std::nullopt;
    }
}

std::uint8_t IommuDevice::probe(std::uint32_t endpoint, Writer& writer, std::size_t properties)
{
    if (!domains_.has_endpoint(endpoint)) {
        return VIRTIO_IOMMU_S_NOENT;
    }
    // §5.13.6.7: a properties area smaller than probe_size gets no properties and INVAL.
    if (properties < PROBE_SIZE) {
        return VIRTIO_IOMMU_S_INVAL;
    }
    std::array<std::byte, PROBE_SIZE> out {};
    std::size_t at = 0;
    for (const auto& r : domains_.limits().reserved) {
        VirtioIommuProbeResvMem p {};
        p.type.set(VIRTIO_IOMMU_PROBE_T_RESV_MEM);
        p.length.set(sizeof(p) - 4);
        p.subtype = r.subtype;
        p.start.set(r.start);
        p.end.set(r.end);
        if (at + sizeof(p) > out.size()) {
            break;
        }
        std::memcpy(out.data() + at, &p, sizeof(p));
        at += sizeof(p);
    }
    // The rest of the area (and of probe_size) stays zero: a type-0 property ends the list.
    (void)writer.write(out);
    return VIRTIO_IOMMU_S_OK;
}

void IommuDevice::report_fault(const IommuFault& fault) noexcept
{
    ++faults_reported_;
    VMM_LOG_GUEST(spdlog::level::warn, "virtio-iommu: endpoint {:#x} faulted at {:#x} (reason {}, flags {:#x})",
        fault.endpoint, fault.address, fault.reason, fault.flags);
    recent_faults_.push_back(fault);
    if (recent_faults_.size() > RECENT_FAULTS) {
        recent_faults_.pop_front();
    }
    if (pending_faults_.size() >= MAX_PENDING_FAULTS) {
        ++faults_dropped_;
        return;
    }
    pending_faults_.push_back(fault);
    deliver_faults();
}

void IommuDevice::deliver_faults() noexcept
{
    if (!events_) {
        return;
    }
    Queue& q = *events_;
    bool used = false;
    while (!pending_faults_.empty()) {
        auto chain = q.pop();
        if (!chain) {
            break; // no buffer: the fault waits (bounded) for the driver to post one
        }
        used = true;
        VirtioIommuFault f {};
        const IommuFault& src = pending_faults_.front();
        f.reason = src.reason;
        f.flags.set(src.flags);
        f.endpoint.set(src.endpoint);
        f.address.set(src.address);
        // §5.13.6.9: a buffer too small for the report is not split across buffers.
        if (chain->writer().available() >= sizeof(f)) {
            (void)chain->writer().write_obj(f);
            pending_faults_.pop_front();
        }
        q.add_used(std::move(*chain));
    }
    if (used) {
        q.notify_if_needed();
    }
}

nlohmann::json IommuDevice::state() const
{
    nlohmann::json faults = nlohmann::json::array();
    for (const auto& f : recent_faults_) {
        faults.push_back({ { "endpoint", f.endpoint }, { "address", fmt::format("{:#x}", f.address) },
            { "reason", f.reason == VIRTIO_IOMMU_FAULT_R_DOMAIN ? "domain"
                    : f.reason == VIRTIO_IOMMU_FAULT_R_MAPPING ? "mapping"
                                                               : "unknown" },
            { "flags", f.flags } });
    }
    nlohmann::json out = domains_.dump(64);
    out["faults"] = faults;
    out["faults_reported"] = faults_reported_;
    out["faults_dropped"] = faults_dropped_;
    out["requests"] = request_count_;
    out["requests_waiting_for_pins"] = held_.size();
    std::uint64_t hits = 0;
    for (const auto& [id, dma] : endpoint_dma_) {
        hits += dma->cache_hits();
    }
    out["translation_cache_hits"] = hits;
    out["injected_faults"] = iommu_faults_json(injected_.rules());
    return out;
}

} // namespace vmm::virtio
