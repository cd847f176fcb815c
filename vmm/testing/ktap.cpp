// SPDX-License-Identifier: Apache-2.0
// KTAP parsing: indentation gives the nesting, a result line closes the subtest above it.
#include "vmm/testing/ktap.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "vmm/testing/text.hpp"

namespace vmm::testing {

namespace {

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

std::size_t leading_blanks(std::string_view s) noexcept
{
    std::size_t n = 0;
    while (n < s.size() && (s[n] == ' ' || s[n] == '\t')) {
        ++n;
    }
    return n;
}

std::string clip_ktap(std::string_view s)
{
    return clip_text(s, KtapParser::MAX_TEXT);
}

bool is_version_line(std::string_view body) noexcept
{
    return body.starts_with("KTAP version ") || body.starts_with("TAP version ");
}

// "1..N", possibly followed by a comment.
bool parse_plan(std::string_view body, std::uint32_t* n) noexcept
{
    if (!body.starts_with("1..")) {
        return false;
    }
    std::uint64_t value = 0;
    std::size_t i = 3;
    for (; i < body.size() && std::isdigit(static_cast<unsigned char>(body[i])) != 0; ++i) {
        value = std::min<std::uint64_t>(value * 10 + static_cast<std::uint64_t>(body[i] - '0'), UINT32_MAX);
    }
    if (i == 3 || (i < body.size() && body[i] != ' ')) {
        return false;
    }
    *n = static_cast<std::uint32_t>(value);
    return true;
}

bool word_at_start(std::string_view body, std::string_view word) noexcept
{
    return body.starts_with(word) && (body.size() == word.size() || body[word.size()] == ' ');
}

bool is_result_line(std::string_view body) noexcept
{
    return word_at_start(body, "ok") || word_at_start(body, "not ok");
}

enum class Directive : std::uint8_t { none, skip, todo, xfail, timeout, error };

Directive directive_of(std::string_view word) noexcept
{
    std::string upper;
    for (char c : word.substr(0, 8)) {
        upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    constexpr std::array<std::pair<std::string_view, Directive>, 5> NAMES { {
        { "SKIP", Directive::skip },
        { "TODO", Directive::todo },
        { "XFAIL", Directive::xfail },
        { "TIMEOUT", Directive::timeout },
        { "ERROR", Directive::error },
    } };
    for (const auto& [name, d] : NAMES) {
        if (upper == name) {
            return d;
        }
    }
    return Directive::none;
}

KtapResult result_of(bool ok, Directive d) noexcept
{
    switch (d) {
    case Directive::skip:
        return KtapResult::skip;
    case Directive::todo:
        return ok ? KtapResult::pass : KtapResult::todo;
    case Directive::xfail:
        return ok ? KtapResult::xfail : KtapResult::fail;
    case Directive::timeout:
    case Directive::error:
        return KtapResult::fail;
    case Directive::none:
        break;
    }
    return ok ? KtapResult::pass : KtapResult::fail;
}

constexpr std::string_view NO_RESULT
    = "no result line: the output ended or was cut off here (a crash, a hang or a timeout)";
// Planned cases without a result that are listed one by one; the rest are one case.
constexpr std::uint32_t MISSING_LISTED = 16;

void count_into(const KtapCase& c, KtapCounts& n)
{
    if (c.subtests.empty()) {
        switch (c.result) {
        case KtapResult::pass: ++n.pass; break;
        case KtapResult::fail: ++n.fail; break;
        case KtapResult::skip: ++n.skip; break;
        case KtapResult::todo: ++n.todo; break;
        case KtapResult::xfail: ++n.xfail; break;
        }
        return;
    }
    const std::size_t failed_before = n.fail;
    for (const auto& s : c.subtests) {
        count_into(s, n);
    }
    if (c.result == KtapResult::fail && n.fail == failed_before) {
        ++n.fail; // the suite itself failed (its init, or a case it did not print)
    }
}

} // namespace

const char* result_name(KtapResult r) noexcept
{
    switch (r) {
    case KtapResult::pass: return "pass";
    case KtapResult::fail: return "fail";
    case KtapResult::skip: return "skip";
    case KtapResult::todo: return "todo";
    case KtapResult::xfail: return "xfail";
    }
    return "fail";
}

KtapCounts count_cases(const std::vector<KtapCase>& tree)
{
    KtapCounts n;
    for (const auto& c : tree) {
        count_into(c, n);
    }
    return n;
}

std::string_view strip_printk_prefix(std::string_view line) noexcept
{
    auto strip_bracket = [](std::string_view s, bool caller) -> std::string_view {
        if (s.size() < 3 || s.front() != '[') {
            return s;
        }
        const std::size_t close = s.find(']');
        if (close == std::string_view::npos || close > 24) {
            return s;
        }
        const std::string_view inside = trim(s.substr(1, close - 1));
        if (inside.empty()) {
            return s;
        }
        std::size_t i = 0;
        if (caller) {
            if (inside[0] != 'T' && inside[0] != 'C') {
                return s;
            }
            i = 1;
        }
        for (; i < inside.size(); ++i) {
            const char c = inside[i];
            if (std::isdigit(static_cast<unsigned char>(c)) == 0 && (caller || c != '.')) {
                return s;
            }
        }
        s.remove_prefix(close + 1);
        if (!s.empty() && s.front() == ' ') {
            s.remove_prefix(1);
        }
        return s;
    };
    const std::string_view after_time = strip_bracket(line, false);
    if (after_time.size() == line.size()) {
        return line;
    }
    return strip_bracket(after_time, true);
}

void KtapParser::open_level(std::size_t indent)
{
    if (levels_.size() < MAX_DEPTH) {
        levels_.push_back(Level {});
        levels_.back().indent = indent;
    }
}

// A level about to close: subtests still waiting for a result line become a failed case, and
// planned cases that never came become failed cases.
void KtapParser::add_missing(Level& level)
{
    if (!level.children.empty()) {
        KtapCase c;
        c.number = static_cast<std::uint32_t>(level.done.size() + 1);
        c.name = level.children_name.empty() ? std::string("(unnamed subtest)") : level.children_name;
        c.result = KtapResult::fail;
        c.directive = std::string(NO_RESULT);
        c.subtests = std::move(level.children);
        level.children.clear();
        level.done.push_back(std::move(c));
    }
    if (level.plan <= level.done.size()) {
        return;
    }
    const auto reported = static_cast<std::uint32_t>(level.done.size());
    const std::uint32_t missing = level.plan - reported;
    const std::uint32_t listed = std::min(missing, MISSING_LISTED);
    for (std::uint32_t i = 1; i <= listed; ++i) {
        KtapCase c;
        c.number = reported + i;
        c.name = "(case " + std::to_string(reported + i) + " of " + std::to_string(level.plan) + ")";
        c.result = KtapResult::fail;
        c.directive = std::string(NO_RESULT);
        level.done.push_back(std::move(c));
    }
    if (missing > listed) {
        KtapCase c;
        c.number = reported + listed + 1;
        c.name = "(cases " + std::to_string(reported + listed + 1) + " to " + std::to_string(level.plan) + ")";
        c.result = KtapResult::fail;
        c.directive = std::string(NO_RESULT);
        level.done.push_back(std::move(c));
    }
}

void KtapParser::close_deeper_than(std::size_t indent)
{
    while (levels_.size() > 1 && levels_.back().indent > indent) {
        Level child = std::move(levels_.back());
        levels_.pop_back();
        add_missing(child); // its own open subtests and unreported plan
        Level& parent = levels_.back();
        for (auto& c : child.done) {
            parent.children.push_back(std::move(c));
        }
        if (!child.name.empty()) {
            parent.children_name = std::move(child.name);
        }
    }
}

void KtapParser::close_top_document()
{
    if (levels_.empty()) {
        return;
    }
    close_deeper_than(0);
    levels_.resize(1);
    Level& top = levels_.front();
    add_missing(top);
    for (auto& c : top.done) {
        top_.push_back(std::move(c));
    }
    levels_.clear();
}

void KtapParser::add_note(Level& level, std::string_view text)
{
    if (note_bytes_ >= MAX_NOTE_BYTES) {
        return;
    }
    note_bytes_ += std::min(text.size(), MAX_TEXT);
    if (level.notes.size() >= MAX_DIAGNOSTICS) {
        level.notes.erase(level.notes.begin());
    }
    level.notes.push_back(clip_ktap(text));
}

void KtapParser::add_result(Level& level, std::string_view body)
{
    const bool ok = body.starts_with("ok");
    std::string_view rest = trim(body.substr(ok ? 2 : 6));
    std::uint64_t number = 0;
    std::size_t digits = 0;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits])) != 0) {
        number = std::min<std::uint64_t>(number * 10 + static_cast<std::uint64_t>(rest[digits] - '0'), UINT32_MAX);
        ++digits;
    }
    rest = trim(rest.substr(digits));
    if (rest.starts_with('-')) {
        rest = trim(rest.substr(1));
    }
    // The directive follows the first unescaped '#' whose next word is a directive keyword;
    // a '#' that is not followed by one is part of the name.
    Directive directive = Directive::none;
    std::string_view directive_text;
    std::string_view name = rest;
    for (std::size_t pos = rest.find('#'); pos != std::string_view::npos; pos = rest.find('#', pos + 1)) {
        if (pos > 0 && rest[pos - 1] == '\\') {
            continue;
        }
        const std::string_view after = trim(rest.substr(pos + 1));
        const std::size_t word_end = std::min(after.find(' '), after.size());
        const Directive d = directive_of(after.substr(0, word_end));
        if (d != Directive::none) {
            directive = d;
            directive_text = trim(after.substr(word_end));
            name = trim(rest.substr(0, pos));
            break;
        }
    }
    if (cases_ >= MAX_CASES) {
        ++dropped_;
        level.notes.clear();
        level.children.clear();
        return;
    }
    ++cases_;
    KtapCase c;
    c.number = digits > 0 ? static_cast<std::uint32_t>(number) : static_cast<std::uint32_t>(level.done.size() + 1);
    c.name = clip_ktap(name);
    c.result = result_of(ok, directive);
    c.directive = clip_ktap(directive_text);
    c.diagnostics = std::move(level.notes);
    c.subtests = std::move(level.children);
    level.notes.clear();
    level.children.clear();
    if (c.name.empty() && !c.subtests.empty()) {
        c.name = level.children_name;
    }
    level.children_name.clear();
    level.done.push_back(std::move(c));
}

void KtapParser::line(std::string_view text)
{
    const std::size_t indent = leading_blanks(text);
    const std::string_view body = trim(text.substr(indent));
    if (is_version_line(body)) {
        if (levels_.empty() || indent <= levels_.front().indent) {
            close_top_document(); // a new document
            open_level(indent);
            return;
        }
        close_deeper_than(indent);
        if (levels_.back().indent < indent) {
            open_level(indent);
        }
        return;
    }
    if (levels_.empty() || body.empty()) {
        return; // nothing is KTAP before a version line
    }
    std::uint32_t plan = 0;
    const bool subtest = body.starts_with("# Subtest:");
    const bool is_plan = parse_plan(body, &plan);
    const bool result = is_result_line(body);
    if (subtest || is_plan || result) {
        if (indent > levels_.back().indent) {
            open_level(indent); // a subtest without its own version line (older KUnit)
        } else {
            close_deeper_than(indent);
        }
        Level& level = levels_.back();
        if (level.indent != indent) {
            return; // between two levels, or deeper than MAX_DEPTH: not part of the tree
        }
        if (subtest) {
            level.name = clip_ktap(trim(body.substr(10)));
        } else if (is_plan) {
            level.plan = plan;
        } else {
            add_result(level, body);
        }
        return;
    }
    if (body.starts_with("# module:") || body.starts_with("# Totals:")) {
        return; // KUnit's metadata for a suite and the run, not about any one case
    }
    // A diagnostic, or any other text: it belongs to the next result of the deepest level
    // it is indented under.
    for (auto it = levels_.rbegin(); it != levels_.rend(); ++it) {
        if (it->indent <= indent) {
            add_note(*it, body.starts_with("# ") ? body.substr(2) : body);
            return;
        }
    }
}

std::vector<KtapCase> KtapParser::finish()
{
    close_top_document();
    return std::move(top_);
}

} // namespace vmm::testing
