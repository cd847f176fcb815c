// SPDX-License-Identifier: Apache-2.0
// The outcome of a SCSI command (status, sense data, bytes transferred), how a command fails,
// and sense data in fixed or descriptor format (SPC-4 §4.5).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "virtio/spec/scsi.hpp"
#include "vmm/base/result.hpp"

namespace vmm::virtio::scsi {

// SPC-4 §4.5.1: which of the two sense data formats to build; the D_SENSE bit of the control
// mode page picks it for CHECK CONDITION, the DESC bit for REQUEST SENSE.
enum class SenseFormat : std::uint8_t { fixed, descriptor };

// Where an invalid field starts (SPC-4 §4.5.2.4.2, the field pointer sense-key specific data).
struct FieldPointer {
    bool in_cdb = true;     // C/D: the CDB, or else the parameter list of the data-out buffer
    std::uint16_t byte = 0; // FIELD POINTER
    std::int8_t bit = -1;   // BIT POINTER (the field's most significant bit); -1: none (BPV 0)
};

struct SenseInfo {
    SenseCode code;
    std::optional<std::uint64_t> information; // INFORMATION: an LBA or a miscompare offset
    std::optional<FieldPointer> field;
};

// Why a command ends early: CHECK CONDITION with sense data, or a status without any (BUSY,
// TASK SET FULL).
struct CommandError {
    std::uint8_t status = SCSI_STATUS_CHECK_CONDITION;
    SenseInfo sense;
};

template <class T = void>
using ScsiExpected = Expected<T, CommandError>;

[[nodiscard]] inline Unexpected<CommandError> check(SenseCode code, std::optional<std::uint64_t> information = {})
{
    return Unexpected(CommandError { SCSI_STATUS_CHECK_CONDITION, SenseInfo { code, information, {} } });
}
// ILLEGAL REQUEST, INVALID FIELD IN CDB, pointing at `byte` (and `bit`) of the CDB.
[[nodiscard]] inline Unexpected<CommandError> invalid_cdb(std::uint16_t byte, std::int8_t bit = -1)
{
    return Unexpected(CommandError { SCSI_STATUS_CHECK_CONDITION,
        SenseInfo { SENSE_INVALID_FIELD_IN_CDB, {}, FieldPointer { true, byte, bit } } });
}
// ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST, pointing into the parameter list.
[[nodiscard]] inline Unexpected<CommandError> invalid_parameter(std::uint16_t byte, std::int8_t bit = -1)
{
    return Unexpected(CommandError { SCSI_STATUS_CHECK_CONDITION,
        SenseInfo { SENSE_INVALID_FIELD_IN_PARAMETER_LIST, {}, FieldPointer { false, byte, bit } } });
}
[[nodiscard]] inline Unexpected<CommandError> status_only(std::uint8_t status)
{
    return Unexpected(CommandError { status, {} });
}

// SCSI_TRY(expr): evaluate a ScsiExpected; on error return it from the enclosing function (whose
// result is a ScsiExpected of any type), otherwise yield its value.
#define SCSI_TRY(expr)                                                                                      \
    __extension__({                                                                                         \
        auto&& scsi_try_result_ = (expr);                                                                   \
        if (!scsi_try_result_) {                                                                            \
            return ::vmm::Unexpected(std::move(scsi_try_result_).error());                                  \
        }                                                                                                   \
        std::move(scsi_try_result_).value();                                                                \
    })

// What a command ended with, for the transport to put in its response.
struct ScsiResult {
    std::uint8_t status = SCSI_STATUS_GOOD;
    std::uint8_t sense_len = 0;     // valid bytes of `sense`, with CHECK CONDITION only
    std::uint32_t data_in_len = 0;  // bytes written to the front of the data-in buffer
    std::uint32_t data_out_len = 0; // bytes taken from the front of the data-out buffer
    std::array<std::uint8_t, SCSI_SENSE_MAX> sense {};

    [[nodiscard]] std::span<const std::uint8_t> sense_data() const noexcept { return { sense.data(), sense_len }; }
};

// Builds the sense data for `info` into `out`; returns its length (18 fixed, 8 to 32 descriptor).
std::size_t build_sense(
    const SenseInfo& info, SenseFormat format, std::span<std::uint8_t, SCSI_SENSE_MAX> out) noexcept;
// The result of a command that failed with `error`.
[[nodiscard]] ScsiResult error_result(const CommandError& error, SenseFormat format) noexcept;

} // namespace vmm::virtio::scsi
