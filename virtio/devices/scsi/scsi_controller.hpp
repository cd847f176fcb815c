// SPDX-License-Identifier: Apache-2.0
// ScsiController: virtio-scsi (virtio 1.2 §5.6), a SCSI host adapter whose targets and logical
// units are in-process ScsiDisks.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "virtio/device_base.hpp"
#include "virtio/devices/scsi/disk/scsi_disk.hpp"
#include "virtio/devices/slot_pool.hpp"
#include "virtio/queue/notify_coalescer.hpp"

namespace vmm::virtio::scsi {

struct ControllerOptions {
    static constexpr std::uint16_t MAX_QUEUES = 64;
    static constexpr std::uint16_t MAX_QUEUE_SIZE = 1024;
    static constexpr std::uint16_t MAX_TARGET = 255; // Linux's virtio_scsi limit too

    std::uint16_t num_queues = 1;   // request queues, 1..MAX_QUEUES
    std::uint16_t queue_size = 256; // power of two
    std::uint16_t max_target = 7;   // highest target ID the driver scans, 0..MAX_TARGET
    std::uint16_t max_lun = 255;    // highest LUN, 0..SCSI_MAX_FLAT_LUN
    bool coalesce = true;           // hold request queues' interrupts (NotifyCoalescer)
};

// One logical unit, where it sits.
struct LunAddress {
    std::uint16_t target = 0;
    std::uint16_t lun = 0;
    // Not a defaulted <=>: clang's synthesised one warns (zero as null pointer constant).
    [[nodiscard]] std::uint32_t key() const { return std::uint32_t { target } << 16 | lun; }
    bool operator==(const LunAddress& o) const { return key() == o.key(); }
    bool operator<(const LunAddress& o) const { return key() < o.key(); }
};

// Threads: as Device; add_lun(), remove_lun() and resize_lun() on the loop thread.
//
// Requests (§5.6.6.1): the LUN field is decoded (target in byte 1, the single-level LUN in
// bytes 2-3, peripheral or flat addressing), the CDB goes to that unit's ScsiDisk with the
// data-out and data-in buffers as they are (zero copy), and the response is written when the
// disk completes the command. A target without units answers BAD_TARGET; a target's unit that
// does not exist answers INQUIRY as "not present" and everything else LOGICAL UNIT NOT
// SUPPORTED, so that Linux's scan finds exactly the configured units. REPORT LUNS is the
// controller's: it lists the target's units.
//
// Control queue (§5.6.6.2): ABORT TASK, ABORT TASK SET and CLEAR TASK SET abort the named
// commands and are answered once those have completed (the host may still have had their
// buffers); LOGICAL UNIT RESET and I_T NEXUS RESET reset the unit(s), which completes every
// command in flight as reset before the answer; QUERY TASK (SET) report whether commands are
// in flight; asynchronous notification is not supported (event_actual 0).
//
// Event queue (§5.6.6.3): with HOTPLUG, units added or removed at run time are reported as
// TRANSPORT_RESET RESCAN / REMOVED; with CHANGE, a capacity change as PARAM_CHANGE 2Ah/09h
// (else only the unit attention tells). Without a buffer posted, EVENTS_MISSED goes with the
// next event the driver gives room for.
class ScsiController final : public DeviceBase, private ScsiCompletionSink {
public:
    ScsiController(std::map<LunAddress, std::unique_ptr<ScsiDisk>> luns, ControllerOptions options);
    ~ScsiController() override;

    [[nodiscard]] Result<> activate(ActivationContext ctx) override;
    void reset() noexcept override;
    void on_queue_notify(std::uint16_t queue_index) noexcept override;
    void reset_queue(std::uint16_t queue_index) noexcept override;
    [[nodiscard]] Result<> enable_queue(Queue queue) override;
    [[nodiscard]] nlohmann::json status() const override;

    // ---- Host side (loop thread) ----
    [[nodiscard]] Result<> add_lun(LunAddress at, std::unique_ptr<ScsiDisk> disk);
    [[nodiscard]] Result<> remove_lun(LunAddress at);
    // Resizes the unit's image to `bytes` and tells the driver. Returns the new block count.
    [[nodiscard]] Result<std::uint64_t> resize_lun(LunAddress at, std::uint64_t bytes);
    [[nodiscard]] ScsiDisk* lun(LunAddress at) const noexcept;
    [[nodiscard]] std::size_t requests_in_flight() const noexcept { return requests_.in_use_count(); }
    [[nodiscard]] const ControllerOptions& options() const noexcept { return options_; }

private:
    struct Request {
        std::optional<DescriptorChain> chain;
        DmaPin pin;
        std::uint16_t queue = 0;
        LunAddress at;
        std::uint64_t id = 0;         // the driver's tag, for ABORT TASK and QUERY TASK
        IovecList response;           // the response header and sense, written last
        std::uint32_t data_in_capacity = 0;
        std::uint32_t data_out_capacity = 0;
        std::optional<std::uint32_t> tmf; // a task management function waits for this one
        std::uint8_t aborted_as = 0;      // VIRTIO_SCSI_S_ABORTED or _RESET once aborted
    };
    struct Tmf {
        std::optional<DescriptorChain> chain;
        DmaPin pin;
        std::uint32_t waiting = 0; // commands still to complete before the answer
        bool busy = false;
    };

    bool on_config_write(std::uint32_t offset, std::span<const std::byte> in) noexcept override;
    void scsi_complete(std::uint64_t tag, const ScsiResult& result) noexcept override;
    void scsi_batch_done() noexcept override;

    void handle_request(Queue& queue, DescriptorChain&& chain) noexcept;
    void handle_control(Queue& queue, DescriptorChain&& chain) noexcept;
    void handle_tmf(Queue& queue, DescriptorChain&& chain) noexcept;
    // Answers a request at once, from the controller, with `result` and `response`.
    void respond(Queue& queue, DescriptorChain&& chain, const IovecList& response, const ScsiResult& result,
        std::uint8_t virtio_response, std::uint32_t data_in_capacity, std::uint32_t data_out_capacity) noexcept;
    void target_command(Queue& queue, DescriptorChain&& chain, LunAddress at, std::span<const std::uint8_t> cdb,
        const IovecList& response, const IovecList& data_in, std::uint32_t in_cap, std::uint32_t out_cap) noexcept;
    [[nodiscard]] bool target_exists(std::uint16_t target) const noexcept;
    [[nodiscard]] std::vector<std::uint16_t> target_luns(std::uint16_t target) const;
    // Aborts the commands of `at` that `match` selects; returns how many the TMF must wait for.
    std::uint32_t abort_where(LunAddress at, std::optional<std::uint64_t> id, std::uint32_t tmf) noexcept;
    void finish_tmf(std::uint32_t tmf) noexcept;
    void answer_tmf(Queue& queue, DescriptorChain&& chain, std::uint8_t response) noexcept;
    // Events (scsi_events.cpp).
    void post_event(std::uint32_t event, LunAddress at, std::uint32_t reason) noexcept;
    void deliver_missed() noexcept;
    void notify_touched() noexcept;
    // Used entries were added to queue i: notify, now or when its coalescer says.
    void signal(std::uint16_t i) noexcept;
    void hold_expired(std::uint16_t i) noexcept;
    [[nodiscard]] Queue* queue(std::uint16_t index) noexcept
    {
        return index < queues_.size() && queues_[index] ? &*queues_[index] : nullptr;
    }
    [[nodiscard]] std::uint32_t response_size() const noexcept { return 12 + sense_size_; }

    std::map<LunAddress, std::unique_ptr<ScsiDisk>> luns_;
    ControllerOptions options_;
    std::uint32_t cdb_size_;   // as the driver set it (§5.6.4)
    std::uint32_t sense_size_; // likewise
    Interrupt* interrupt_ = nullptr;
    std::vector<std::optional<Queue>> queues_;
    std::vector<bool> touched_;
    // Per queue index, with a loop and `coalesce`; null for the control and event queues,
    // whose answers and events go out at once.
    std::vector<std::unique_ptr<NotifyCoalescer>> coalescers_;
    SlotPool<Request> requests_;
    std::vector<Tmf> tmfs_;
    bool events_missed_ = false;
    std::uint64_t bad_requests_ = 0;
    std::uint64_t tmf_count_ = 0;
    std::uint64_t events_sent_ = 0;
};

// The LUN field of a request or event: byte 0 is 1, byte 1 the target, bytes 2-3 the
// single-level LUN (§5.6.6.1). nullopt for anything else.
[[nodiscard]] std::optional<LunAddress> decode_lun(const std::array<std::uint8_t, 8>& field) noexcept;
[[nodiscard]] std::array<std::uint8_t, 8> encode_lun_field(LunAddress at) noexcept;

} // namespace vmm::virtio::scsi
