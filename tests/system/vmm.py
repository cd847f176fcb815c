"""Running the vireo binary from system tests: a process with its console captured, the
test agent's reports parsed, and the API socket at hand."""
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

# The command line both VMMs get in comparisons (see the benchmark notes): quiet, no i8042 probing
# delays, TSC trusted, no reboot on panic (panic=-1 reboots at once; pvpanic reports it first).
BASE_CMDLINE = ("console=ttyS0 quiet reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp "
                "i8042.dumbkbd tsc=reliable")

# What a guest kernel prints when a CPU stops making progress: RCU's stall detector (21 s by
# default), the soft-lockup watchdog and the hung-task detector.
STALL_SIGNATURES = ("detected stalls on CPUs", "self-detected stall on CPU", "watchdog: BUG: soft lockup",
                    "blocked for more than")


# One log line of the VMM ("vireo: LEVEL: ...", the pattern vmm/main.cpp sets), as it lands in the
# merged output.
_VMM_LOG_LINE = re.compile(r"vireo: (?:trace|debug|info|warning|error|critical): [^\n]*\n")


class Guest:
    """A running `vireo run ...` with its output collected in the background.

    When the guest kernel reports a stall, or a wait runs out, the VMM is asked (SIGUSR1) for
    every vCPU's state, which it logs into the same output, and the guest RIPs in it are named
    from the guest vmlinux: a test's failure output then says where each vCPU was."""

    # Every Guest started by the running test, for conftest's failure report.
    started = []

    def __init__(self, argv, env=None):
        Guest.started.append(self)
        self.argv = [str(a) for a in argv]
        self.output = ""
        self._lock = threading.Lock()
        self._lines = threading.Condition(self._lock)
        self._stall_dumped = False
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            with self._lock:
                self.output += chunk.decode("utf-8", "replace")
                self._lines.notify_all()
                stall = not self._stall_dumped and any(s in self.output for s in STALL_SIGNATURES)
                if stall:
                    self._stall_dumped = True
            if stall:
                threading.Thread(target=self.dump_vcpu_state, args=("the guest reported a stall",),
                                 daemon=True).start()

    def dump_vcpu_state(self, why):
        """Ask the VMM for its vCPUs' state and add it, with symbols, to the output."""
        import symbols
        with self._lock:
            before = len(self.output)
        try:
            self.proc.send_signal(signal.SIGUSR1)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        with self._lock:
            while time.monotonic() < deadline and self.proc.poll() is None:
                if "vCPU state (SIGUSR1)" in self.output[before:]:
                    break
                self._lines.wait(0.2)
        # Each vCPU answers within the VMM's 200 ms wait; the lines follow the header.
        time.sleep(1.0)
        with self._lock:
            dump = [line for line in self.output[before:].splitlines() if re.search(r"vCPU \d+: ", line)]
        text = symbols.annotate("\n".join(dump))
        with self._lock:
            self.output += f"\n[test harness: vCPU state, {why}]\n{text}\n"

    @property
    def console(self):
        """The output without the VMM's own log lines. The guest's console goes out a byte at a
        time and the VMM logs whole lines into the same stream, so a log line can land in the
        middle of a guest line ("page fvireo: warning: ...\nault from EP")."""
        return _VMM_LOG_LINE.sub("", self.output)

    def wait_for(self, text, timeout=120):
        """Wait until `text` appears in the output, or in the guest's console with the VMM's log
        lines taken out; returns False on timeout or exit."""
        deadline = time.monotonic() + timeout
        cleaned_at = 0.0  # the cleaned console costs a pass over all output: once a second at most
        with self._lock:
            while True:
                if text in self.output:
                    return True
                now = time.monotonic()
                if now - cleaned_at >= 1.0:
                    cleaned_at = now
                    if text in self.console:
                        return True
                left = deadline - now
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    break
                self._lines.wait(min(left, 0.5))
            if text in self.console:
                return True
        if self.proc.poll() is None:
            self.dump_vcpu_state(f"no '{text}' within {timeout} s")
        return False

    def wait(self, timeout=140):
        """Wait for exit; kills the process group on timeout and returns None then."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.dump_vcpu_state(f"no exit within {timeout} s")
            self.kill()
            return None
        self._reader.join(timeout=5)
        return rc

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._reader.join(timeout=5)


def api(path, command, /, timeout=10, **extra):
    """One request on the API socket; returns the decoded reply."""
    request = {"command": command, **extra}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def wait_for_socket(path, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pathlib.Path(path).exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def temp_dir():
    return tempfile.mkdtemp(prefix="vireo-test-", dir=os.environ.get("VIREO_SANDBOX_TMPFS") or None)
