// SPDX-License-Identifier: Apache-2.0
// Reading a config file: size cap, JSON syntax errors with positions, duplicate keys.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "vmm/base/unique_fd.hpp"
#include "vmm/config/config.hpp"

namespace vmm::config {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Result<std::string> read_text(const fs::path& file)
{
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return fail_errno(errno, "{}: cannot open config file", file.string());
    }
    struct stat st { };
    if (::fstat(fd.get(), &st) != 0) {
        return fail_errno(errno, "{}: cannot stat config file", file.string());
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(Errc::invalid_argument, "{}: not a regular file; give the path of a JSON config file",
            file.string());
    }
    std::string text;
    // Read one byte past the cap, so that a file that grew after fstat is still caught.
    text.resize(MAX_CONFIG_FILE_SIZE + 1);
    std::size_t used = 0;
    while (used < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return fail_errno(errno, "{}: cannot read config file", file.string());
        }
        if (n == 0) {
            break;
        }
        used += static_cast<std::size_t>(n);
    }
    if (used > MAX_CONFIG_FILE_SIZE) {
        return fail(Errc::out_of_range,
            "{}: larger than the {} KiB limit for a config file; is this the right file?", file.string(),
            MAX_CONFIG_FILE_SIZE / KiB);
    }
    text.resize(used);
    return text;
}

// Thrown from the parser callback, which has no other way to stop the parse.
struct DuplicateKey {
    std::string path;
};

// nlohmann keeps the last of two equal keys without a word; a config with "memory" twice is
// a mistake whose effect the user cannot see, so it is refused. This tracks the JSON path of
// the value being parsed, for the message.
class DuplicateKeyCheck {
public:
    bool operator()(int /*depth*/, json::parse_event_t event, json& parsed)
    {
        switch (event) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
            enter(event == json::parse_event_t::array_start);
            break;
        case json::parse_event_t::key: {
            Frame& frame = frames_.back();
            frame.key = parsed.get<std::string>();
            if (!frame.keys.insert(frame.key).second) {
                throw DuplicateKey { child_path(frame) };
            }
            break;
        }
        case json::parse_event_t::value:
            if (!frames_.empty() && frames_.back().array) {
                ++frames_.back().index;
            }
            break;
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            frames_.pop_back();
            break;
        }
        return true;
    }

private:
    struct Frame {
        bool array = false;
        std::string path;
        std::set<std::string> keys;
        std::string key;
        std::size_t index = 0; // elements seen so far, in an array
    };

    static std::string child_path(const Frame& frame)
    {
        if (frame.array) {
            return fmt::format("{}[{}]", frame.path, frame.index);
        }
        return frame.path.empty() ? frame.key : frame.path + "." + frame.key;
    }

    void enter(bool array)
    {
        Frame frame;
        frame.array = array;
        if (!frames_.empty()) {
            frame.path = child_path(frames_.back());
            if (frames_.back().array) {
                ++frames_.back().index;
            }
        }
        frames_.push_back(std::move(frame));
    }

    std::vector<Frame> frames_;
};

// nlohmann's message is "[json.exception.parse_error.101] parse error at line 3, column 5: what";
// the position is rebuilt from the byte offset and only "what" is kept.
std::string describe_syntax_error(const json::parse_error& e, std::string_view text)
{
    const std::string_view what = e.what();
    const auto column = what.find(", column ");
    const auto colon = what.find(": ", column == std::string_view::npos ? 0 : column);
    const std::string_view detail = colon == std::string_view::npos ? what : what.substr(colon + 2);
    // e.byte counts the bytes read, including the one that failed.
    const std::size_t end = e.byte == 0 ? 0 : std::min<std::size_t>(e.byte - 1, text.size());
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    return fmt::format("invalid JSON at line {}, column {}: {}", line, end - line_start + 1, detail);
}

} // namespace

Result<VmConfig> load_file(const fs::path& file)
{
    const std::string text = VMM_TRY(read_text(file));
    json doc;
    try {
        doc = json::parse(text, DuplicateKeyCheck {});
    } catch (const DuplicateKey& dup) {
        return fail(
            Errc::bad_format, "{}: {}: duplicate key; remove one of the two", file.string(), dup.path);
    } catch (const json::parse_error& e) {
        return fail(Errc::bad_format, "{}: {}", file.string(), describe_syntax_error(e, text));
    } catch (const json::exception& e) {
        return fail(Errc::bad_format, "{}: invalid JSON: {}", file.string(), e.what());
    }
    std::error_code ec;
    const fs::path absolute = fs::absolute(file, ec);
    if (ec) {
        return fail(Error { ec, fmt::format("{}: cannot resolve path: {}", file.string(), ec.message()) });
    }
    auto cfg = parse_json(doc, absolute.parent_path());
    if (!cfg) {
        return fail(Error { cfg.error().code, fmt::format("{}: {}", file.string(), cfg.error().message) });
    }
    return cfg;
}

} // namespace vmm::config
