// SPDX-License-Identifier: Apache-2.0
// Kernel failure reports: the first line of each kind as the kernel prints it (panic.c,
// fault.c, traps.c, kasan/report.c, ubsan.c, kcsan/report.c, lockdep.c, hung_task.c,
// watchdog.c, rcu/tree_stall.h).
#include "vmm/testing/kernel_log.hpp"

#include <array>
#include <utility>

#include "vmm/testing/text.hpp"

namespace vmm::testing {

namespace {

struct Pattern {
    std::string_view text;
    bool prefix; // at the start of the line, or anywhere in it
    KernelFailureKind kind;
};

// Order matters: the first match wins ("BUG: KASAN:" before "BUG: ").
constexpr std::array<Pattern, 31> PATTERNS { {
    { "Kernel panic - not syncing", true, KernelFailureKind::panic },
    { "BUG: KASAN:", true, KernelFailureKind::kasan },
    { "BUG: KCSAN:", true, KernelFailureKind::kcsan },
    { "BUG: KFENCE:", true, KernelFailureKind::kfence },
    { "UBSAN:", true, KernelFailureKind::ubsan },
    { "BUG: soft lockup", false, KernelFailureKind::soft_lockup },
    { "BUG: workqueue lockup", false, KernelFailureKind::soft_lockup },
    { "Watchdog detected hard LOCKUP", false, KernelFailureKind::soft_lockup },
    { "self-detected stall on CPU", false, KernelFailureKind::rcu_stall },
    { "detected stalls on CPUs/tasks", false, KernelFailureKind::rcu_stall },
    { "detected expedited stalls", false, KernelFailureKind::rcu_stall },
    { "INFO: task ", true, KernelFailureKind::hung_task }, // "... blocked for more than N seconds."
    { "WARNING: possible ", true, KernelFailureKind::lockdep },
    { "WARNING: inconsistent lock state", true, KernelFailureKind::lockdep },
    { "WARNING: suspicious RCU usage", true, KernelFailureKind::lockdep },
    { "WARNING: bad unlock balance detected", true, KernelFailureKind::lockdep },
    { "WARNING: held lock freed", true, KernelFailureKind::lockdep },
    { "WARNING: lock held when returning to user space", true, KernelFailureKind::lockdep },
    { "WARNING: Nested lock was not taken", true, KernelFailureKind::lockdep },
    { "WARNING: bad contention detected", true, KernelFailureKind::lockdep },
    { "WARNING: lock held", true, KernelFailureKind::lockdep },
    { "INFO: trying to register non-static key", true, KernelFailureKind::lockdep },
    { "WARNING: CPU: ", true, KernelFailureKind::warning },
    { "Oops: ", true, KernelFailureKind::oops },
    { "BUG: unable to handle ", true, KernelFailureKind::oops },
    { "BUG: kernel NULL pointer dereference", true, KernelFailureKind::oops },
    { "general protection fault", true, KernelFailureKind::oops },
    { "stack segment: ", true, KernelFailureKind::oops },
    { "Unable to handle kernel ", true, KernelFailureKind::oops }, // arm64
    { "kernel BUG at ", true, KernelFailureKind::bug },
    { "BUG: ", true, KernelFailureKind::bug },
} };

std::string clip_report(std::string_view s)
{
    return clip_text(s, KernelLogScanner::MAX_TEXT);
}

bool ends_report(KernelFailureKind kind, std::string_view text, std::size_t lines_so_far) noexcept
{
    if (text.starts_with("---[ end")) {
        return true;
    }
    const bool sanitizer = kind == KernelFailureKind::kasan || kind == KernelFailureKind::ubsan
        || kind == KernelFailureKind::kcsan || kind == KernelFailureKind::kfence;
    if (sanitizer && lines_so_far > 1 && text.size() >= 10 && text.find_first_not_of('=') == std::string_view::npos) {
        return true;
    }
    const bool task_dump = kind == KernelFailureKind::hung_task || kind == KernelFailureKind::soft_lockup
        || kind == KernelFailureKind::rcu_stall;
    return task_dump && text == " </TASK>";
}

} // namespace

const char* kind_name(KernelFailureKind k) noexcept
{
    switch (k) {
    case KernelFailureKind::panic: return "panic";
    case KernelFailureKind::oops: return "oops";
    case KernelFailureKind::bug: return "bug";
    case KernelFailureKind::warning: return "warning";
    case KernelFailureKind::kasan: return "kasan";
    case KernelFailureKind::ubsan: return "ubsan";
    case KernelFailureKind::kcsan: return "kcsan";
    case KernelFailureKind::kfence: return "kfence";
    case KernelFailureKind::lockdep: return "lockdep";
    case KernelFailureKind::hung_task: return "hung_task";
    case KernelFailureKind::soft_lockup: return "soft_lockup";
    case KernelFailureKind::rcu_stall: return "rcu_stall";
    }
    return "bug";
}

bool classify_report_line(std::string_view text, KernelFailureKind* kind) noexcept
{
    for (const Pattern& p : PATTERNS) {
        const bool hit = p.prefix ? text.starts_with(p.text) : text.find(p.text) != std::string_view::npos;
        if (!hit) {
            continue;
        }
        if (p.kind == KernelFailureKind::hung_task && text.find("blocked for more than") == std::string_view::npos) {
            continue;
        }
        *kind = p.kind;
        return true;
    }
    return false;
}

void KernelLogScanner::line(std::string_view text)
{
    ++lines_;
    KernelFailureKind kind {};
    const bool starts = classify_report_line(text, &kind);
    const bool new_report = starts && (!in_report_ || kind == KernelFailureKind::panic);
    if (new_report) {
        if (failures_.size() >= MAX_FAILURES) {
            ++overflow_;
            in_report_ = false;
        } else {
            KernelFailure f;
            f.kind = kind;
            f.title = clip_report(text);
            f.line = lines_;
            // A WARN or BUG is announced by a "cut here" line just before it, or before the
            // message of a WARN(cond, fmt, ...), which then belongs to the report too.
            if (previous_.find("[ cut here ]") != std::string::npos) {
                f.excerpt.push_back(previous_);
            } else if (previous2_.find("[ cut here ]") != std::string::npos) {
                f.excerpt.push_back(previous2_);
                f.excerpt.push_back(previous_);
            }
            f.excerpt.push_back(clip_report(text));
            failures_.push_back(std::move(f));
            in_report_ = true;
        }
    } else if (in_report_) {
        KernelFailure& f = failures_.back();
        f.excerpt.push_back(clip_report(text));
        if (ends_report(f.kind, text, f.excerpt.size()) || f.excerpt.size() >= MAX_EXCERPT) {
            in_report_ = false;
        }
    }
    previous2_ = std::move(previous_);
    previous_ = clip_report(text);
}

void mark_known(std::vector<KernelFailure>& failures, const std::vector<std::string>& texts)
{
    for (auto& f : failures) {
        for (const auto& line : f.excerpt) {
            for (const auto& t : texts) {
                f.known = f.known || line.find(t) != std::string::npos;
            }
        }
    }
}

} // namespace vmm::testing
