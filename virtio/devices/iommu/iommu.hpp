// SPDX-License-Identifier: Apache-2.0
// IommuDevice: virtio-iommu (virtio 1.2 §5.13), the DMA translation for the devices behind it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "virtio/device_base.hpp"
#include "virtio/devices/iommu/iommu_dma.hpp"
#include "virtio/devices/iommu/iommu_domains.hpp"
#include "virtio/status_faults.hpp"

namespace vmm::virtio {

// The MSI doorbell window of the x86 machine (Intel SDM vol. 3 §11.11.1, where a device's MSI
// writes land): PROBE reports it as VIRTIO_IOMMU_RESV_MEM_T_MSI, so the driver neither maps it
// nor expects MSIs to need a mapping.
[[nodiscard]] IommuReservedRange msi_doorbell_range() noexcept;

// Queue 0 carries ATTACH, DETACH, MAP, UNMAP and PROBE requests, queue 1 takes fault reports.
// Endpoints are registered by the VMM (the devices behind the IOMMU); endpoint_dma() gives each
// its translated DMA space.
//
// A request that can take a translation away (UNMAP, DETACH, ATTACH moving an endpoint) is
// completed only once no DMA pin on the old generation remains: I/O that resolved guest memory
// through the old mapping has finished, so the driver cannot reuse those pages under it.
class IommuDevice final
    : public DeviceBase
    , public IommuFaultSink {
public:
    static constexpr std::uint16_t REQUEST_QUEUE_SIZE = 256;
    static constexpr std::uint16_t EVENT_QUEUE_SIZE = 64;
    // Faults waiting for event buffers; more are counted and dropped (a guest cannot make the
    // VMM buffer without bound).
    static constexpr std::size_t MAX_PENDING_FAULTS = 64;
    // Faults kept for the API (iommu-state).
    static constexpr std::size_t RECENT_FAULTS = 32;
    static constexpr std::uint32_t PROBE_SIZE = 64;

    struct Options {
        // Initial value of the config `bypass` field (boot bypass): unattached endpoints reach
        // guest-physical memory directly until the driver attaches them. Kept across device
        // resets, as §5.13.4 asks.
        bool bypass = false;
        // Offer the legacy VIRTIO_IOMMU_F_BYPASS instead of VIRTIO_IOMMU_F_BYPASS_CONFIG (the
        // spec says never both).
        bool legacy_bypass = false;
        IommuDomains::Limits limits;
    };

    explicit IommuDevice(Options options);
    ~IommuDevice() override;

    // VM assembly: a device behind the IOMMU, and the DMA space its transport uses once
    // ACCESS_PLATFORM is negotiated. `direct` is guest-physical memory. The returned space
    // lives as long as the IOMMU device.
    [[nodiscard]] const DmaSpace& add_endpoint(std::uint32_t endpoint, const DmaSpace& direct);

    // Features are acked on a vCPU thread (FEATURES_OK): legacy bypass follows them.
    void ack_features(std::uint64_t features) noexcept override;
    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    void report_fault(const IommuFault& fault) noexcept override;

    // API iommu-state: domains, mappings, endpoints, recent faults, counters.
    [[nodiscard]] nlohmann::json state() const;
    [[nodiscard]] const IommuDomains& domains() const noexcept { return domains_; }
    [[nodiscard]] std::uint64_t faults_reported() const noexcept { return faults_reported_; }
    [[nodiscard]] std::uint64_t faults_dropped() const noexcept { return faults_dropped_; }
    [[nodiscard]] std::size_t requests_waiting_for_pins() const noexcept { return held_.size(); }
    // Injected translation faults (the API's fault-inject); loop thread, like the DMA.
    [[nodiscard]] IommuFaultRules& injected_faults() noexcept { return injected_; }
    // Requests answered with an error status on purpose (§5.13.6).
    [[nodiscard]] StatusFaults* status_faults() noexcept override { return &status_faults_; }

private:
    bool on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept override;

    void process_requests() noexcept;
    // The status to write, or nullopt when the request cannot be answered (unparseable or an
    // unknown type: §5.13.6 wants the buffers back unwritten).
    [[nodiscard]] std::optional<std::uint8_t> handle(DescriptorChain& chain, bool* invalidates);
    [[nodiscard]] std::uint8_t probe(std::uint32_t endpoint, Writer& writer, std::size_t properties);
    void complete(DescriptorChain&& chain, std::optional<std::uint8_t> status, std::size_t properties);
    void finish_held(std::uint64_t id) noexcept;
    void deliver_faults() noexcept;
    void update_bypass() noexcept;

    Options options_;
    IommuDomains domains_;
    std::map<std::uint32_t, std::unique_ptr<IommuDma>> endpoint_dma_;
    std::optional<Queue> requests_;
    std::optional<Queue> events_;

    // Requests answered but waiting for pins on an older generation to go.
    struct Held {
        DescriptorChain chain;
        std::uint8_t status;
        std::size_t properties;
    };
    std::map<std::uint64_t, Held> held_;
    std::uint64_t next_held_ = 1;
    // Makes pin-release callbacks harmless after a reset or destruction.
    std::shared_ptr<std::uint64_t> epoch_ = std::make_shared<std::uint64_t>(0);

    IommuFaultRules injected_;
    StatusFaults status_faults_;
    std::deque<IommuFault> pending_faults_;
    std::deque<IommuFault> recent_faults_;
    std::uint64_t faults_reported_ = 0;
    std::uint64_t faults_dropped_ = 0;
    std::uint64_t request_count_ = 0;
};

} // namespace vmm::virtio
