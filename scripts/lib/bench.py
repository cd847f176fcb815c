#!/usr/bin/env python3
"""scripts/bench: virtio-blk, Vireo against QEMU, and the device model against fio.

Two parts, each interleaved ABBA so that drift on a noisy machine hits both sides alike; only
the ratios of one run mean anything:

- guest (through scripts/sandbox, which has /dev/kvm): the same kernel, initramfs (--with bench),
  command line, 1 vCPU and 512 MiB under Vireo with virtio-mmio beside QEMU -M microvm (modern
  virtio-mmio), and Vireo with virtio-pci beside QEMU -M q35 (virtio-blk-pci, modern only),
  QEMU with -nodefaults -no-user-config; one raw image on the sandbox's tmpfs (page
  cached). Measured: exec to the agent's init marker, VMM memory beyond guest RAM after boot
  and at the end of the I/O run (smaps Rss/Pss, executable text apart), fio 4 KiB randread and
  randwrite at QD1 and QD32 (IOPS, p50/p99 completion latency at QD1), and IOPS per CPU-second
  of the VMM process.
- inproc (on this machine, no KVM): tests/bench/blk_bench, requests per second through the
  device model over fake guest memory and the real io_uring backend, against fio with io_uring
  on the same page-cached file.

usage: scripts/bench [--rounds N] [--seconds S] [--out FILE] [--no-guest] [--no-inproc]
                     [--jobs RW:QD,...] [--transports mmio,pci] [--variant LABEL=VIREO_BINARY ...]
       scripts/bench --device scsi [--rounds N] [--seconds S] [--jobs ...] [--transports ...]
       scripts/bench --device pmem [--rounds N] [--seconds S]
       scripts/bench --stress-boot N [--out FILE]
       scripts/bench --net [--rounds N] [--seconds S] [--sides SIDE,...] [--out FILE]
       scripts/bench --vsock [--rounds N] [--bytes SIZE] [--out FILE]
       scripts/bench --balloon [--rounds N] [--mib MIB] [--cycles N] [--sides SIDE,...] [--out FILE]
       bench.py --inside OUT JSON_SETTINGS   (the guest part, inside the sandbox)

--stress-boot N boots a 2-vCPU guest N times under each of Vireo mmio, Vireo pci, QEMU microvm and
QEMU q35, interleaved, with I/O and IPIs on both CPUs, and counts how each boot ended (pass, stall,
hang, reset, ...): scripts/lib/stress_boot.py. Nothing else runs then; --out gets JSON lines, one
per boot.

--device scsi runs the same fio jobs on a virtio-scsi disk (the in-process SCSI target) beside
QEMU's virtio-scsi with scsi-hd (virtio-scsi-device on microvm, virtio-scsi-pci on q35) and beside
Vireo's own virtio-blk, on each transport, with the same image. --device pmem compares virtio-pmem
with QEMU's virtio-pmem-pci (q35; microvm has none) on pci, through ext4 with DAX in the guest:
1 MiB stores and loads through a shared mmap (memory bandwidth, and first-touch faults on the
host) and 4 KiB writes each with fsync (one FLUSH request, an fdatasync on the host, per write);
tests/guest/tests/bench-pmem. Neither has an in-process part.

--variant adds another Vireo build to the guest part (an A/B of a change in one run): it runs
beside the others on each transport as LABEL-mmio / LABEL-pci and is compared with the same QEMU.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))
sys.path.insert(0, str(ROOT / "scripts" / "lib"))

MiB = 1 << 20
GUEST_MEMORY_MIB = 512
JOBS = ["randread-qd1", "randread-qd32", "randwrite-qd1", "randwrite-qd32"]
PMEM_JOBS = ["write-dax", "read-dax", "fsync-4k"]
PMEM_IMAGE_MIB = 256
QEMU_FOR = {"mmio": "qemu-microvm", "pci": "qemu-q35"}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fill_image(path, size):
    chunk = bytes(range(256)) * (MiB // 256)
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(chunk)


# ---- in-process ---------------------------------------------------------------------------

def run_blk_bench(image, rw, qd, seconds, iommu=False):
    out = subprocess.run([str(ROOT / "build" / "tests" / "blk_bench"), "--file", image, "--rw", rw, "--qd", str(qd),
                          "--seconds", str(seconds)] + (["--iommu"] if iommu else []),
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)["iops"]


def run_blk_bench_iommu(image, rw, qd, seconds):
    return run_blk_bench(image, rw, qd, seconds, iommu=True)


def run_host_fio(image, rw, qd, seconds):
    out = subprocess.run(["fio", "--name=host", f"--filename={image}", "--ioengine=io_uring", f"--rw={rw}", "--bs=4k",
                          f"--iodepth={qd}", "--time_based", f"--runtime={seconds}", "--invalidate=0",
                          "--norandommap", "--randrepeat=0", "--output-format=json"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    job = json.loads(out)["jobs"][0]
    return job["read"]["iops"] + job["write"]["iops"]


def inproc(rounds, seconds, jobs):
    tmp = tempfile.mkdtemp(prefix="vireo-bench-")
    image = os.path.join(tmp, "inproc.img")
    try:
        fill_image(image, 256 * MiB)
        results = {}
        for job in jobs:
            rw, qd = job.split("-qd")
            model, iommu, fio = [], [], []
            runs = {"model": (run_blk_bench, model), "iommu": (run_blk_bench_iommu, iommu), "fio": (run_host_fio, fio)}
            for r in range(rounds):
                # ABBA over the three: every other round runs them in reverse.
                order = ["model", "iommu", "fio"] if r % 2 == 0 else ["fio", "iommu", "model"]
                for name in order:
                    run, sink = runs[name]
                    sink.append(run(image, rw, int(qd), seconds))
            # The IOMMU case maps every page of the harness's RAM separately and translates
            # every ring and buffer access through them.
            results[job] = {"device_model_iops": model, "device_model_iommu_iops": iommu, "fio_iops": fio,
                            "ratio": ratio(median(model), median(fio)),
                            "iommu_ratio": ratio(median(iommu), median(model))}
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- guests (inside the sandbox) ----------------------------------------------------------

def smaps_overhead(pid):
    """Rss and Pss in KiB of mappings that are not guest RAM, and of executable text."""
    rss = pss = text = 0
    current = None
    try:
        lines = open(f"/proc/{pid}/smaps").read().splitlines()
    except OSError:
        return None
    entries = []
    for line in lines:
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            current = {"header": line, "Rss": 0, "Pss": 0, "Size": 0}
            entries.append(current)
        elif current is not None:
            m = re.match(r"^(Size|Rss|Pss):\s+(\d+) kB", line)
            if m:
                current[m.group(1)] = int(m.group(2))
    for e in entries:
        fields = e["header"].split()
        perms = fields[1]
        path = fields[5] if len(fields) > 5 else ""
        # Guest RAM: an anonymous (or memfd) mapping of at least a quarter of the guest's RAM.
        anon_big = (path == "" or path.startswith("/memfd:") or path == "[anon]") and \
            e["Size"] >= GUEST_MEMORY_MIB * 1024 // 4
        if anon_big:
            continue
        if "x" in perms and path.startswith("/"):
            text += e["Rss"]
            continue
        rss += e["Rss"]
        pss += e["Pss"]
    return {"rss_kib": rss, "pss_kib": pss, "text_rss_kib": text}


def cpu_seconds(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_terse(line, write):
    f = line.split(";")
    base = 46 if write else 5  # 0-based start of the write / read status block (terse v3)
    iops = float(f[base + 2])
    bw_mib_s = float(f[base + 1]) / 1024
    pct = {}
    for item in f[base + 12:base + 32]:
        if "%=" in item:
            p, v = item.split("%=")
            pct[float(p)] = int(v)
    return {"iops": iops, "bw_mib_s": bw_mib_s, "clat_p50_us": pct.get(50.0), "clat_p99_us": pct.get(99.0)}


class Run:
    """One VMM process, its output with the time each agent record arrived."""

    def __init__(self, argv):
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.output = ""
        self.marks = {}
        self.samples = {}
        self.lock = threading.Condition()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        pending = ""
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            now = time.monotonic()
            text = chunk.decode("utf-8", "replace")
            with self.lock:
                self.output += text
                pending += text
                *lines, pending = re.split(r"\r\n|\r|\n", pending)
                for line in lines:
                    m = re.search(r"VIREO-AGENT: (init|begin \S+|info bench\.(ready|done)=)", line)
                    if m:
                        key = m.group(1).split("=")[0]
                        if key.startswith("begin bench-"):
                            key = "begin bench"
                        self.marks.setdefault(key, now)
                        if key in ("begin bench", "info bench.ready", "info bench.done"):
                            self.samples[key] = (smaps_overhead(self.proc.pid), cpu_seconds(self.proc.pid))
                self.lock.notify_all()

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
            return None


def guest_round(vmm, argv, timeout, seconds, jobs_run):
    run = Run(argv)
    rc = run.wait(timeout)
    time.sleep(0.2)
    info = dict(re.findall(r"VIREO-AGENT: info (bench\.[\w.-]+)=([^\r\n]*)", run.output))
    result = {"vmm": vmm, "exit": rc}
    if "init" in run.marks:
        result["boot_to_init_ms"] = (run.marks["init"] - run.start) * 1000
    boot = run.samples.get("begin bench")
    done = run.samples.get("info bench.done")
    ready = run.samples.get("info bench.ready")
    result["memory_after_boot"] = boot[0] if boot else None
    result["memory_after_io"] = done[0] if done else None
    jobs = {}
    for job in jobs_run:
        if f"bench.{job}" in info:
            jobs[job] = parse_terse(info[f"bench.{job}"], job.startswith(("randwrite", "write", "fsync")))
            irqs = info.get(f"bench.{job}.irqs", "")
            if irqs.isdigit() and jobs[job]["iops"] > 0:
                # Guest interrupts per request: each one is an exit, and in the nested VM
                # exits cost more than anything else a request does.
                jobs[job]["irqs_per_request"] = int(irqs) / (jobs[job]["iops"] * seconds)
    result["fio"] = jobs
    if ready and done and ready[1] is not None and done[1] is not None:
        cpu = done[1] - ready[1]
        result["vmm_cpu_seconds_during_fio"] = cpu
        requests = sum(j["iops"] for j in jobs.values()) * seconds
        result["requests_per_vmm_cpu_second"] = requests / cpu if cpu > 0 else None
    result["engine"] = info.get("bench.engine")
    if not jobs:
        result["output_tail"] = run.output[-3000:]
    return result


def inside(out, settings):
    from vmm import BASE_CMDLINE
    rounds, seconds, jobs_run = settings["rounds"], settings["seconds"], settings["jobs"]
    device = settings.get("device", "blk")
    kernel = os.environ["VIREO_GUEST_KERNEL"]
    initramfs = os.environ["VIREO_GUEST_INITRAMFS_BENCH"]
    tmp = os.environ.get("VIREO_SANDBOX_TMPFS") or tempfile.gettempdir()
    image = os.path.join(tmp, "bench.img")
    fill_image(image, (PMEM_IMAGE_MIB if device == "pmem" else 256) * MiB)
    bench_jobs = ",".join(j.replace("-qd", ":") for j in jobs_run)
    test = "bench-pmem" if device == "pmem" else "bench-blk"
    cmdline = f"{BASE_CMDLINE} vireo.test={test} vireo.bench_runtime={seconds} vireo.bench_jobs={bench_jobs}"
    vireo_device = {
        "blk": f"type=block,path={image},serial=vireo-bench",
        "scsi": f"type=scsi,path={image},serial=vireo-bench",
        "pmem": f"type=pmem,path={image}",
    }

    def vireo(transport, binary=str(ROOT / "build" / "vireo"), kind=device):
        return [binary, "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline", cmdline,
                "--cpus", "1", "--memory", f"{GUEST_MEMORY_MIB}M", "--console", "stdio",
                "--device", f"{vireo_device[kind]},transport={transport}"]

    def qemu(machine, devices, memory=f"{GUEST_MEMORY_MIB}M"):
        return ["qemu-system-x86_64", "-accel", "kvm", "-M", machine, "-cpu", "host", "-smp", "1",
                "-m", memory, "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                "-serial", "stdio", "-global", "virtio-mmio.force-legacy=false",
                "-kernel", kernel, "-initrd", initramfs, "-append", cmdline] + devices

    drive = ["-drive", f"id=d0,file={image},format=raw,if=none,cache=writeback,aio=io_uring"]
    machine = {"mmio": "microvm,acpi=on", "pci": "q35"}
    sides = []
    for transport in settings["transports"]:
        if device == "blk":
            # Each Vireo transport beside the QEMU machine that has it: virtio-mmio on microvm,
            # modern virtio-pci (MSI-X) on q35.
            blk = {"mmio": "virtio-blk-device", "pci": "virtio-blk-pci,disable-legacy=on"}[transport]
            sides.append((f"vireo-{transport}", vireo(transport)))
            for label, binary in settings["variants"].items():
                sides.append((f"{label}-{transport}", vireo(transport, binary)))
            sides.append((QEMU_FOR[transport], qemu(machine[transport], drive + [
                "-device", f"{blk},drive=d0,serial=vireo-bench"])))
        elif device == "scsi":
            hba = {"mmio": "virtio-scsi-device", "pci": "virtio-scsi-pci,disable-legacy=on"}[transport]
            sides.append((f"vireo-scsi-{transport}", vireo(transport)))
            for label, binary in settings["variants"].items():
                sides.append((f"{label}-scsi-{transport}", vireo(transport, binary)))
            sides.append((f"qemu-scsi-{transport}", qemu(machine[transport], drive + [
                "-device", f"{hba},id=hba0", "-device", "scsi-hd,drive=d0,bus=hba0.0,serial=vireo-bench"])))
            sides.append((f"vireo-blk-{transport}", vireo(transport, kind="blk")))
        else:
            sides.append((f"vireo-pmem-{transport}", vireo(transport)))
            for label, binary in settings["variants"].items():
                sides.append((f"{label}-pmem-{transport}", vireo(transport, binary)))
            if transport == "pci":
                # QEMU's virtio-pmem is a memory device: it needs a memory-hotplug slot.
                sides.append(("qemu-pmem-pci", qemu("q35", [
                    "-object", f"memory-backend-file,id=pm0,share=on,mem-path={image},size={PMEM_IMAGE_MIB}M",
                    "-device", "virtio-pmem-pci,memdev=pm0,id=pmem0"],
                    memory=f"{GUEST_MEMORY_MIB}M,slots=2,maxmem={2 * GUEST_MEMORY_MIB + PMEM_IMAGE_MIB}M")))
    timeout = 120 + 8 * seconds * len(jobs_run)
    # One boot first whose figures are dropped: the first guest in a fresh sandbox ran DAX
    # stores at a sixth of the speed of the same VMM's later boots (the nested VM warming up),
    # which the ABBA order would charge to whichever side comes first.
    warm = guest_round(sides[0][0], sides[0][1], timeout, seconds, jobs_run)
    print(f"bench: warm-up boot {sides[0][0]} (dropped): exit {warm.get('exit')}", file=sys.stderr)
    runs = []
    for r in range(rounds):
        order = sides if r % 2 == 0 else list(reversed(sides))
        for name, argv in order:
            res = guest_round(name, argv, timeout, seconds, jobs_run)
            if not res["fio"]:
                # The emulated nested SVM resets or hangs a guest now and then, under every
                # VMM alike (scripts/lib/kvm-tests.py); one more boot, the first one's exit kept.
                print(f"bench: round {r} {name} ended early (exit {res.get('exit')}); once more", file=sys.stderr)
                first_exit = res.get("exit")
                res = guest_round(name, argv, timeout, seconds, jobs_run)
                res["first_try_exit"] = first_exit
            res["round"] = r
            runs.append(res)
            print(f"bench: round {r} {name}: {json.dumps({k: v for k, v in res.items() if k != 'output_tail'})}",
                  file=sys.stderr)
    pathlib.Path(out).write_text(json.dumps(runs, indent=1))


def pairs(summary):
    """(ours, theirs) for every Vireo side that ran, by the transport at the end of its name:
    beside QEMU with the same device, and a scsi side also beside Vireo's virtio-blk."""
    out = []
    for name in sorted(summary or {}):
        if name.startswith("qemu-") or name.startswith("vireo-blk-"):
            continue
        label, transport = name.rsplit("-", 1)
        kind = label.split("-")[1] if label.count("-") == 1 else None  # vireo-scsi, LABEL-pmem
        theirs = [f"qemu-{kind}-{transport}"] if kind else [QEMU_FOR.get(transport)]
        if kind == "scsi":
            theirs.append(f"vireo-blk-{transport}")
        out += [(name, other) for other in theirs if other in summary]
    return out


def summarize_guest(runs):
    summary = {}
    for vmm in sorted({r["vmm"] for r in runs}):
        mine = [r for r in runs if r["vmm"] == vmm]
        s = {"boot_to_init_ms": median([r.get("boot_to_init_ms") for r in mine])}
        for when in ("memory_after_boot", "memory_after_io"):
            s[when + "_rss_kib"] = median([(r.get(when) or {}).get("rss_kib") for r in mine])
            s[when + "_pss_kib"] = median([(r.get(when) or {}).get("pss_kib") for r in mine])
        s["text_rss_kib"] = median([(r.get("memory_after_boot") or {}).get("text_rss_kib") for r in mine])
        for job in JOBS + PMEM_JOBS:
            if not any(job in r["fio"] for r in mine):
                continue
            if job.endswith("-dax"):
                s[job + "_mib_s"] = median([r["fio"].get(job, {}).get("bw_mib_s") for r in mine])
                continue
            s[job + "_iops"] = median([r["fio"].get(job, {}).get("iops") for r in mine])
            s[job + "_irqs_per_request"] = median([r["fio"].get(job, {}).get("irqs_per_request") for r in mine])
            if job.endswith(("qd1", "fsync-4k")):
                s[job + "_p50_us"] = median([r["fio"].get(job, {}).get("clat_p50_us") for r in mine])
                s[job + "_p99_us"] = median([r["fio"].get(job, {}).get("clat_p99_us") for r in mine])
        s["cpu_seconds_during_fio"] = median([r.get("vmm_cpu_seconds_during_fio") for r in mine])
        s["requests_per_vmm_cpu_second"] = median([r.get("requests_per_vmm_cpu_second") for r in mine])
        summary[vmm] = s
    return summary


def table(summary, inproc_results):
    lines = []
    for ours, theirs in pairs(summary):
        lines.append(f"{'guest (nested, ratios only)':34} {ours:>14} {theirs:>14} {'ratio':>11}")
        for key in summary[ours]:
            a, b = summary[ours][key], summary[theirs].get(key)
            digits = 3 if key.endswith("_per_request") else 1
            fa = f"{a:14.{digits}f}" if a is not None else f"{'-':>14}"
            fb = f"{b:14.{digits}f}" if b is not None else f"{'-':>14}"
            r = ratio(a, b)
            lines.append(f"{key:34} {fa} {fb} {r:11.2f}" if r is not None else f"{key:34} {fa} {fb} {'-':>11}")
        lines.append("")
    if inproc_results:
        lines.append("")
        lines.append(f"{'in process (no KVM)':34} {'model IOPS':>12} {'fio IOPS':>12} {'model/fio':>11} "
                     f"{'+IOMMU IOPS':>12} {'IOMMU/none':>11}")
        for job, r in inproc_results.items():
            lines.append(f"{job:34} {median(r['device_model_iops']):12.0f} {median(r['fio_iops']):12.0f} "
                         f"{r['ratio']:11.2f} {median(r['device_model_iommu_iops']):12.0f} {r['iommu_ratio']:11.2f}")
    return "\n".join(lines)


def main(argv):
    if argv and argv[0] == "--inside":
        inside(argv[1], json.loads(argv[2]))
        return 0
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="ABBA rounds (each runs both sides once)")
    p.add_argument("--seconds", type=int, default=5, help="seconds per fio job / in-process run")
    p.add_argument("--out", default="bench-results.json")
    p.add_argument("--no-guest", action="store_true")
    p.add_argument("--no-inproc", action="store_true")
    p.add_argument("--jobs", default=",".join(j.replace("-qd", ":") for j in JOBS),
                   help="fio jobs, RW:QD comma-separated (default all four)")
    p.add_argument("--transports", default=None,
                   help="Vireo transports, each beside its QEMU machine (default mmio,pci; pci with --device pmem)")
    p.add_argument("--device", default="blk", choices=["blk", "scsi", "pmem"],
                   help="the device under test in the guest part (see above)")
    p.add_argument("--variant", action="append", default=[], metavar="LABEL=BINARY",
                   help="another Vireo binary to run beside the others in the guest part")
    p.add_argument("--stress-boot", type=int, metavar="N",
                   help="only count failures of N 2-vCPU boots per VMM and machine (see above)")
    p.add_argument("--net", action="store_true",
                   help="only the network benchmark: Vireo tap and user against QEMU tap (vhost off and on) "
                        "and user, iperf3 and ping (scripts/lib/bench_net.py)")
    p.add_argument("--vsock", action="store_true",
                   help="only the vsock benchmark: Vireo's in-process vsock against QEMU's vhost-vsock, throughput "
                        "both ways and round trips (scripts/lib/bench_vsock.py)")
    p.add_argument("--bytes", default="256M", help="with --vsock: bytes per direction")
    p.add_argument("--balloon", action="store_true",
                   help="only the balloon benchmark: free page reporting against QEMU's, the VMM's resident set "
                        "over a guest's allocate-and-free cycles (scripts/lib/bench_balloon.py)")
    p.add_argument("--mib", type=int, default=256, help="with --balloon: MiB the guest stores per cycle")
    p.add_argument("--cycles", type=int, default=3, help="with --balloon: allocate-and-free cycles per boot")
    p.add_argument("--sides", default="", metavar="SIDE,...",
                   help="with --net: which sides (default all: vireo-tap, qemu-tap, qemu-vhost, vireo-user, qemu-user); "
                        "with --balloon: vireo,qemu plus vireo-noreport,qemu-noreport for the baseline without "
                        "reporting")
    p.add_argument("--sandbox-tcg", default="multi", metavar="MODE[,MODE]",
                   help="with --stress-boot: the sandbox's TCG thread modes, alternated by round "
                        "(multi, single or both)")
    a = p.parse_args(argv)
    if a.vsock:
        import bench_vsock
        out = a.out if a.out != "bench-results.json" else "bench-vsock.json"
        nbytes = int(a.bytes[:-1]) << {"K": 10, "M": 20, "G": 30}[a.bytes[-1].upper()] if a.bytes[-1].isalpha() \
            else int(a.bytes)
        return bench_vsock.main([os.path.abspath(out), str(a.rounds), str(nbytes)])
    if a.balloon:
        import bench_balloon
        out = a.out if a.out != "bench-results.json" else "bench-balloon.json"
        return bench_balloon.main([os.path.abspath(out), str(a.rounds), str(a.mib), str(a.cycles), a.sides])
    if a.net:
        import bench_net
        out = a.out if a.out != "bench-results.json" else "bench-net.json"
        return bench_net.main([os.path.abspath(out), str(a.rounds), str(a.seconds)] + ([a.sides] if a.sides else []))
    if a.stress_boot is not None:
        if a.stress_boot < 1:
            p.error("--stress-boot wants a positive number of boots")
        import stress_boot
        out = a.out if a.out != "bench-results.json" else "stress-boot.jsonl"
        modes = a.sandbox_tcg.split(",")
        if not modes or any(m not in ("multi", "single") for m in modes):
            p.error("--sandbox-tcg wants multi, single or multi,single")
        variants = {}
        for v in a.variant:
            label, sep, binary = v.partition("=")
            if not sep or not re.fullmatch(r"[a-z][a-z0-9]*(-mmio|-pci)?", label) or label in ("vireo", "qemu"):
                p.error(f"--variant {v!r}: want LABEL=BINARY")
            variants[label] = os.path.abspath(binary)
        # The sandbox passes the environment through to the boots inside.
        os.environ["VIREO_STRESS_VARIANTS"] = json.dumps(variants)
        stress_boot.VARIANTS = variants
        return stress_boot.main([os.path.abspath(out), str(a.stress_boot), ",".join(modes)])
    jobs = []
    for j in a.jobs.split(","):
        job = j.replace(":", "-qd")
        if job not in JOBS:
            p.error(f"--jobs: {j!r} is not one of {', '.join(x.replace('-qd', ':') for x in JOBS)}")
        jobs.append(job)
    if a.device == "pmem":
        jobs = PMEM_JOBS
    transports = (a.transports or ("pci" if a.device == "pmem" else "mmio,pci")).split(",")
    for t in transports:
        if t not in QEMU_FOR:
            p.error(f"--transports: {t!r} is not mmio or pci")
    variants = {}
    for v in a.variant:
        label, sep, binary = v.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9]*(-mmio|-pci)?", label) or label in ("vireo", "qemu"):
            p.error(f"--variant {v!r}: want LABEL=BINARY, LABEL in lower-case letters and digits, not vireo or qemu")
        if not os.access(binary, os.X_OK):
            p.error(f"--variant {v!r}: {binary} is not an executable file")
        variants[label] = os.path.abspath(binary)
    result = {"rounds": a.rounds, "seconds": a.seconds, "device": a.device}
    if not a.no_inproc and a.device == "blk":
        print("bench: in-process device model against fio", file=sys.stderr)
        result["inproc"] = inproc(a.rounds, a.seconds, jobs)
    if not a.no_guest:
        env = dict(os.environ)
        env.setdefault("VIREO_GUEST_KERNEL", subprocess.run([str(ROOT / "scripts" / "guest-kernel"), "--print", "bzimage"],
                                                            check=True, stdout=subprocess.PIPE, text=True).stdout.strip())
        env.setdefault("VIREO_GUEST_INITRAMFS_BENCH", subprocess.run(
            [str(ROOT / "scripts" / "guest-initramfs"), "--with", "bench"], check=True, stdout=subprocess.PIPE,
            text=True).stdout.strip())
        raw = os.path.join(tempfile.mkdtemp(prefix="vireo-bench-"), "guest.json")
        settings = {"rounds": a.rounds, "seconds": a.seconds, "jobs": jobs, "transports": transports,
                    "variants": variants, "device": a.device}
        sides = len(transports) * (3 + len(variants))
        timeout = 600 + a.rounds * sides * (180 + 8 * a.seconds * len(jobs))
        print("bench: guests under Vireo and QEMU (scripts/sandbox)", file=sys.stderr)
        rc = subprocess.run([str(ROOT / "scripts" / "sandbox"), "--memory", "4G", "--timeout", str(timeout), "--",
                             "sh", "-c", 'export TMPDIR=$VIREO_SANDBOX_TMPFS; exec "$@"', "sh",
                             "/usr/bin/python3", str(pathlib.Path(__file__).resolve()), "--inside", raw,
                             json.dumps(settings)], cwd=ROOT, env=env).returncode
        if rc != 0 or not os.path.exists(raw):
            print(f"bench: the guest part failed (status {rc})", file=sys.stderr)
        else:
            runs = json.loads(pathlib.Path(raw).read_text())
            result["guest_runs"] = runs
            result["guest"] = summarize_guest(runs)
    pathlib.Path(a.out).write_text(json.dumps(result, indent=1))
    print(table(result.get("guest"), result.get("inproc")))
    print(f"bench: results in {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
