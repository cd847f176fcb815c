// SPDX-License-Identifier: Apache-2.0
// Names of queue faults, for logs and tests.
#include "virtio/queue/queue_fault.hpp"

namespace vmm::virtio {

std::string_view to_string(QueueFault fault) noexcept
{
    switch (fault) {
    case QueueFault::ring_unmapped:
        return "ring not mapped";
    case QueueFault::queue_overrun:
        return "avail index moved by more than the queue size";
    case QueueFault::head_out_of_range:
        return "chain head out of range";
    case QueueFault::next_out_of_range:
        return "next index out of range";
    case QueueFault::chain_too_long:
        return "descriptor chain longer than the queue (loop)";
    case QueueFault::head_in_flight:
        return "buffer made available again while in flight";
    case QueueFault::indirect_not_negotiated:
        return "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
    case QueueFault::indirect_with_next:
        return "indirect descriptor chained with NEXT";
    case QueueFault::nested_indirect:
        return "indirect descriptor inside an indirect table";
    case QueueFault::indirect_bad_length:
        return "indirect table length is 0 or not a multiple of 16";
    case QueueFault::indirect_too_large:
        return "indirect table has more entries than the queue size";
    case QueueFault::indirect_unmapped:
        return "indirect table not in mapped memory";
    case QueueFault::readable_after_writable:
        return "device-readable buffer after a device-writable one";
    case QueueFault::chain_length_overflow:
        return "chain length does not fit in 32 bits";
    case QueueFault::buffer_unmapped:
        return "buffer not in mapped memory";
    case QueueFault::chain_incomplete:
        return "chained descriptor not available";
    }
    return "unknown queue fault";
}

} // namespace vmm::virtio
