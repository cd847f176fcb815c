// SPDX-License-Identifier: Apache-2.0
// KTAP (and TAP 13/14) from a guest console, as KUnit and kselftest print it: a tree of test
// results with SKIP/TODO/XFAIL directives, nested subtests and diagnostics.
// Format: Documentation/dev-tools/ktap.rst in the kernel tree.
//
// The console is written by the guest, so every line is untrusted: the tree is bounded in
// depth, in cases, and in text kept per case, and anything that is not KTAP is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vmm::testing {

enum class KtapResult : std::uint8_t {
    pass,
    fail,
    skip,  // "# SKIP": not run
    todo,  // "not ok ... # TODO": a known failure, not counted as one
    xfail, // "# XFAIL": failed as expected
};

[[nodiscard]] const char* result_name(KtapResult r) noexcept;
// Whether a case with this result fails the run.
[[nodiscard]] inline bool is_failure(KtapResult r) noexcept { return r == KtapResult::fail; }

struct KtapCase {
    std::uint32_t number = 0;
    std::string name;
    KtapResult result = KtapResult::pass;
    std::string directive; // the directive's text after its keyword (SKIP's reason, ...)
    std::vector<std::string> diagnostics; // lines printed for it before its result line
    std::vector<KtapCase> subtests;
};

struct KtapCounts {
    std::size_t pass = 0, fail = 0, skip = 0, todo = 0, xfail = 0;
    [[nodiscard]] std::size_t total() const noexcept { return pass + fail + skip + todo + xfail; }
};

// Counts the leaves (cases without subtests) of a tree, and a parent that failed while none
// of its subtests did (a suite whose set-up failed).
[[nodiscard]] KtapCounts count_cases(const std::vector<KtapCase>& tree);

class KtapParser {
public:
    static constexpr std::size_t MAX_DEPTH = 8;
    static constexpr std::size_t MAX_CASES = 20'000;
    // Diagnostic text kept in all (a guest that prints without end cannot fill the VMM's memory).
    static constexpr std::size_t MAX_NOTE_BYTES = 8 << 20;
    static constexpr std::size_t MAX_DIAGNOSTICS = 64; // per case: the last ones are kept
    static constexpr std::size_t MAX_TEXT = 512;       // characters kept of a name or line

    // One console line: no line ending, no printk timestamp (see strip_printk_prefix).
    void line(std::string_view text);
    // Ends the input: subtests still open become failed cases of their parent, and planned
    // cases that never reported become failed cases ("no result"). Returns the top level.
    [[nodiscard]] std::vector<KtapCase> finish();
    // Whether a KTAP or TAP version line has been seen.
    [[nodiscard]] bool seen() const noexcept { return !levels_.empty() || !top_.empty(); }
    // Cases dropped over MAX_CASES.
    [[nodiscard]] std::size_t dropped() const noexcept { return dropped_; }

private:
    struct Level {
        std::size_t indent = 0;
        std::string name;                // from "# Subtest: NAME"
        std::uint32_t plan = 0;          // from "1..N"; 0: none
        std::vector<KtapCase> done;      // results at this level, in order
        std::vector<std::string> notes;  // diagnostics waiting for the next result
        std::vector<KtapCase> children;  // a closed subtest level, waiting for its result line
        std::string children_name;       // that subtest's "# Subtest:" name
    };

    void open_level(std::size_t indent);
    void close_deeper_than(std::size_t indent);
    void close_top_document();
    void add_note(Level& level, std::string_view text);
    void add_result(Level& level, std::string_view body);
    static void add_missing(Level& level);

    std::vector<Level> levels_;
    std::vector<KtapCase> top_; // finished top-level cases of earlier documents
    std::size_t cases_ = 0;
    std::size_t dropped_ = 0;
    std::size_t note_bytes_ = 0;
};

// A console line without the printk prefix: "[   12.345678] " and, with CONFIG_PRINTK_CALLER,
// "[    T1] " after it. Other lines are returned as they are.
[[nodiscard]] std::string_view strip_printk_prefix(std::string_view line) noexcept;

} // namespace vmm::testing
