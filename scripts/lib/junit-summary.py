#!/usr/bin/env python3
"""Count the results in JUnit XML files (Catch2 and pytest write them) and print the
closing line `N passed, N failed[, N skipped]`, listing every failed and skipped test by name.

usage: junit-summary.py [--missing NAME]... FILE...
A FILE that does not exist or does not parse counts as one failure (the suite that should
have written it crashed). --missing NAME counts one extra failure for a suite that never ran.
"""
import re
import sys
import xml.etree.ElementTree as ET


def reason(bad):
    """Why a test failed, in a few lines, so that a log's tail says it without the XML: the
    message, or pytest's `E` lines of the traceback (the assertion and its values, at most 12)
    and the line of the test that failed."""
    message = (bad.get("message") or "").strip()
    text = (bad.text or "").strip()
    lines = text.splitlines()
    e_lines = [line[1:].strip() for line in lines if line.startswith("E ")]
    where = [line for line in lines if re.match(r"^\S+\.py:\d+: ", line)]
    if e_lines:
        shown = e_lines[:6] + (["..."] if len(e_lines) > 12 else []) + e_lines[6:][-6:]
        out = "\n    ".join(x[:300] for x in shown)
        return f"{out}\n    at {where[-1]}" if where else out
    first = (message or text).splitlines()
    return first[0][:300] if first else "(no reason given)"


def main(argv):
    passed, failed, skipped = 0, [], []
    files = []
    args = iter(argv)
    for a in args:
        if a == "--missing":
            failed.append(f"{next(args)} (did not run)")
        else:
            files.append(a)
    for path in files:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            failed.append(f"{path} (no results: {e.__class__.__name__})")
            continue
        for case in root.iter("testcase"):
            name = case.get("name", "?")
            cls = case.get("classname")
            full = f"{cls}::{name}" if cls else name
            bad = case.find("failure")
            if bad is None:
                bad = case.find("error")
            if bad is not None:
                failed.append(f"{full}: {reason(bad)}")
            elif case.find("skipped") is not None:
                skipped.append(full)
            else:
                passed += 1
    for f in failed:
        print(f"FAILED: {f}")
    for s in skipped:
        print(f"SKIPPED: {s}")
    line = f"{passed} passed, {len(failed)} failed"
    if skipped:
        line += f", {len(skipped)} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
