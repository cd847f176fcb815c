"""The host side of the guest test agent (tests/guest/init): parse its console reports, and run a
VMM command line under a time limit. Standard library only; tests/guest/README.md has the
protocol.

The console carries kernel messages and the tests' own output besides the agent's lines, so the
parser looks for the marker anywhere in a line, treats CR as a line break (a terminal returns to
column 0 there), and ignores everything else.
"""
import collections
import dataclasses
import os
import re
import selectors
import signal
import subprocess
import time
import typing

MARKER = "VIREO-AGENT:"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Terminal escape sequences (CSI "ESC [ ... final" and two-character ones), then any other
# control character but tab (NULs from a serial line, a bell, ...).
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_END_FIELD = re.compile(r"^(pass|fail)=(\d+)$")


@dataclasses.dataclass
class AgentReport:
    """What the agent reported, in the order it reported it."""

    init_seen: bool = False
    # name -> ("pass", "") or ("fail", reason), in the order the results came. A name that ran
    # twice keeps its last result here; `results` has them all.
    tests: "collections.OrderedDict[str, tuple[str, str]]" = dataclasses.field(
        default_factory=collections.OrderedDict)
    # Every "info KEY=VALUE" line, later ones winning.
    info: dict = dataclasses.field(default_factory=dict)
    ended: bool = False
    # {"pass": N, "fail": M} from the "end" line, or None without one.
    end_counts: typing.Optional[dict] = None
    # (name, status, reason) for every result line, duplicates included.
    results: list = dataclasses.field(default_factory=list)
    # Test names in "begin" order.
    begun: list = dataclasses.field(default_factory=list)
    # name -> {KEY: VALUE} for the info lines seen while that test ran.
    test_info: dict = dataclasses.field(default_factory=dict)
    # Agent lines that could not be understood (a truncated or garbled line, a newer agent).
    unparsed: list = dataclasses.field(default_factory=list)

    @property
    def running(self):
        """The test that began and has no result yet (it hung, or the guest died), or None."""
        if self.begun and len(self.begun) > len(self.results):
            return self.begun[-1]
        return None

    def passed(self):
        return [name for name, (status, _) in self.tests.items() if status == "pass"]

    def failed(self):
        return [name for name, (status, _) in self.tests.items() if status == "fail"]

    @property
    def ok(self):
        """The agent ran to its end, and every test it ran passed."""
        return (self.init_seen and self.ended and bool(self.results)
                and all(status == "pass" for _, status, _ in self.results)
                and self.end_counts == {"pass": len(self.results), "fail": 0})

    def summary(self):
        """One line for assertion messages."""
        parts = [f"{name}={status}" + (f" ({reason})" if reason else "")
                 for name, status, reason in self.results]
        state = "ended" if self.ended else (f"running {self.running}" if self.running else
                                            "init" if self.init_seen else "no agent output")
        return f"[{state}] " + ", ".join(parts)


def _records(text):
    """The agent records in `text`: what follows each marker, up to the next marker or line end."""
    for line in _LINE_BREAK.split(text):
        if MARKER not in line:
            continue
        for chunk in line.split(MARKER)[1:]:
            record = _CONTROL.sub("", _ESCAPE.sub("", chunk)).strip()
            if record:
                yield record


def parse(text):
    """Parse console output (str or bytes) into an AgentReport."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    report = AgentReport()
    current = None
    for record in _records(text):
        kind, _, rest = record.partition(" ")
        rest = rest.strip()
        if kind == "init" and not rest:
            report.init_seen = True
        elif kind == "begin" and rest and " " not in rest:
            report.begun.append(rest)
            current = rest
        elif kind == "result":
            name, _, outcome = rest.partition(" ")
            status, _, reason = outcome.partition(" ")
            if not name or status not in ("pass", "fail"):
                report.unparsed.append(record)
                continue
            reason = reason.strip()
            report.tests.pop(name, None)  # a repeated name moves to the end
            report.tests[name] = (status, reason)
            report.results.append((name, status, reason))
            current = None
        elif kind == "info" and "=" in rest:
            key, _, value = rest.partition("=")
            key = key.strip()
            if not key or " " in key:
                report.unparsed.append(record)
                continue
            report.info[key] = value
            if current is not None:
                report.test_info.setdefault(current, {})[key] = value
        elif kind == "end":
            counts = {}
            for field in rest.split():
                m = _END_FIELD.match(field)
                if m:
                    counts[m.group(1)] = int(m.group(2))
            if set(counts) != {"pass", "fail"}:
                report.unparsed.append(record)
                continue
            report.ended = True
            report.end_counts = counts
        else:
            report.unparsed.append(record)
    return report


def run_guest(cmd, timeout, stream=None, env=None):
    """Run a VMM command line until it exits or `timeout` seconds pass, and parse its output.

    stdout and stderr are collected together; stdin is /dev/null. The command runs in its own
    process group, and on timeout the whole group is killed (SIGKILL, after SIGTERM and a short
    grace). `stream`, a binary or text file object, receives the output as it arrives (e.g.
    sys.stderr for a live console). Returns (returncode, output, report); returncode is None when
    the timeout expired.
    """
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen([str(a) for a in cmd], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    chunks = []
    timed_out = False
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        eof = False
        exited_at = None
        while not eof:
            now = time.monotonic()
            if now >= deadline:
                timed_out = proc.poll() is None
                break
            if proc.poll() is not None:
                # Exited: drain what is left, but do not wait forever for a grandchild that
                # still holds the pipe open.
                exited_at = exited_at or now
                if now - exited_at > 2:
                    break
            for _ in sel.select(timeout=min(0.2, deadline - now)):
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    eof = True
                    break
                chunks.append(data)
                if stream is not None:
                    _write(stream, data)
    if timed_out:
        _kill_group(proc)
    else:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()) + 1)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
    if not eof:
        # Something in the group still holds the output pipe (a helper of the VMM): end it. The
        # group outlives its leader while it has members, so its id cannot have been reused.
        _signal_group(proc.pid, signal.SIGKILL)
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
            if stream is not None:
                _write(stream, data)
    except (BlockingIOError, OSError):
        pass
    proc.stdout.close()
    output = b"".join(chunks).decode("utf-8", "replace")
    return (None if timed_out else proc.returncode), output, parse(output)


def _write(stream, data):
    try:
        stream.write(data)
    except TypeError:
        stream.write(data.decode("utf-8", "replace"))
    stream.flush()


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(proc):
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()
