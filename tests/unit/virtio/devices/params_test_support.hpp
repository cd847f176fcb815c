// SPDX-License-Identifier: Apache-2.0
// Helpers for the device kinds' config tests: an entry from JSON text, and error text.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/base/result.hpp"
#include "vmm/config/config.hpp"

namespace vmm::virtio::test {

// devices[1] of a config file in /vm.
inline config::DeviceConfig entry(std::string type, std::string_view params)
{
    config::DeviceConfig e;
    e.type = std::move(type);
    e.params = nlohmann::json::parse(params);
    e.origin = "devices[1]";
    e.base_dir = "/vm";
    return e;
}

template <class T>
std::string error_text(const Result<T>& r)
{
    return r ? std::string("<no error>") : r.error().describe();
}

} // namespace vmm::virtio::test
