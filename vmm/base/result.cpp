// SPDX-License-Identifier: Apache-2.0
// The error category for vmm::Errc.
#include "vmm/base/result.hpp"

namespace vmm {
namespace {

class VmmCategory final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "vireo"; }
    [[nodiscard]] std::string message(int ev) const override
    {
        switch (static_cast<Errc>(ev)) {
        case Errc::invalid_argument:
            return "invalid argument";
        case Errc::out_of_range:
            return "out of range";
        case Errc::not_found:
            return "not found";
        case Errc::unsupported:
            return "unsupported";
        case Errc::bad_format:
            return "bad format";
        case Errc::io_error:
            return "I/O error";
        case Errc::busy:
            return "busy";
        case Errc::guest_fault:
            return "guest fault";
        case Errc::device_failed:
            return "device failed";
        }
        return "unknown error";
    }
};

} // namespace

const std::error_category& vmm_category() noexcept
{
    static const VmmCategory category;
    return category;
}

} // namespace vmm
