#!/usr/bin/env python3
"""scripts/bench --net: virtio-net, Vireo against QEMU, in one sandbox, interleaved (ABBA).

Each side boots the same kernel and initramfs (--with bench) with 2 vCPUs and 512 MiB and runs
the guest's bench-net (iperf3 TCP with 1 and 4 streams both ways, UDP 64-byte datagrams both
ways, ping round trips) against an iperf3 server on the sandbox host:

  vireo-tap     Vireo, virtio-pci, a multi-queue tap with 2 queue pairs
  qemu-tap      QEMU q35, virtio-net-pci on the same tap, vhost=off (QEMU's own virtio-net)
  qemu-vhost    the same with vhost=on (the host kernel's vhost-net)
  vireo-user    Vireo with user-mode networking (libslirp), the server on the host's loopback
  qemu-user     QEMU -netdev user, the same

Besides each job's figure: the VMM's CPU seconds over the jobs, and CPU seconds per gigabyte
moved by the TCP jobs. Only ratios within a run mean anything (the nested VM's exits cost about
100 times bare metal).

usage: bench_net.py OUT_JSON ROUNDS SECONDS [SIDES]      (outside: runs one sandbox)
       bench_net.py --inside OUT_JSON ROUNDS SECONDS SIDES
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

from bench import cpu_seconds  # noqa: E402
from bench_sandbox import plan, run_rounds  # noqa: E402
from vmm import BASE_CMDLINE  # noqa: E402

SIDES = ["vireo-tap", "qemu-tap", "qemu-vhost", "vireo-user", "qemu-user"]
PAIRS = {"vireo-tap": "qemu-tap", "vireo-user": "qemu-user"}
JOBS = ["tcp-tx-1", "tcp-rx-1", "tcp-tx-4", "tcp-rx-4", "udp64-tx", "udp64-rx", "rr"]
TAP = "vbench0"
HOST_ADDR = "192.168.88.1"
GUEST_ADDR = "192.168.88.2/24"


def make_tap():
    subprocess.run(["ip", "link", "del", TAP], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "tuntap", "add", "dev", TAP, "mode", "tap", "multi_queue"], check=True)
    subprocess.run(["ip", "addr", "add", f"{HOST_ADDR}/24", "dev", TAP], check=True)
    subprocess.run(["ip", "link", "set", TAP, "up"], check=True)


def argv_for(side, kernel, initramfs, seconds):
    tap = side.endswith("-tap") or side.endswith("-vhost")
    peer = HOST_ADDR if tap else "10.0.2.2"
    cmdline = f"{BASE_CMDLINE} vireo.test=bench-net vireo.bench_peer={peer} vireo.bench_runtime={seconds}"
    if tap:
        cmdline += f" vireo.bench_addr={GUEST_ADDR}"
    if side.startswith("vireo-"):
        dev = f"type=net,transport=pci,num_queues=2,backend=tap,tap={TAP}" if tap else "type=net,transport=pci,num_queues=2"
        return [str(ROOT / "build" / "vireo"), "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline", cmdline,
                "--cpus", "2", "--memory", "512M", "--console", "stdio", "--device", dev]
    if tap:
        vhost = "on" if side == "qemu-vhost" else "off"
        netdev = f"tap,id=n0,ifname={TAP},script=no,downscript=no,queues=2,vhost={vhost}"
        device = "virtio-net-pci,netdev=n0,disable-legacy=on,mq=on,vectors=6"
    else:
        netdev = "user,id=n0"
        device = "virtio-net-pci,netdev=n0,disable-legacy=on"
    return ["qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-cpu", "host", "-smp", "2", "-m", "512M",
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
            "-kernel", kernel, "-initrd", initramfs, "-append", cmdline, "-netdev", netdev, "-device", device]


def run_side(side, argv, timeout):
    """One boot: the bench lines, and the VMM's CPU seconds between bench.ready and bench.done."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    output = []
    marks = {}

    def read():
        for line in iter(proc.stdout.readline, b""):
            text = line.decode("utf-8", "replace")
            output.append(text)
            m = re.search(r"VIREO-AGENT: info bench\.(ready|done)=", text)
            if m:
                marks[m.group(1)] = cpu_seconds(proc.pid)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        rc = None
    t.join(5)
    text = "".join(output)
    info = dict(re.findall(r"VIREO-AGENT: info bench\.([\w-]+)=([^\r\n]*)", text))
    result = {"side": side, "exit": rc}
    for job in JOBS:
        v = info.get(job, "")
        # 0 is what a failed iperf3 run prints: no figure, not a zero one.
        result[job] = int(v) if v.isdigit() and int(v) > 0 else None
    if marks.get("ready") is not None and marks.get("done") is not None:
        result["cpu_seconds"] = marks["done"] - marks["ready"]
    if any(result[job] is None for job in JOBS) or rc != 0:
        result["output_tail"] = text[-3000:]
    return result


def inside(out, rounds, seconds, sides):
    """Runs the boots of plan() that `out` does not hold yet, adding each result to it as it comes:
    a nested VM that dies mid-run loses only the boot it was in."""
    kernel = os.environ["VIREO_GUEST_KERNEL"]
    initramfs = os.environ["VIREO_GUEST_INITRAMFS_BENCH"]
    make_tap()
    servers = []

    def run_one(side):
        # Fresh servers for every boot: an iperf3 server left waiting by a client that died
        # (a guest that crashed mid-job) would fail every job after it.
        for s in servers:
            s.kill()
            s.wait()
        servers[:] = [subprocess.Popen(["iperf3", "-s", "-B", addr], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL) for addr in (HOST_ADDR, "127.0.0.1")]
        time.sleep(0.5)
        return run_side(side, argv_for(side, kernel, initramfs, seconds), 120 + 10 * seconds * len(JOBS))

    try:
        run_rounds(out, plan(rounds, sides), run_one, "bench-net")
    finally:
        for s in servers:
            s.kill()
        subprocess.run(["ip", "link", "del", TAP], stderr=subprocess.DEVNULL)


def summarize(runs, seconds):
    out = {}
    for side in sorted({r["side"] for r in runs}):
        mine = [r for r in runs if r["side"] == side]
        s = {}
        for job in JOBS + ["cpu_seconds"]:
            values = [r.get(job) for r in mine if r.get(job) is not None]
            s[job] = statistics.median(values) if values else None
        tcp_bytes = sum(s[j] or 0 for j in ("tcp-tx-1", "tcp-rx-1", "tcp-tx-4", "tcp-rx-4")) / 8 * seconds
        s["cpu_seconds_per_gb"] = s["cpu_seconds"] / (tcp_bytes / 1e9) if s["cpu_seconds"] and tcp_bytes else None
        out[side] = s
    return out


def table(summary):
    units = {"rr": "µs", "udp64-tx": "pps", "udp64-rx": "pps", "cpu_seconds_per_gb": "s/GB"}
    lines = []
    for ours, theirs in PAIRS.items():
        if ours not in summary:
            continue
        others = [theirs] + (["qemu-vhost"] if ours == "vireo-tap" else [])
        others = [o for o in others if o in summary]
        head = f"| {'job':22} | {ours:>12} | " + " | ".join(f"{o:>12} | {'ratio':>6}" for o in others) + " |"
        lines += [head, "|" + "---|" * (2 + 2 * len(others))]
        for job in JOBS + ["cpu_seconds_per_gb"]:
            a = summary[ours].get(job)
            cells = [f"{job + (' (' + units[job] + ')' if job in units else ' (bit/s)' if job.startswith('tcp') else ''):22}",
                     f"{a:12.4g}" if a is not None else f"{'-':>12}"]
            for o in others:
                b = summary[o].get(job)
                cells.append(f"{b:12.4g}" if b is not None else f"{'-':>12}")
                cells.append(f"{a / b:6.2f}" if a is not None and b else f"{'-':>6}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv):
    if argv and argv[0] == "--inside":
        inside(argv[1], int(argv[2]), int(argv[3]), argv[4].split(","))
        return 0
    out, rounds, seconds = argv[0], int(argv[1]), int(argv[2])
    sides = argv[3].split(",") if len(argv) > 3 else SIDES
    env = dict(os.environ)
    for var, args in (("VIREO_GUEST_KERNEL", ["guest-kernel", "--print", "bzimage"]),
                      ("VIREO_GUEST_INITRAMFS_BENCH", ["guest-initramfs", "--with", "bench"])):
        if not env.get(var):
            env[var] = subprocess.run([str(ROOT / "scripts" / args[0]), *args[1:]], check=True,
                                      stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[0]
    raw = os.path.join(tempfile.mkdtemp(prefix="vireo-bench-net-"), "runs.json")
    # The nested VM itself sometimes dies (its kernel, under QEMU's emulation of nested SVM): a new
    # one takes over the boots still to do, a few times at most, and the count is reported.
    sandboxes = 0
    while sandboxes < 4:
        done = len(json.loads(pathlib.Path(raw).read_text())) if os.path.exists(raw) else 0
        left = len(plan(rounds, sides)) - done
        if left == 0:
            break
        sandboxes += 1
        timeout = 600 + left * (180 + 10 * seconds * len(JOBS))
        rc = subprocess.run([str(ROOT / "scripts" / "sandbox"), "--memory", "4G", "--timeout", str(timeout), "--",
                             "sh", "-c", 'export TMPDIR=$VIREO_SANDBOX_TMPFS; exec "$@"', "sh",
                             "/usr/bin/python3", str(pathlib.Path(__file__).resolve()), "--inside", raw, str(rounds),
                             str(seconds), ",".join(sides)], cwd=ROOT, env=env).returncode
        if rc != 0:
            print(f"bench-net: the nested VM ended with status {rc} after {done} boots", file=sys.stderr)
    if not os.path.exists(raw):
        print("bench-net: no results", file=sys.stderr)
        return 1
    runs = json.loads(pathlib.Path(raw).read_text())
    summary = summarize(runs, seconds)
    pathlib.Path(out).write_text(json.dumps({"rounds": rounds, "seconds": seconds, "sandboxes": sandboxes, "runs": runs,
                                             "summary": summary}, indent=1))
    print(table(summary))
    print(f"{len(runs)} boots in {sandboxes} nested VM(s); per side, boots with every job: "
          + ", ".join(f"{side} {sum(1 for r in runs if r['side'] == side and all(r.get(j) for j in JOBS))}"
                      f"/{sum(1 for r in runs if r['side'] == side)}" for side in sides))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
