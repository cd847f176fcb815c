// SPDX-License-Identifier: Apache-2.0
// Precompiled for every unit test source: Catch2, Boost.Asio, nlohmann/json and spdlog are most
// of what each test file's compiler reads, and the tests are built one file at a time.
// Only headers that every test may see without harm belong here: nothing of Vireo's own.
// (No include guard: it is compiled on its own, as the first thing of each test file.)

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/small_vector.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
