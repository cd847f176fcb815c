#!/usr/bin/env python3
"""scripts/bench --balloon: free page reporting, Vireo's virtio-balloon against QEMU's, in one
sandbox, interleaved (ABBA).

Each side boots the same kernel and initramfs with 2 vCPUs and 512 MiB on virtio-pci, with a
balloon that reports free pages, and runs the guest's bench-balloon: idle, then CYCLES times
store MIB MiB in a tmpfs file, delete it, and idle while the host watches. The host samples the
VMM's resident set (VmRSS) every 100 ms:

  vireo   Vireo, --device type=balloon,transport=pci,reporting=on
  qemu    QEMU q35, -device virtio-balloon-pci,free-page-reporting=on

and, when asked for (SIDES), the same with reporting off (vireo-noreport, qemu-noreport): the
store throughput without reporting is each VMM's baseline, and with over without is what
reporting costs the guest's allocations on that VMM.

Per side: the idle resident set (median over the idle seconds), the peak of each cycle, the
seconds from the guest's "freed" to the first sample within 10 % of the idle resident set (none
when it never got there before the next cycle), the seconds until 90 % of the cycle's rise
above idle is given back (which does not favour the VMM with the larger idle set), and the guest's store throughput (MiB/s, from
its own clock, and from the host's between the guest's two lines): the first cycle touches fresh
memory on both sides; later ones touch pages the host took back. At the end of each store the
host also reads what explains a difference in throughput: the VMM's memory in transparent huge
pages (AnonHugePages), KVM's counters for the VM (pages mapped 4 KiB and 2 MiB, exits, page
faults: debugfs), and each VMM thread's CPU time. Only ratios within a run mean anything.

usage: bench_balloon.py OUT_JSON ROUNDS MIB CYCLES [SIDES]     (outside: runs sandboxes)
       bench_balloon.py --inside OUT_JSON ROUNDS MIB CYCLES SIDES
"""
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))

from bench_sandbox import guest_env, plan, run_in_sandboxes, run_rounds  # noqa: E402
from vmm import BASE_CMDLINE  # noqa: E402

SIDES = ["vireo", "qemu"]
BASELINE = ["vireo-noreport", "qemu-noreport"]
IDLE_SECONDS = 5
PAUSE_SECONDS = 15
SAMPLE_SECONDS = 0.1
WITHIN = 1.10  # "back": at most 10 % above the idle resident set
RISE_BACK = 0.90  # or: 90 % of the cycle's rise above idle given back


def argv_for(side, kernel, initramfs, mib, cycles):
    cmdline = (f"{BASE_CMDLINE} vireo.test=bench-balloon vireo.bench_mib={mib} vireo.bench_cycles={cycles} "
               f"vireo.bench_idle={IDLE_SECONDS} vireo.bench_pause={PAUSE_SECONDS}")
    reporting = not side.endswith("-noreport")
    if side.startswith("vireo"):
        return [str(ROOT / "build" / "vireo"), "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline", cmdline,
                "--cpus", "2", "--memory", "512M", "--console", "stdio",
                "--device", f"type=balloon,transport=pci,reporting={'on' if reporting else 'off'}"]
    return ["qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-cpu", "host", "-smp", "2", "-m", "512M",
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
            # Threads named by kind ("CPU 0/KVM"), so that the vCPUs' CPU time is told apart.
            "-name", "bench,debug-threads=on",
            "-kernel", kernel, "-initrd", initramfs, "-append", cmdline,
            "-device", f"virtio-balloon-pci,free-page-reporting={'on' if reporting else 'off'}"]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


KVM_STATS = ("pages_4k", "pages_2m", "exits", "pf_taken", "pf_fixed", "halt_exits")


def mapping_snapshot(pid):
    """What backs the VMM's guest memory and what KVM did, at one moment: AnonHugePages (KiB),
    KVM's VM counters (debugfs, summed over the VMM's VMs) and per-thread CPU seconds."""
    snap = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            snap["anon_huge_kib"] = next(int(line.split()[1]) for line in f if line.startswith("AnonHugePages:"))
    except (OSError, StopIteration):
        pass
    kvm = {}
    for d in pathlib.Path("/sys/kernel/debug/kvm").glob(f"{pid}-*"):
        for name in KVM_STATS:
            try:
                kvm[name] = kvm.get(name, 0) + int((d / name).read_text())
            except (OSError, ValueError):
                pass
    snap["kvm"] = kvm
    threads = {}
    tick = os.sysconf("SC_CLK_TCK")
    for t in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (t / "comm").read_text().strip()
            fields = (t / "stat").read_text().rsplit(")", 1)[1].split()
            threads[name] = round(threads.get(name, 0) + (int(fields[11]) + int(fields[12])) / tick, 2)
        except (OSError, IndexError, ValueError):
            pass
    snap["thread_cpu_s"] = threads
    return snap


def run_side(side, kernel, initramfs, mib, cycles):
    proc = subprocess.Popen(argv_for(side, kernel, initramfs, mib, cycles), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    output, events, samples, snapshots = [], [], [], []
    stop = threading.Event()

    def read():
        for line in iter(proc.stdout.readline, b""):
            text = line.decode("utf-8", "replace")
            output.append(text)
            m = re.search(r"VIREO-AGENT: info bench\.(cpu|ready|store_start|alloc_cs|freed|done)=(.*)", text)
            if m:
                events.append((time.monotonic(), m.group(1), m.group(2).strip()))
                if m.group(1) in ("ready", "alloc_cs"):
                    snapshots.append(mapping_snapshot(proc.pid))

    def sample():
        while not stop.is_set():
            v = rss_kib(proc.pid)
            if v is not None:
                samples.append((time.monotonic(), v))
            time.sleep(SAMPLE_SECONDS)

    threads = [threading.Thread(target=read, daemon=True), threading.Thread(target=sample, daemon=True)]
    for t in threads:
        t.start()
    result = {"side": side}
    try:
        rc = proc.wait(timeout=300 + cycles * (PAUSE_SECONDS + 120))
        result["exit"] = rc
    except subprocess.TimeoutExpired:
        result["error"] = "timeout"
        os.killpg(proc.pid, 9)
        proc.wait()
    stop.set()
    threads[0].join(timeout=10)
    result.update(analyse(events, samples, mib, cycles))
    # At ready, then after each store.
    result["snapshots"] = snapshots
    result["cpu"] = next((v for _, kind, v in events if kind == "cpu"), None)
    if result.get("recovery_s") is None or len(result["recovery_s"]) != cycles:
        result["output_tail"] = "".join(output)[-3000:]
    return result


def analyse(events, samples, mib, cycles):
    """Idle resident set, per-cycle peak and recovery time, and the guest's store throughput."""
    at = {}
    allocs = {}
    host_store = {}
    for t, kind, value in events:
        if kind == "alloc_cs":
            cycle, cs = value.split()
            allocs[int(cycle)] = int(cs)
            if ("store_start", int(cycle)) in at:
                host_store[int(cycle)] = t - at[("store_start", int(cycle))]
        elif kind == "store_start":
            at[("store_start", int(value))] = t
        elif kind == "freed":
            at[("freed", int(value))] = t
        else:
            at[(kind, None)] = t
    ready = at.get(("ready", None))
    if ready is None or not samples:
        return {"error": "the guest did not get ready"}
    idle = [v for t, v in samples if ready + 1 <= t <= ready + IDLE_SECONDS - 0.5]
    idle_kib = statistics.median(idle) if idle else None
    out = {"idle_kib": idle_kib, "peak_kib": [], "recovery_s": [], "rise_back_s": [], "store_mib_s": [],
           "store_host_mib_s": []}
    for c in range(cycles):
        freed = at.get(("freed", c))
        if freed is None or idle_kib is None:
            break
        end = at.get(("freed", c + 1), at.get(("done", None), freed + PAUSE_SECONDS))
        start = at.get(("freed", c - 1), ready + IDLE_SECONDS) if c > 0 else ready + IDLE_SECONDS
        # The cycle's peak: up to its "freed" (and the second the line takes to reach us).
        peak = max((v for t, v in samples if start <= t <= freed + 1), default=None)
        out["peak_kib"].append(peak)
        back = next((t for t, v in samples if freed <= t <= end and v <= WITHIN * idle_kib), None)
        out["recovery_s"].append(round(back - freed, 2) if back is not None else None)
        # Besides the measure: until 90 % of the rise above idle is given back, which
        # does not favour the VMM with the larger idle set (its 10 % is more megabytes).
        target = idle_kib + (peak - idle_kib) * (1 - RISE_BACK) if peak else None
        back = next((t for t, v in samples if target and freed <= t <= end and v <= target), None)
        out["rise_back_s"].append(round(back - freed, 2) if back is not None else None)
        cs = allocs.get(c)
        out["store_mib_s"].append(round(mib * 100 / cs, 1) if cs else None)
        hs = host_store.get(c)
        out["store_host_mib_s"].append(round(mib / hs, 1) if hs else None)
    return out


def inside(out, rounds, mib, cycles, sides):
    # KVM's per-VM counters live in debugfs.
    if not os.path.exists("/sys/kernel/debug/kvm"):
        subprocess.run(["mount", "-t", "debugfs", "debugfs", "/sys/kernel/debug"], check=False)
    kernel = os.environ["VIREO_GUEST_KERNEL"]
    initramfs = os.environ["VIREO_GUEST_INITRAMFS"]
    run_rounds(out, plan(rounds, sides), lambda side: run_side(side, kernel, initramfs, mib, cycles), "bench-balloon")


def summarize(runs, sides):
    out = {}
    for side in sides:
        mine = [r for r in runs if r["side"] == side and "idle_kib" in r]
        recovery = [x for r in mine for x in r["recovery_s"]]
        rise = [x for r in mine for x in r.get("rise_back_s", [])]
        first = [r["store_mib_s"][0] for r in mine if r["store_mib_s"] and r["store_mib_s"][0]]
        later = [x for r in mine for x in r["store_mib_s"][1:] if x]
        host_first = [r["store_host_mib_s"][0] for r in mine if r.get("store_host_mib_s") and r["store_host_mib_s"][0]]
        host_later = [x for r in mine for x in r.get("store_host_mib_s", [])[1:] if x]
        # After the first store against ready: what the fresh memory cost.
        fresh = [fresh_delta(r) for r in mine if len(r.get("snapshots", [])) >= 2]
        out[side] = {
            "boots": len(mine),
            "idle_mib": statistics.median(r["idle_kib"] for r in mine) / 1024 if mine else None,
            "peak_mib": statistics.median(p for r in mine for p in r["peak_kib"] if p) / 1024 if mine else None,
            "recovery_s": statistics.median(x for x in recovery if x is not None)
            if any(x is not None for x in recovery) else None,
            "not_recovered": sum(1 for x in recovery if x is None),
            "rise_back_s": statistics.median(x for x in rise if x is not None)
            if any(x is not None for x in rise) else None,
            "rise_not_back": sum(1 for x in rise if x is None),
            "cycles": len(recovery),
            "store_first_mib_s": statistics.median(first) if first else None,
            "store_later_mib_s": statistics.median(later) if later else None,
            "store_host_first_mib_s": statistics.median(host_first) if host_first else None,
            "store_host_later_mib_s": statistics.median(host_later) if host_later else None,
        }
        for key in ("huge_mib", "pages_2m", "pages_4k", "exits", "pf_taken", "pf_fixed", "vmm_threads_cpu_s"):
            vals = [f[key] for f in fresh if f.get(key) is not None]
            out[side][f"fresh_{key}"] = statistics.median(vals) if vals else None
    return out


def fresh_delta(run):
    """What the first store changed: huge-page memory and KVM's counters from ready to its end,
    and the CPU seconds of the VMM's threads that are not vCPUs."""
    a, b = run["snapshots"][0], run["snapshots"][1]
    out = {"huge_mib": b.get("anon_huge_kib", 0) / 1024 if "anon_huge_kib" in b else None}
    for name in KVM_STATS:
        if name in a["kvm"] and name in b["kvm"]:
            out[name] = b["kvm"][name] - a["kvm"][name]
    busy = [n for n in b["thread_cpu_s"] if not re.match(r"(vcpu|CPU \d)", n, re.I)]
    out["vmm_threads_cpu_s"] = round(sum(b["thread_cpu_s"][n] - a["thread_cpu_s"].get(n, 0) for n in busy), 2)
    return out


def table(summary):
    rows = [("idle_mib", "idle resident set (MiB)"), ("peak_mib", "peak resident set (MiB)"),
            ("recovery_s", "seconds from free to within 10 % of idle (median)"),
            ("rise_back_s", "seconds from free to 90 % of the rise given back (median)"),
            ("store_first_mib_s", "guest store, fresh memory (MiB/s)"),
            ("store_later_mib_s", "guest store, memory given back (MiB/s)"),
            ("store_host_first_mib_s", "the same, fresh, by the host's clock (MiB/s)"),
            ("store_host_later_mib_s", "the same, given back, by the host's clock (MiB/s)"),
            ("fresh_huge_mib", "after the first store: VMM memory in huge pages (MiB)"),
            ("fresh_pages_2m", "first store: 2 MiB mappings KVM added"),
            ("fresh_pages_4k", "first store: 4 KiB mappings KVM added"),
            ("fresh_exits", "first store: vCPU exits"),
            ("fresh_pf_taken", "first store: guest page faults KVM took"),
            ("fresh_vmm_threads_cpu_s", "first store: CPU s of VMM threads other than vCPUs")]
    a, b = summary.get("vireo", {}), summary.get("qemu", {})
    lines = ["| measure | vireo | qemu | ratio |", "|---|---|---|---|"]
    for key, label in rows:
        x, y = a.get(key), b.get(key)
        ratio = f"{x / y:.2f}" if x and y else "-"
        lines.append(f"| {label} | {x:.4g} | {y:.4g} | {ratio} |" if x is not None and y is not None
                     else f"| {label} | {x} | {y} | - |")
    lines.append(f"| cycles not back within {PAUSE_SECONDS} s | {a.get('not_recovered')} of {a.get('cycles')} "
                 f"| {b.get('not_recovered')} of {b.get('cycles')} | - |")
    lines.append(f"| cycles without 90 % of the rise back | {a.get('rise_not_back')} of {a.get('cycles')} "
                 f"| {b.get('rise_not_back')} of {b.get('cycles')} | - |")
    an, bn = summary.get("vireo-noreport"), summary.get("qemu-noreport")
    if an and bn:
        for key, label in (("store_first_mib_s", "fresh"), ("store_later_mib_s", "later")):
            x, y = an.get(key), bn.get(key)
            lines.append(f"| guest store, {label}, reporting off (MiB/s) | {x} | {y} | "
                         f"{f'{x / y:.2f}' if x and y else '-'} |")
            cx = a.get(key) / x if a.get(key) and x else None
            cy = b.get(key) / y if b.get(key) and y else None
            lines.append(f"| reporting's cost, {label} store: with / without | "
                         f"{f'{cx:.2f}' if cx else '-'} | {f'{cy:.2f}' if cy else '-'} | "
                         f"{f'{cx / cy:.2f}' if cx and cy else '-'} |")
    return "\n".join(lines)


def main(argv):
    if argv and argv[0] == "--inside":
        inside(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5].split(","))
        return 0
    out, rounds, mib, cycles = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    sides = argv[4].split(",") if len(argv) > 4 and argv[4] else SIDES
    unknown = set(sides) - set(SIDES + BASELINE)
    if unknown or not set(SIDES) <= set(sides):
        print(f"bench-balloon: sides are vireo and qemu, and optionally {' and '.join(BASELINE)}; "
              f"not {','.join(sides)}", file=sys.stderr)
        return 2
    env = guest_env("VIREO_GUEST_KERNEL", "VIREO_GUEST_INITRAMFS")
    raw = os.path.join(tempfile.mkdtemp(prefix="vireo-bench-balloon-"), "runs.json")
    sandboxes = run_in_sandboxes(pathlib.Path(__file__).resolve(), raw, len(plan(rounds, sides)),
                                 [rounds, mib, cycles, ",".join(sides)], env,
                                 300 + cycles * PAUSE_SECONDS, "bench-balloon")
    if not os.path.exists(raw):
        print("bench-balloon: no results", file=sys.stderr)
        return 1
    runs = json.loads(pathlib.Path(raw).read_text())
    summary = summarize(runs, sides)
    pathlib.Path(out).write_text(json.dumps({"rounds": rounds, "mib": mib, "cycles": cycles, "sandboxes": sandboxes,
                                             "runs": runs, "summary": summary}, indent=1))
    print(table(summary))
    cpus = {side: {r["cpu"] for r in runs if r["side"] == side and r.get("cpu")} for side in SIDES}
    if all(len(c) == 1 for c in cpus.values()):
        a, b = (set(next(iter(cpus[side])).split()) for side in SIDES)
        print(f"CPU flags only the vireo guest sees: {' '.join(sorted(a - b)) or 'none'}; "
              f"only the qemu guest: {' '.join(sorted(b - a)) or 'none'}")
    print(f"{len(runs)} boots in {sandboxes} nested VM(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
