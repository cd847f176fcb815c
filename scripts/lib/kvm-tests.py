#!/usr/bin/env python3
"""Run the guest-boot (pytest -m kvm) tests, each in its own scripts/sandbox, and leave one JUnit
file per test in OUTDIR.

usage: kvm-tests.py OUTDIR [PYTEST_ARGS...]

Each test gets a fresh sandbox, so a test that wedges the nested VM takes only itself down.
When the sandbox itself fails (status 124: timed out, 125: the VM died) the test is run again
in a new sandbox, and said so; with a hardware /dev/kvm a second sandbox failure is reported as
the test's failure.

Where the sandbox nests (no hardware virtualisation on this machine), a failed test is run
again in a new sandbox too: the emulated nested SVM now and then resets a guest (a triple
fault, under QEMU microvm and q35 as under Vireo), hangs it, or crashes the nested VM's own
kernel, independent of the test. A test gets at most three runs and fails when all of them
failed; one that passed only on a later run is named at the end (earlier runs' JUnit files are
kept beside its own), so flakiness stays visible. With a hardware /dev/kvm, a failure of
the test itself is never retried.
"""
import os
import pathlib
import subprocess
import sys
import time
import xml.sax.saxutils as sax

ROOT = pathlib.Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "scripts" / "sandbox"
PYTHON = "/usr/bin/python3"
# Room for the slowest test with the VM's start: a test takes 20 to 45 s in the nested VM, and
# a wedged nested VM costs this much before its test runs again.
TIMEOUT = 180
# A 4 GiB guest beside its VMM.
MEMORY = "6G"
SANDBOX_FAILURES = (124, 125)
# Runs of one test at most: a sandbox failure is retried everywhere, a test failure only where
# the sandbox nests (see above).
ATTEMPTS = 3


def nested():
    """True when scripts/sandbox will emulate: this machine's CPUs lack vmx and svm."""
    try:
        flags = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return not any(f in flags.split() for f in ("vmx", "svm"))


def failed(junit):
    text = junit.read_text(errors="replace")
    return "<failure" in text or "<error" in text


def collect(pytest_args):
    out = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "-m", "kvm",
                          *pytest_args, "tests/system"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    ids = [line.strip() for line in out.stdout.splitlines() if "::" in line and not line.startswith(" ")]
    if out.returncode not in (0, 5) or (out.returncode == 0 and not ids):
        sys.stderr.write(out.stdout)
        raise SystemExit(f"kvm-tests: collecting the tests failed (pytest status {out.returncode})")
    return ids


def run_one(node, junit):
    # pytest's output capture needs a file system that keeps unlinked open files: the
    # sandbox's tmpfs, not its shared /tmp.
    cmd = [str(SANDBOX), "--timeout", str(TIMEOUT), "--memory", MEMORY, "--", "sh", "-c",
           'export TMPDIR=$VIREO_SANDBOX_TMPFS; exec "$@"', "sh",
           PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", node]
    return subprocess.run(cmd, cwd=ROOT).returncode


def write_failure(junit, node, message):
    classname, _, name = node.rpartition("::")
    junit.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="kvm" tests="1" failures="1">'
        f'<testcase classname={sax.quoteattr(classname)} name={sax.quoteattr(name)}>'
        f'<failure message={sax.quoteattr(message)}/></testcase></testsuite></testsuites>\n')


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    outdir = pathlib.Path(argv[0]).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    nodes = collect(argv[1:])
    print(f"kvm-tests: {len(nodes)} tests, one sandbox each", file=sys.stderr)
    started = time.monotonic()
    retry_failures = nested()
    second_run = []
    for i, node in enumerate(nodes):
        junit = outdir / f"{i:03d}.xml"
        t0 = time.monotonic()
        for attempt in range(1, ATTEMPTS + 1):
            rc = run_one(node, junit)
            sandbox_failed = rc in SANDBOX_FAILURES or not junit.exists()
            if not sandbox_failed and not (retry_failures and failed(junit)):
                if attempt > 1 and not failed(junit):
                    second_run.append(f"{node} (run {attempt})")
                break
            what = f"the sandbox failed (status {rc})" if sandbox_failed else "the test failed in the nested VM"
            if attempt == ATTEMPTS or (sandbox_failed and attempt == 2 and not retry_failures):
                if sandbox_failed:
                    write_failure(junit, node, f"{what}, {attempt} runs")
                break
            print(f"kvm-tests: {what} under {node}; running it again in a new one", file=sys.stderr)
            if junit.exists():
                junit.replace(junit.with_suffix(f".run{attempt}.xml.txt"))
        print(f"kvm-tests: [{i + 1}/{len(nodes)}] {node}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    print(f"kvm-tests: all done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    for node in second_run:
        print(f"kvm-tests: passed only on a later run: {node}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
