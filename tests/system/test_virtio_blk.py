"""virtio-blk in a Linux guest: a file system, multiqueue, discard / zero-out / secure erase with
their effect checked in the host image, a read-only disk, a resize through the API socket, fio
with verification, and data that survives SIGKILL of the VMM after the guest's sync, on a disk
and on a virtio-pmem range mounted with DAX. Two boots per transport. Runs where /dev/kvm works (scripts/sandbox)."""
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

import agent
from transports import TRANSPORTS
from vmm import BASE_CMDLINE, Guest, api, temp_dir, wait_for_socket

pytestmark = pytest.mark.kvm

MiB = 1 << 20


def image(directory, name, size, fill=None):
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        if fill is not None:
            f.write(fill * (size // len(fill)))
        f.truncate(size)
    return path


def boot(vireo, kernel, initramfs, tests, devices, memory="256M", extra=(), cmdline=""):
    """`devices` are --device specs, or dicts (entries with arrays, such as faults), which go
    into a config file beside the first image."""
    argv = [vireo, "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline",
            f"{BASE_CMDLINE} vireo.test={tests} {cmdline}".strip(), "--cpus", 2, "--memory", memory, "--console", "stdio"]
    entries = [d for d in devices if isinstance(d, dict)]
    for d in devices:
        if not isinstance(d, dict):
            argv += ["--device", d]
    if entries:
        config = os.path.join(os.path.dirname(entries[0]["path"]), "devices.json")
        with open(config, "w") as f:
            json.dump({"devices": entries}, f)
        argv += ["--config", config]
    return Guest(argv + list(extra))


# What tests/guest/tests/virtio-blk-faults expects of the disk "vireo-faulty".
FAULTS = [
    {"op": "read", "first_sector": 2048, "last_sector": 2055, "error": "eio"},
    {"op": "write", "first_sector": 4096, "last_sector": 4103, "count": 1, "error": "enospc"},
    {"op": "read", "first_sector": 8192, "last_sector": 8199, "latency_ms": 300},
    {"op": "flush", "error": "eio"},
]


def read_range(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_filesystem_discard_readonly_and_resize(vireo, kvm, guest_kernel, guest_initramfs, transport):
    d = temp_dir()
    main = image(d, "main.img", 64 * MiB)
    raw = image(d, "raw.img", 16 * MiB)
    ro = image(d, "ro.img", 8 * MiB, fill=b"readonly")
    faulty = image(d, "faulty.img", 8 * MiB)
    scsi0 = image(d, "scsi0.img", 64 * MiB)
    scsi_ro = image(d, "scsi-ro.img", 8 * MiB, fill=b"scsi-ro!")
    hot = image(d, "hot.img", 4 * MiB)
    sock = os.path.join(d, "api.sock")
    g = boot(vireo, guest_kernel, guest_initramfs, "virtio-blk,virtio-blk-faults,virtio-scsi", [
        f"type=block,transport={transport},path={main},serial=vireo-main,num_queues=2,id=main",
        f"type=block,transport={transport},path={raw},serial=vireo-raw,id=raw,discard=on,secure_erase=on",
        f"type=block,transport={transport},path={ro},serial=vireo-ro,readonly=on",
        {"type": "block", "transport": transport, "path": faulty, "serial": "vireo-faulty", "id": "faulty",
         "faults": FAULTS},
        # virtio-scsi (tests/guest/tests/virtio-scsi): two units of one target, one more hot-plugged.
        {"type": "scsi", "transport": transport, "id": "scsi0", "num_queues": 2, "luns": [
            {"path": scsi0, "target": 0, "lun": 0, "serial": "vireo-scsi0", "discard": True},
            {"path": scsi_ro, "target": 0, "lun": 3, "serial": "vireo-scsi-ro", "readonly": True}]},
    ], extra=["--api-socket", sock], cmdline="vireo.scsi_hotplug=1")
    try:
        # The main disk works through everything below with completions out of order, spurious
        # interrupts and some interrupts late (as if lost): Linux's driver must not care.
        assert wait_for_socket(sock, g.proc)
        sloppy = api(sock, "fault-inject", id="main", reorder_used_every=3, duplicate_interrupts_every=5,
                     drop_interrupts_every=50)
        assert sloppy["ok"], sloppy
        assert g.wait_for("blk.resize_ready=", timeout=140), g.output[-4000:]
        reply = api(sock, "block-resize", id="raw", size="32M")
        assert reply["ok"], reply
        assert reply["result"]["capacity_sectors"] == 65536
        assert g.wait_for("blk.faults=seen", timeout=120), g.output[-4000:]
        # Each rule fired as often as the guest's requests called for; the API shows it.
        devices = api(sock, "status")["result"]["devices"]
        assert all(dev["driver_violations"] == [] for dev in devices), devices
        faults = next(dev for dev in devices if dev.get("id") == "faulty")
        fired = [r["fired"] for r in faults["device"]["faults"]]
        assert fired[:3] == [1, 1, 1] and fired[3] >= 1, faults
        timing = next(dev for dev in devices if dev.get("id") == "main")["injected_timing"]
        assert timing["reordered_used"] > 0 and timing["duplicated_interrupts"] > 0, timing
        assert timing["dropped_interrupts"] > 0, timing
        cleared = api(sock, "fault-inject", id="faulty", faults=[])
        assert cleared["ok"] and cleared["result"]["faults"] == [], cleared
        # A unit plugged in and pulled out again while the guest watches.
        assert g.wait_for("scsi.hotplug_ready=", timeout=140), g.output[-4000:]
        assert not api(sock, "scsi-add", id="scsi0", path=hot, target=0, lun=0)["ok"]  # taken
        added = api(sock, "scsi-add", id="scsi0", path=hot, target=2, lun=0, serial="vireo-hot")
        assert added["ok"], added
        assert g.wait_for("scsi.added=", timeout=60), g.output[-4000:]
        scsi_status = next(dev for dev in api(sock, "status")["result"]["devices"] if dev["id"] == "scsi0")
        removed = api(sock, "scsi-remove", id="scsi0", target=2, lun=0)
        assert removed["ok"], removed
        rc = g.wait(timeout=120)
    finally:
        g.kill()
    report = agent.parse(g.output)
    assert report.tests.get("virtio-blk") == ("pass", ""), report.summary() + g.output[-4000:]
    assert report.tests.get("virtio-blk-faults") == ("pass", ""), report.summary() + g.output[-4000:]
    assert rc == 0
    assert report.info["blk.transport"] == transport
    assert report.info["blk.resized"] == "65536"

    # The host image shows what the guest asked for: zeroes in the three ranges (a hole where
    # discarded), the fourth MiB untouched, the new size, the read-only image unchanged.
    assert os.path.getsize(raw) == 32 * MiB
    assert read_range(raw, 0, 3 * MiB) == bytes(3 * MiB)
    assert read_range(raw, 3 * MiB, MiB) != bytes(MiB)
    fd = os.open(raw, os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_DATA) >= MiB, "the discarded MiB is not a hole"
    finally:
        os.close(fd)
    assert read_range(ro, 0, 8 * MiB) == b"readonly" * MiB

    # virtio-scsi: what sg3-utils and lsscsi saw, the unmapped range, the hot-plugged unit.
    assert report.tests.get("virtio-scsi") == ("pass", ""), report.summary() + g.output[-4000:]
    assert report.info["scsi.transport"] == transport
    assert sorted(report.info["scsi.lsscsi"].split()) == ["0:0", "0:3"]
    assert report.info["scsi.readcap"] == f"{64 * MiB // 512 - 1} 512"
    assert report.info["scsi.lbpme"] == "1" and report.info["scsi.lbpu"] == "1"
    assert report.info["scsi.added"].split()[1] == "3" and report.info["scsi.removed"] == "2"
    assert read_range(scsi0, 48 * MiB, MiB) == bytes(MiB)
    assert read_range(scsi_ro, 0, 8 * MiB) == b"scsi-ro!" * MiB
    luns = {(u["target"], u["lun"]): u for u in scsi_status["device"]["luns"]}
    assert set(luns) == {(0, 0), (0, 3), (2, 0)}, scsi_status
    counters = luns[(0, 0)]["counters"]
    assert counters["writes"] > 0 and counters["reads"] > 0 and counters["unmaps"] >= 1, luns[(0, 0)]
    assert luns[(0, 3)]["read_only"] and luns[(0, 3)]["counters"]["writes"] == 0, luns[(0, 3)]
    assert scsi_status["driver_violations"] == [], scsi_status


def debugfs_cat(image_path, name):
    """The contents of /NAME in the ext4 file system in IMAGE_PATH, read on the host."""
    debugfs = "/usr/sbin/debugfs" if os.path.exists("/usr/sbin/debugfs") else "debugfs"
    out = subprocess.run([debugfs, "-R", f"cat /{name}", image_path], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fio_verify_and_sigkill_after_sync_loses_nothing(vireo, kvm, guest_kernel, guest_initramfs_bench,
                                                         transport):
    """virtio-blk, a virtio-scsi disk and virtio-pmem: fio verify on both disks, and data the guest
    synced (FLUSH, SYNCHRONIZE CACHE, pmem FLUSH) is in the host files after SIGKILL."""
    d = temp_dir()
    disk = image(d, "fio.img", 64 * MiB)
    scsi_disk = image(d, "fio-scsi.img", 64 * MiB)
    pmem = os.path.join(d, "pmem.img")  # created by the VMM, at the size asked for
    sock = os.path.join(d, "api.sock")
    g = boot(vireo, guest_kernel, guest_initramfs_bench, "virtio-blk-fio,virtio-pmem,virtio-blk-sync-kill", [
        f"type=block,transport={transport},path={disk},serial=vireo-fio,num_queues=2",
        f"type=scsi,transport={transport},path={scsi_disk},serial=vireo-fio-scsi,num_queues=2,id=scsi0",
        f"type=pmem,transport={transport},path={pmem},size=64M,id=pmem0",
    ], memory="512M", extra=["--api-socket", sock], cmdline="vireo.fio_serials=vireo-fio,vireo-fio-scsi")
    try:
        assert g.wait_for("blk.synced=", timeout=140), g.output[-4000:]
        # The whole line: the output arrives in chunks.
        deadline = time.monotonic() + 30
        while not re.search(r"blk\.synced=[0-9a-f]{32}", g.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        # The guest's sync reached the pmem device as flushes, which all succeeded.
        devices = api(sock, "status")["result"]["devices"]
        pmem_status = next(dev for dev in devices if dev["id"] == "pmem0")
        scsi_status = next(dev for dev in devices if dev["id"] == "scsi0")
        os.killpg(g.proc.pid, signal.SIGKILL)
        g.proc.wait()
    finally:
        g.kill()
    report = agent.parse(g.output)
    assert report.tests.get("virtio-blk-fio") == ("pass", ""), report.summary() + g.output[-4000:]
    assert report.tests.get("virtio-pmem") == ("pass", ""), report.summary() + g.output[-4000:]
    assert report.info["fio.vireo-fio"] == "ok"
    assert report.info["fio.vireo-fio-scsi"] == "ok"
    expected = report.info["blk.synced"]
    pattern = (b"vireo-durable-data\n" * (MiB // 19 + 1))[:MiB]
    assert hashlib.md5(pattern).hexdigest() == expected
    assert hashlib.md5(read_range(disk, 40 * MiB, MiB)).hexdigest() == expected
    assert hashlib.md5(read_range(scsi_disk, 40 * MiB, MiB)).hexdigest() == expected
    # The guest's sync reached the SCSI disk as SYNCHRONIZE CACHE (its write cache is on).
    (lun,) = scsi_status["device"]["luns"]
    assert lun["write_cache"] and lun["counters"]["flushes"] >= 1 and lun["counters"]["io_errors"] == 0, lun
    assert scsi_status["driver_violations"] == [], scsi_status

    assert report.info["pmem.provider"] == "virtio-pmem"
    assert report.info["pmem.transport"] == transport
    assert report.info["pmem.sectors"] == str(64 * MiB // 512)
    start, size = report.info["pmem.region"].split()
    assert int(start, 16) == int(pmem_status["device"]["start"], 16) and int(size) == 64 * MiB
    assert pmem_status["device"]["flushes"] >= 1 and pmem_status["device"]["failed_flushes"] == 0, pmem_status
    assert pmem_status["driver_violations"] == [], pmem_status
    assert os.path.getsize(pmem) == 64 * MiB
    pmem_pattern = (b"vireo-pmem-durable\n" * (MiB // 19 + 1))[:MiB]
    assert hashlib.md5(pmem_pattern).hexdigest() == report.info["pmem.synced"]
    assert hashlib.md5(debugfs_cat(pmem, "durable")).hexdigest() == report.info["pmem.synced"]
