#!/usr/bin/env python3
"""Run every libFuzzer target (tests/fuzz/fuzz_*) of a build directory briefly, after replaying its regression inputs, and
write a JUnit file with one test case per target. Targets run side by side, one per CPU (each is
single-threaded).

usage: fuzz-smoke.py BUILD_DIR JUNIT_FILE [SECONDS]

Regression inputs live in tests/data/fuzz-regressions/<target>/ (each a crash or hang that was
fixed); each is replayed first, then the target fuzzes for SECONDS (default 30) from its
corpus in tests/data/fuzz-corpus/<target>/ plus a scratch copy. A crash, a sanitizer report or
a timeout fails the target; the crashing input is left in test-results/fuzz-artifacts/.
"""
import concurrent.futures
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import xml.sax.saxutils as sax

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_target(exe, name, seconds, artifacts):
    regressions = ROOT / "tests" / "data" / "fuzz-regressions" / name
    corpus = ROOT / "tests" / "data" / "fuzz-corpus" / name
    inputs = sorted(p for p in regressions.glob("*") if p.is_file()) if regressions.is_dir() else []
    if inputs:
        r = subprocess.run([str(exe), *map(str, inputs)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=300)
        if r.returncode != 0:
            return f"a regression input fails again:\n{r.stdout[-4000:]}"
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as scratch:
        dirs = [scratch] + ([str(corpus)] if corpus.is_dir() else [])
        artifacts.mkdir(parents=True, exist_ok=True)
        cmd = [str(exe), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
               f"-artifact_prefix={artifacts}/{name}-", *dirs]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=seconds + 300)
        stats = [line for line in r.stdout.splitlines() if line.startswith(("stat::", "Done "))]
        print(f"fuzz-smoke: {name}: " + "; ".join(stats), file=sys.stderr)
        if r.returncode != 0:
            return f"the fuzzer found a failure:\n{r.stdout[-4000:]}"
    return None


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    build = pathlib.Path(argv[0])
    junit = pathlib.Path(argv[1])
    seconds = int(argv[2]) if len(argv) > 2 else 30
    artifacts = junit.parent / "fuzz-artifacts"
    cases = []
    targets = sorted(p for p in (build / "tests" / "fuzz").glob("fuzz_*") if p.is_file() and p.stat().st_mode & 0o111)
    if not targets:
        cases.append(("fuzz targets", 0.0, f"no fuzz_* executables in {build}/tests/fuzz"))

    def one(exe):
        t0 = time.monotonic()
        try:
            failure = run_target(exe, exe.name, seconds, artifacts)
        except subprocess.TimeoutExpired:
            failure = "the fuzzer did not finish in time"
        if failure:
            # The JUnit file may not travel with the log: the log says why, too.
            print(f"fuzz-smoke: {exe.name} FAILED: {failure[-3000:]}", file=sys.stderr)
        return (exe.name, time.monotonic() - t0, failure)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        cases.extend(pool.map(one, targets))
    with junit.open("w") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="fuzz">')
        for name, secs, failure in cases:
            f.write(f'<testcase classname="fuzz" name={sax.quoteattr(name)} time="{secs:.1f}">')
            if failure:
                f.write(f'<failure message={sax.quoteattr(failure.splitlines()[0])}>{sax.escape(failure)}</failure>')
            f.write("</testcase>")
        f.write("</testsuite></testsuites>\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
