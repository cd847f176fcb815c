// SPDX-License-Identifier: Apache-2.0
// virtio-pmem wire format: feature bits, configuration layout, requests (virtio 1.2 §5.19).
#pragma once

#include <cstdint>

#include "virtio/spec/wire.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace vmm::virtio {

// §5.19.3: the range is shared memory region VIRTIO_PMEM_SHMEM_REGION_ID instead of the
// config's start and size.
inline constexpr unsigned VIRTIO_PMEM_F_SHMEM_REGION = 0;
inline constexpr std::uint8_t VIRTIO_PMEM_SHMEM_REGION_ID = 0;

// §5.19.6 request types.
inline constexpr std::uint32_t VIRTIO_PMEM_REQ_TYPE_FLUSH = 0;
// §5.19.6: ret is 0 on success, -1 on failure.
inline constexpr std::uint32_t VIRTIO_PMEM_RESP_OK = 0;
inline constexpr std::uint32_t VIRTIO_PMEM_RESP_EIO = 0xffff'ffff;

// §5.19.4: guest-physical start and size of the persistent memory range.
struct VirtioPmemConfig {
    le64 start;
    le64 size;
};
static_assert(sizeof(VirtioPmemConfig) == 16 && WireType<VirtioPmemConfig>);

struct VirtioPmemReq {
    le32 type;
};
static_assert(sizeof(VirtioPmemReq) == 4 && WireType<VirtioPmemReq>);

struct VirtioPmemResp {
    le32 ret;
};
static_assert(sizeof(VirtioPmemResp) == 4 && WireType<VirtioPmemResp>);

} // namespace vmm::virtio
