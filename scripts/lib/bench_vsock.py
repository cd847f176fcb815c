#!/usr/bin/env python3
"""scripts/bench --vsock: virtio-vsock, Vireo against QEMU's vhost-vsock, in one sandbox,
interleaved (ABBA).

Each side boots the same kernel and initramfs (--with bench) with 2 vCPUs and 512 MiB on
virtio-pci and runs the guest's bench-vsock, whose services the host uses:

  vireo         Vireo's in-process vsock; host programs on its Unix sockets (CONNECT <port>, and
                a listener on <uds_path>_5000)
  qemu-vhost    QEMU q35 with vhost-vsock-pci (the host kernel's vhost); host programs on
                AF_VSOCK

Jobs: h2g (the host sends BYTES to the guest's sink in 64 KiB writes and waits for its
count), rr (one-byte round trips to the guest's echo, mean microseconds), g2h (the guest sends
BYTES in 64 KiB writes to a host sink, timed from its connection to its end). Besides: the VMM's
CPU seconds over the jobs and per gigabyte moved. QEMU's figure leaves out the vhost worker,
a kernel thread outside its process on the sandbox's kernel, so it flatters QEMU. Only ratios
within a run mean anything.

usage: bench_vsock.py OUT_JSON ROUNDS BYTES      (outside: runs sandboxes)
       bench_vsock.py --inside OUT_JSON ROUNDS BYTES
"""
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))

from bench import cpu_seconds  # noqa: E402
from bench_sandbox import guest_env, plan, run_in_sandboxes, run_rounds  # noqa: E402
from vmm import BASE_CMDLINE  # noqa: E402

SIDES = ["vireo", "qemu-vhost"]
JOBS = ["h2g", "g2h", "rr"]
CID = 3
ROUND_TRIPS = 2000
CHUNK = 64 * 1024


def argv_for(side, kernel, initramfs, uds, nbytes):
    cmdline = f"{BASE_CMDLINE} vireo.test=bench-vsock vireo.bench_bytes={nbytes}"
    if side == "vireo":
        return [str(ROOT / "build" / "vireo"), "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline", cmdline,
                "--cpus", "2", "--memory", "512M", "--console", "stdio",
                "--device", f"type=vsock,transport=pci,cid={CID},uds_path={uds}"]
    return ["qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-cpu", "host", "-smp", "2", "-m", "512M",
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
            "-kernel", kernel, "-initrd", initramfs, "-append", cmdline,
            "-device", f"vhost-vsock-pci,guest-cid={CID}"]


class Sink(threading.Thread):
    """The host's sink for g2h: times one connection from accept to its end, then answers."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock, self.result, self.error = sock, None, None

    def run(self):
        try:
            self.sock.settimeout(600)
            conn, _ = self.sock.accept()
            with conn:
                t0, total = time.monotonic(), 0
                while True:
                    data = conn.recv(1 << 18)
                    if not data:
                        break
                    total += len(data)
                seconds = time.monotonic() - t0
                conn.sendall(f"{total} 0\n".encode())
                self.result = (total, seconds)
        except Exception as e:  # noqa: BLE001
            self.error = repr(e)


def connect(side, uds, port):
    if side == "vireo":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(uds)
        s.sendall(f"CONNECT {port}\n".encode())
        line = b""
        while not line.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                raise RuntimeError(f"guest port {port} refused")
            line += c
        return s
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.connect((CID, port))
    return s


def host_jobs(side, uds, nbytes):
    res = {}
    payload = os.urandom(CHUNK)
    with connect(side, uds, 1234) as s:
        t0 = time.monotonic()
        sent = 0
        while sent < nbytes:
            n = min(CHUNK, nbytes - sent)
            s.sendall(payload[:n])
            sent += n
        s.shutdown(socket.SHUT_WR)
        answer = s.recv(128)
        seconds = time.monotonic() - t0
        if not answer.split() or int(answer.split()[0]) != nbytes:
            raise RuntimeError(f"h2g: the guest counted {answer!r}")
        res["h2g"] = nbytes * 8 / seconds
    with connect(side, uds, 1235) as s:
        times = []
        for _ in range(ROUND_TRIPS):
            t0 = time.monotonic()
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise RuntimeError("rr: no echo")
            times.append(time.monotonic() - t0)
        res["rr"] = statistics.mean(times) * 1e6
    return res


def run_side(side, kernel, initramfs, nbytes, workdir):
    uds = os.path.join(workdir, f"{side}.vsock")
    if side == "vireo":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(f"{uds}_5000")
    else:
        listener = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        listener.bind((socket.VMADDR_CID_ANY, 5000))
    listener.listen(1)
    sink = Sink(listener)
    sink.start()
    proc = subprocess.Popen(argv_for(side, kernel, initramfs, uds, nbytes), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    output, marks, ready = [], {}, threading.Event()

    def read():
        for line in iter(proc.stdout.readline, b""):
            text = line.decode("utf-8", "replace")
            output.append(text)
            m = re.search(r"VIREO-AGENT: info bench\.(ready|done)=", text)
            if m:
                marks[m.group(1)] = cpu_seconds(proc.pid)
                if m.group(1) == "ready":
                    ready.set()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    result = {"side": side}
    try:
        if not ready.wait(timeout=180):
            raise RuntimeError("the guest did not get ready")
        if side == "vireo":
            for _ in range(100):  # the VMM's socket exists from its start, but be patient
                if os.path.exists(uds):
                    break
                time.sleep(0.1)
        result.update(host_jobs(side, uds, nbytes))
        rc = proc.wait(timeout=600)
        result["exit"] = rc
        sink.join(timeout=10)
        if sink.result:
            total, seconds = sink.result
            result["g2h"] = total * 8 / seconds if total == nbytes else None
        if marks.get("ready") is not None and marks.get("done") is not None:
            result["cpu_seconds"] = marks["done"] - marks["ready"]
    except Exception as e:  # noqa: BLE001 (one failed boot is a missing figure, not the end)
        result["error"] = repr(e)
        os.killpg(proc.pid, 9)
        proc.wait()
    finally:
        listener.close()
        for p in (uds, f"{uds}_5000"):
            if os.path.exists(p):
                os.unlink(p)
    if any(result.get(j) is None for j in JOBS):
        result["output_tail"] = "".join(output)[-3000:]
    return result


def inside(out, rounds, nbytes):
    kernel = os.environ["VIREO_GUEST_KERNEL"]
    initramfs = os.environ["VIREO_GUEST_INITRAMFS_BENCH"]
    subprocess.run(["modprobe", "vhost_vsock"], stderr=subprocess.DEVNULL)
    workdir = tempfile.mkdtemp(prefix="vb-")
    run_rounds(out, plan(rounds, SIDES), lambda side: run_side(side, kernel, initramfs, nbytes, workdir), "bench-vsock")


def summarize(runs, nbytes):
    out = {}
    for side in SIDES:
        mine = [r for r in runs if r["side"] == side]
        s = {}
        for job in JOBS + ["cpu_seconds"]:
            values = [r.get(job) for r in mine if r.get(job) is not None]
            s[job] = statistics.median(values) if values else None
        s["cpu_seconds_per_gb"] = s["cpu_seconds"] / (2 * nbytes / 1e9) if s["cpu_seconds"] else None
        s["boots"] = len(mine)
        out[side] = s
    return out


def table(summary):
    units = {"h2g": "bit/s", "g2h": "bit/s", "rr": "µs", "cpu_seconds_per_gb": "s/GB"}
    a, b = summary.get("vireo", {}), summary.get("qemu-vhost", {})
    lines = ["| job | vireo | qemu-vhost | ratio |", "|---|---|---|---|"]
    for job in JOBS + ["cpu_seconds_per_gb"]:
        x, y = a.get(job), b.get(job)
        ratio = f"{x / y:.2f}" if x and y else "-"
        lines.append(f"| {job} ({units[job]}) | {x:.4g} | {y:.4g} | {ratio} |" if x and y
                     else f"| {job} ({units[job]}) | {x if x else '-'} | {y if y else '-'} | - |")
    return "\n".join(lines)


def main(argv):
    if argv and argv[0] == "--inside":
        inside(argv[1], int(argv[2]), int(argv[3]))
        return 0
    out, rounds, nbytes = argv[0], int(argv[1]), int(argv[2])
    env = guest_env("VIREO_GUEST_KERNEL", "VIREO_GUEST_INITRAMFS_BENCH")
    raw = os.path.join(tempfile.mkdtemp(prefix="vireo-bench-vsock-"), "runs.json")
    sandboxes = run_in_sandboxes(pathlib.Path(__file__).resolve(), raw, len(plan(rounds, SIDES)), [rounds, nbytes], env,
                                 400, "bench-vsock")
    if not os.path.exists(raw):
        print("bench-vsock: no results", file=sys.stderr)
        return 1
    runs = json.loads(pathlib.Path(raw).read_text())
    summary = summarize(runs, nbytes)
    pathlib.Path(out).write_text(json.dumps({"rounds": rounds, "bytes": nbytes, "sandboxes": sandboxes, "runs": runs,
                                             "summary": summary}, indent=1))
    print(table(summary))
    print(f"{len(runs)} boots in {sandboxes} nested VM(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
