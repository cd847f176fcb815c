// SPDX-License-Identifier: Apache-2.0
// Helpers for the config tests: a scratch directory and error text.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "vmm/base/result.hpp"

namespace vmm::config::test {

// A fresh directory under the temp dir, removed with everything in it at scope exit.
class TempDir {
public:
    TempDir()
    {
        std::string templ = (std::filesystem::temp_directory_path() / "vireo-config-XXXXXX").string();
        if (::mkdtemp(templ.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = templ;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

    // Writes `text` to `name` (relative to the directory, parents created) and returns its path.
    std::filesystem::path write(std::string_view name, std::string_view text) const
    {
        const std::filesystem::path file = path_ / name;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary) << text;
        return file;
    }

private:
    std::filesystem::path path_;
};

// The message of a failed Result, or a marker that makes any Contains() check fail.
template <class T> std::string error_text(const Expected<T, Error>& r)
{
    return r ? std::string("<no error>") : r.error().message;
}

} // namespace vmm::config::test
