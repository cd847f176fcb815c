// SPDX-License-Identifier: Apache-2.0
// EntropySource: where virtio-rng's bytes come from (getrandom(2), or a file or device).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "vmm/base/result.hpp"

namespace vmm::virtio {

// Injected into RngDevice, so that tests can use a deterministic source. Called on the loop
// thread; must not block.
class EntropySource {
public:
    EntropySource() = default;
    EntropySource(const EntropySource&) = delete;
    EntropySource& operator=(const EntropySource&) = delete;
    virtual ~EntropySource() = default;

    // Fills the buffers in order, straight into guest memory; returns how many bytes it wrote
    // (maybe fewer than asked), 0 when the source has ended for good, or an error: Errc::busy
    // when nothing is available yet, anything else for a host failure.
    [[nodiscard]] virtual Result<std::size_t> read(std::span<const iovec> into) noexcept = 0;
    // For log lines: "getrandom", "/dev/hwrng".
    [[nodiscard]] virtual std::string describe() const = 0;
};

// getrandom(2) with GRND_NONBLOCK: the kernel's CSPRNG, which never ends; busy only before the
// host's pool is initialised (early boot).
[[nodiscard]] std::unique_ptr<EntropySource> make_getrandom_source();

// A file or device read with readv(2): a character device such as /dev/urandom or
// /dev/hwrng, a FIFO, or a regular file. Opened non-blocking (a FIFO without a writer or a slow
// hardware RNG must not stall the loop). A regular file is read once from the start and not
// re-read at its end: repeating bytes would hand the guest the same "entropy" twice, which
// is worse than none. At the end the source reports 0, and the device stops supplying bytes.
[[nodiscard]] Result<std::unique_ptr<EntropySource>> open_file_source(const std::filesystem::path& path);

} // namespace vmm::virtio
