// SPDX-License-Identifier: Apache-2.0
// QueueFault: why a virtqueue stopped (guest misbehaviour found while walking its rings).
#pragma once

#include <cstdint>
#include <string_view>

#include "vmm/base/result.hpp"

namespace vmm::virtio {

// Every value is a driver error that leaves the ring in a state the device cannot trust. A
// fault is latched: the queue stops touching guest memory and the transport sets
// DEVICE_NEEDS_RESET and raises a configuration change interrupt (virtio 1.2 §2.1.2).
enum class QueueFault : std::uint8_t {
    ring_unmapped = 1,       // a ring part no longer resolves through the DMA space
    queue_overrun,           // more buffers made available than the queue can hold
    head_out_of_range,       // avail ring entry >= queue size
    next_out_of_range,       // next >= queue size, or >= the indirect table's length
    chain_too_long,          // more descriptors than the queue size (or table length): a loop
    head_in_flight,          // a head (split) or buffer ID (packed) that is still in flight
    indirect_not_negotiated, // VIRTQ_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC
    indirect_with_next,      // INDIRECT|NEXT (split), or INDIRECT inside a NEXT list (packed)
    nested_indirect,         // INDIRECT inside an indirect table
    indirect_bad_length,     // table length 0 or not a multiple of 16
    indirect_too_large,      // more table entries than the queue size
    indirect_unmapped,       // the table does not resolve as device-readable memory
    readable_after_writable, // a device-readable buffer after a device-writable one
    chain_length_overflow,   // buffer lengths sum to 2^32 or more
    buffer_unmapped,         // a buffer does not resolve with the access its direction needs
    chain_incomplete,        // packed: a NEXT leads to a descriptor that is not available
};

[[nodiscard]] std::string_view to_string(QueueFault fault) noexcept;

// The result of a ring step that may hit a fault.
template <class T>
using FaultOr = Expected<T, QueueFault>;

} // namespace vmm::virtio
