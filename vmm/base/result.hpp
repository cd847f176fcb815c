// SPDX-License-Identifier: Apache-2.0
// Result<T>: a value or an Error, in the shape of C++23 std::expected (not in g++ 12).
#pragma once

#include <cassert>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace vmm {

// An error code plus a human-readable message naming what failed and, for user-facing errors,
// how to fix it. Messages are built only on failure paths.
struct Error {
    std::error_code code;
    std::string message;

    [[nodiscard]] std::string describe() const
    {
        if (message.empty()) {
            return code.message();
        }
        return message;
    }
};

template <class E>
class Unexpected {
public:
    explicit Unexpected(E e) : error_(std::move(e)) {}
    [[nodiscard]] E& error() & noexcept { return error_; }
    [[nodiscard]] E&& error() && noexcept { return std::move(error_); }

private:
    E error_;
};

template <class E>
Unexpected(E) -> Unexpected<E>;

template <class T, class E>
class [[nodiscard]] Expected {
public:
    using value_type = T;
    using error_type = E;

    Expected()
        requires std::is_default_constructible_v<T>
        : v_(std::in_place_index<0>)
    {
    }
    template <class U = T>
        requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, Expected>)
    Expected(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) // NOLINT(google-explicit-constructor)
    {
    }
    template <class G>
    Expected(Unexpected<G> u) : v_(std::in_place_index<1>, std::move(u).error()) // NOLINT
    {
    }

    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    [[nodiscard]] T& value() & { return check(), std::get<0>(v_); }
    [[nodiscard]] const T& value() const& { return check(), std::get<0>(v_); }
    [[nodiscard]] T&& value() && { return check(), std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }

    [[nodiscard]] E& error() & { return std::get<1>(v_); }
    [[nodiscard]] const E& error() const& { return std::get<1>(v_); }
    [[nodiscard]] E&& error() && { return std::get<1>(std::move(v_)); }

    template <class U>
    [[nodiscard]] T value_or(U&& fallback) const&
    {
        return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
    }

private:
    void check() const { assert(has_value() && "value() on an error Result"); }
    std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Expected<void, E> {
public:
    using value_type = void;
    using error_type = E;

    Expected() = default;
    template <class G>
    Expected(Unexpected<G> u) : error_(std::move(u).error()), ok_(false) // NOLINT
    {
    }

    [[nodiscard]] bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    void value() const { assert(ok_ && "value() on an error Result"); }
    [[nodiscard]] E& error() & { return error_; }
    [[nodiscard]] const E& error() const& { return error_; }
    [[nodiscard]] E&& error() && { return std::move(error_); }

private:
    E error_{};
    bool ok_ = true;
};

template <class T = void>
using Result = Expected<T, Error>;

// Project error codes, for failures that have no errno.
enum class Errc {
    invalid_argument = 1,
    out_of_range,
    not_found,
    unsupported,
    bad_format,
    io_error,
    busy,
    guest_fault,
    device_failed,
};

const std::error_category& vmm_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept
{
    return {static_cast<int>(e), vmm_category()};
}

// fail(Errc::x, "format {}", args...): build the error side of a Result.
template <class... Args>
[[nodiscard]] Unexpected<Error> fail(Errc code, fmt::format_string<Args...> f, Args&&... args)
{
    return Unexpected(Error{make_error_code(code), fmt::format(f, std::forward<Args>(args)...)});
}

template <class... Args>
[[nodiscard]] Unexpected<Error> fail_errno(int err, fmt::format_string<Args...> f, Args&&... args)
{
    auto code = std::error_code(err, std::system_category());
    return Unexpected(Error{code, fmt::format(f, std::forward<Args>(args)...) + ": " + code.message()});
}

[[nodiscard]] inline Unexpected<Error> fail(Error e)
{
    return Unexpected(std::move(e));
}

} // namespace vmm

template <>
struct std::is_error_code_enum<vmm::Errc> : std::true_type { };

// VMM_TRY(expr): evaluate a Result; on error return it from the enclosing function, otherwise
// yield its value. A GNU statement expression, like SerenityOS's TRY.
#define VMM_TRY(expr)                                                                                       \
    __extension__({                                                                                         \
        auto&& vmm_try_result_ = (expr);                                                                    \
        if (!vmm_try_result_) {                                                                             \
            return ::vmm::fail(std::move(vmm_try_result_).error());                                         \
        }                                                                                                   \
        std::move(vmm_try_result_).value();                                                                 \
    })
