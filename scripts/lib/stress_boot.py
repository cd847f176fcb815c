#!/usr/bin/env python3
"""scripts/bench --stress-boot N: how often a 2-vCPU guest fails, Vireo beside QEMU.

Boots the same guest N times under each of Vireo with virtio-mmio, Vireo with virtio-pci, QEMU
-M microvm and QEMU -M q35 (2 vCPUs, 256 MiB, a two-queue virtio-blk disk), interleaved ABBA in
one sandbox, and runs the guest test `smp-stress` in each (block I/O from both CPUs, a pipe
between them). Each boot ends as one outcome:

  pass           the agent reported the test passed and the VMM exited 0, no stall on the way
  pass-stalled   it passed, but the kernel reported an RCU stall or soft lockup on the way
  stall          timed out after the kernel reported a stall or lockup
  hang           timed out with no stall report
  triple-fault   Vireo ended with a triple fault (the CPU reset state, on this host's KVM)
  reset          QEMU exited on a guest reset (-no-reboot) before the agent ended
  panic          the guest kernel panicked
  fail           the agent reported a failure (the test's own check)
  error          anything else (the VMM failed to start, an unknown exit)
  sandbox-died   the nested VM itself died during this boot

When a Vireo guest stalls or hangs, the VMM is asked for every vCPU's state (SIGUSR1) before it is
killed, and the answer is kept with the boot's record (with the guest RIP's symbol); QEMU is
asked for `info registers -a` on its monitor. Records go to a JSON-lines file as they happen; a
sandbox that dies is replaced by a new one that carries on where it stopped, and the boot it
died in counts as sandbox-died.

Each round runs in a sandbox of its own. With several sandbox TCG modes (multi: a host thread per
vCPU of the nested VM, single: one thread for all), rounds alternate between them, so that the
table also compares the sandboxes.

usage: stress_boot.py OUT_JSONL N [MODES]            (outside: runs sandboxes, prints the table)
       stress_boot.py --inside OUT_JSONL ROUND MODE  (inside the sandbox)
"""
import json
import math
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))

import agent  # noqa: E402
import symbols  # noqa: E402
from vmm import BASE_CMDLINE, STALL_SIGNATURES  # noqa: E402

CONFIGS = ["vireo-mmio", "vireo-pci", "qemu-microvm", "qemu-q35"]
OUTCOMES = ["pass", "pass-stalled", "stall", "hang", "triple-fault", "reset", "panic", "fail", "error",
            "sandbox-died"]
# A boot and the test take 15 to 40 s in the nested VM; a hung one is given this long in all.
BOOT_TIMEOUT = 110
MiB = 1 << 20


# Other Vireo builds to run beside the others, LABEL -> binary (LABEL-mmio and LABEL-pci), or
# LABEL-mmio / LABEL-pci -> binary for one transport only.
VARIANTS = json.loads(os.environ.get("VIREO_STRESS_VARIANTS", "{}"))


def configs():
    extra = []
    for label in VARIANTS:
        extra += [label] if label.endswith(("-mmio", "-pci")) else [f"{label}-{t}" for t in ("mmio", "pci")]
    return CONFIGS + extra


def vireo_binary(config):
    return VARIANTS.get(config) or VARIANTS.get(config.rsplit("-", 1)[0], str(ROOT / "build" / "vireo"))


def argv_for(config, kernel, initramfs, image, monitor):
    cmdline = f"{BASE_CMDLINE} vireo.test=smp-stress vireo.timeout=80"
    if not config.startswith("qemu-"):
        transport = config.rsplit("-", 1)[1]
        return [vireo_binary(config), "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline", cmdline,
                "--cpus", "2", "--memory", "256M", "--console", "stdio",
                "--device", f"type=block,transport={transport},path={image},serial=vireo-stress,num_queues=2"]
    machine, device = {"qemu-microvm": ("microvm,acpi=on", "virtio-blk-device"),
                       "qemu-q35": ("q35", "virtio-blk-pci,disable-legacy=on")}[config]
    return ["qemu-system-x86_64", "-accel", "kvm", "-M", machine, "-cpu", "host", "-smp", "2", "-m", "256M",
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
            "-global", "virtio-mmio.force-legacy=false", "-monitor", f"unix:{monitor},server=on,wait=off",
            "-kernel", kernel, "-initrd", initramfs, "-append", cmdline,
            "-drive", f"id=d0,file={image},format=raw,if=none,cache=writeback",
            "-device", f"{device},drive=d0,serial=vireo-stress,num-queues=2"]


def qemu_registers(monitor):
    """`info registers -a` from QEMU's human monitor, or why it could not be had."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(monitor)
            s.sendall(b"info registers -a\n")
            data = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
                if data.count(b"RIP=") >= 2:
                    time.sleep(0.2)
                    break
            return data.decode("utf-8", "replace")
    except OSError as e:
        return f"(monitor: {e})"


class Boot:
    """One VMM process with its output; asks for vCPU state on a stall and before a kill."""

    def __init__(self, config, argv, monitor):
        self.config = config
        self.monitor = monitor
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.output = ""
        self.init_at = None
        self.states = []  # (seconds into the boot, why, text)
        self.anon_huge_kib = None  # the VMM's RAM on huge pages once the workload starts
        self.lock = threading.Lock()
        self.stall_seen = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            text = chunk.decode("utf-8", "replace")
            with self.lock:
                self.output += text
                if self.init_at is None and "VIREO-AGENT: init" in self.output:
                    self.init_at = time.monotonic() - self.start
                if self.anon_huge_kib is None and "stress.queues=" in self.output:
                    self.anon_huge_kib = anon_huge_kib(self.proc.pid)
                if not self.stall_seen.is_set() and any(s in self.output for s in STALL_SIGNATURES):
                    self.stall_seen.set()
                    threading.Thread(target=self.ask_state, args=("stall reported",), daemon=True).start()

    def ask_state(self, why):
        at = time.monotonic() - self.start
        if not self.config.startswith("qemu-"):
            with self.lock:
                before = len(self.output)
            try:
                self.proc.send_signal(signal.SIGUSR1)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                with self.lock:
                    dump = self.output[before:]
                if len(re.findall(r"vCPU \d+: ", dump)) >= 2:
                    break
                time.sleep(0.1)
            time.sleep(0.3)
            with self.lock:
                text = "\n".join(line for line in self.output[before:].splitlines() if "vCPU" in line)
        else:
            text = qemu_registers(self.monitor)
        self.states.append((round(at, 1), why, text))

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            self.ask_state("timeout")
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None, True


def last_line(output):
    lines = [agent._CONTROL.sub("", agent._ESCAPE.sub("", line)).strip()
             for line in agent._LINE_BREAK.split(output)]
    lines = [line for line in lines if line]
    return lines[-1][-200:] if lines else ""


def classify(config, rc, timed_out, output):
    report = agent.parse(output)
    stalled = any(s in output for s in STALL_SIGNATURES)
    if "Kernel panic" in output:
        return "panic"
    if timed_out:
        return "stall" if stalled else "hang"
    if report.ok and rc == 0:
        return "pass-stalled" if stalled else "pass"
    if report.ended or report.failed():
        return "fail"
    if not config.startswith("qemu-") and "triple fault" in output:
        return "triple-fault"
    if config.startswith("qemu-") and rc == 0:
        return "reset"  # -no-reboot: QEMU exits 0 when the guest resets
    return "error"


def signature_lines(output):
    keep = ("rcu: INFO", "rcu: \t", "soft lockup", "triple fault", "Kernel panic", "guest crashed", "KVM internal",
            "blocked for more than", "NMI backtrace", "RIP: ")
    return [line.strip()[:300] for line in agent._LINE_BREAK.split(output) if any(k in line for k in keep)][:40]


def anon_huge_kib(pid):
    try:
        return sum(int(line.split()[1]) for line in open(f"/proc/{pid}/smaps") if line.startswith("AnonHugePages:"))
    except (OSError, ValueError):
        return None


def run_boot(config, kernel, initramfs, image, workdir):
    monitor = os.path.join(workdir, f"{config}.monitor")
    if os.path.exists(monitor):
        os.unlink(monitor)
    b = Boot(config, argv_for(config, kernel, initramfs, image, monitor), monitor)
    rc, timed_out = b.wait(BOOT_TIMEOUT)
    time.sleep(0.2)
    with b.lock:
        output = b.output
    outcome = classify(config, rc, timed_out, output)
    record = {"config": config, "outcome": outcome, "exit": rc, "seconds": round(time.monotonic() - b.start, 1),
              "init_seconds": round(b.init_at, 2) if b.init_at is not None else None,
              "anon_huge_kib": b.anon_huge_kib}
    if outcome != "pass":
        record["signature"] = signature_lines(output)
        record["last_line"] = last_line(output)
        record["states"] = [{"at": at, "why": why, "text": symbols.annotate(text)} for at, why, text in b.states]
        record["output_tail"] = output[-6000:]
    return record


def inside(out_path, rnd, mode):
    """Boots every configuration once for round `rnd`, in this sandbox (TCG mode `mode`)."""
    kernel = os.environ["VIREO_GUEST_KERNEL"]
    initramfs = os.environ["VIREO_GUEST_INITRAMFS"]
    workdir = tempfile.mkdtemp(prefix="vireo-stress-", dir=os.environ.get("VIREO_SANDBOX_TMPFS"))
    image = os.path.join(workdir, "stress.img")
    with open(image, "wb") as f:
        f.truncate(64 * MiB)
    # A boot that started in a sandbox that then died is not run again: it counts as sandbox-died.
    done = {r["config"] for r in read_records(out_path) if r.get("round") == rnd and r.get("mode") == mode}
    # ABBA, and the pair of rounds after it starts one configuration further on: each comes
    # first in a fresh nested VM equally often (a first boot there fails more often).
    cs = configs()
    shift = (rnd // 2) % len(cs)
    order = cs[shift:] + cs[:shift]
    order = order if rnd % 2 == 0 else list(reversed(order))
    with open(out_path, "a") as out:
        for config in order:
            if config in done:
                continue
            out.write(json.dumps({"round": rnd, "mode": mode, "config": config, "started": time.time()}) + "\n")
            out.flush()
            record = run_boot(config, kernel, initramfs, image, workdir)
            record.update(round=rnd, mode=mode)
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(f"stress-boot: round {rnd} ({mode}) {config}: {record['outcome']} in {record['seconds']} s"
                  + (f" (init {record['init_seconds']} s)" if record.get("init_seconds") else ""),
                  file=sys.stderr, flush=True)


def read_records(path):
    try:
        lines = pathlib.Path(path).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line cut short when the sandbox died
    return out


def results(records):
    """One record per (mode, round, config): a boot that started and never ended is sandbox-died."""
    by_key = {}
    for r in records:
        if "config" not in r:
            continue
        key = (r.get("mode", "multi"), r["round"], r["config"])
        if "outcome" in r:
            by_key[key] = r
        elif key not in by_key:
            by_key[key] = {"round": r["round"], "mode": r.get("mode", "multi"), "config": r["config"],
                           "outcome": "sandbox-died"}
    return [by_key[k] for k in sorted(by_key)]


def wilson(k, n, z=1.96):
    """95 % confidence interval of a rate k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def table(rs):
    modes = sorted({r.get("mode", "multi") for r in rs})
    head = ["config"] + (["sandbox TCG"] if len(modes) > 1 else []) + ["boots"] + OUTCOMES + \
        ["failed", "rate", "95% interval"]
    rows = []
    for mode in modes:
        for config in configs():
            mine = [r for r in rs if r["config"] == config and r.get("mode", "multi") == mode]
            counts = {o: sum(1 for r in mine if r["outcome"] == o) for o in OUTCOMES}
            failed = len(mine) - counts["pass"]
            lo, hi = wilson(failed, len(mine))
            rows.append([config] + ([mode] if len(modes) > 1 else []) + [str(len(mine))]
                        + [str(counts[o]) for o in OUTCOMES]
                        + [str(failed), f"{failed / len(mine):.2f}" if mine else "-", f"{lo:.2f}-{hi:.2f}"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run_sandbox(out_path, rnd, mode, env):
    """One sandbox for one round; its stderr passes through, and its tail is kept when it fails."""
    env = dict(env, VIREO_SANDBOX_TCG=mode)
    timeout = 120 + len(configs()) * (BOOT_TIMEOUT + 30)
    proc = subprocess.Popen([str(ROOT / "scripts" / "sandbox"), "--memory", "3G", "--timeout", str(timeout), "--",
                             "sh", "-c", 'export TMPDIR=$VIREO_SANDBOX_TMPFS; exec "$@"', "sh",
                             "/usr/bin/python3", str(pathlib.Path(__file__).resolve()), "--inside", out_path,
                             str(rnd), mode],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)
    # A nested VM whose kernel wedged writes nothing more: every boot writes a record when it
    # starts and one when it ends, at most BOOT_TIMEOUT plus the state dumps apart. Silence
    # for longer ends the sandbox, instead of waiting out the whole round's timeout.
    stop = threading.Event()

    def watchdog():
        last = time.monotonic()
        size = -1
        while not stop.wait(5):
            now_size = os.path.getsize(out_path) if os.path.exists(out_path) else 0
            if now_size != size:
                size, last = now_size, time.monotonic()
            elif time.monotonic() - last > BOOT_TIMEOUT + 90:
                print(f"stress-boot: no record for {BOOT_TIMEOUT + 90} s: the nested VM is wedged; ending it",
                      file=sys.stderr)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return

    dog = threading.Thread(target=watchdog, daemon=True)
    dog.start()
    tail = []
    for line in proc.stderr:
        sys.stderr.write(line)
        tail = (tail + [line.rstrip()])[-60:]
    rc = proc.wait()
    stop.set()
    if rc != 0:
        with open(out_path, "a") as out:
            out.write(json.dumps({"sandbox_failure": rc, "mode": mode, "at_round": rnd, "tail": tail}) + "\n")
    return rc


def outside(out_path, n, modes, env):
    for rnd in range(n):
        for mode in (modes if rnd % 2 == 0 else list(reversed(modes))):
            for _ in range(3):
                mine = [r for r in results(read_records(out_path)) if r["round"] == rnd and r["mode"] == mode]
                if len(mine) >= len(configs()):
                    break
                if run_sandbox(out_path, rnd, mode, env) != 0:
                    print(f"stress-boot: the sandbox ({mode}) failed in round {rnd}; a new one carries on",
                          file=sys.stderr)
    return results(read_records(out_path))


def main(argv):
    if argv and argv[0] == "--inside":
        inside(argv[1], int(argv[2]), argv[3])
        return 0
    out_path, n = argv[0], int(argv[1])
    modes = argv[2].split(",") if len(argv) > 2 else ["multi"]
    env = dict(os.environ)
    for var, args in (("VIREO_GUEST_KERNEL", ["guest-kernel", "--print", "bzimage"]),
                      ("VIREO_GUEST_INITRAMFS", ["guest-initramfs"])):
        if not env.get(var):
            env[var] = subprocess.run([str(ROOT / "scripts" / args[0]), *args[1:]], check=True,
                                      stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[0]
    rs = outside(out_path, n, modes, env)
    print(table(rs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
