"""virtio-blk in a Linux guest: a file system, multiqueue, discard / zero-out / secure erase with
their effect checked in the host image, a read-only disk, a resize through the API socket, fio
with verification, and data that survives SIGKILL of the VMM after the guest's sync. Two boots
per transport. Runs where /dev/kvm works (scripts/sandbox)."""
import hashlib
import json
import os
import re
import signal
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


def boot(vireo, kernel, initramfs, tests, devices, memory="256M", extra=()):
    """`devices` are --device specs, or dicts (entries with arrays, such as faults), which go
    into a config file beside the first image."""
    argv = [vireo, "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline",
            f"{BASE_CMDLINE} vireo.test={tests}", "--cpus", 2, "--memory", memory, "--console", "stdio"]
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
    sock = os.path.join(d, "api.sock")
    g = boot(vireo, guest_kernel, guest_initramfs, "virtio-blk,virtio-blk-faults", [
        f"type=block,transport={transport},path={main},serial=vireo-main,num_queues=2,id=main",
        f"type=block,transport={transport},path={raw},serial=vireo-raw,id=raw,discard=on,secure_erase=on",
        f"type=block,transport={transport},path={ro},serial=vireo-ro,readonly=on",
        {"type": "block", "transport": transport, "path": faulty, "serial": "vireo-faulty", "id": "faulty",
         "faults": FAULTS},
    ], extra=["--api-socket", sock])
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


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fio_verify_and_sigkill_after_sync_loses_nothing(vireo, kvm, guest_kernel, guest_initramfs_bench,
                                                         transport):
    d = temp_dir()
    disk = image(d, "fio.img", 64 * MiB)
    g = boot(vireo, guest_kernel, guest_initramfs_bench, "virtio-blk-fio,virtio-blk-sync-kill", [
        f"type=block,transport={transport},path={disk},serial=vireo-fio,num_queues=2",
    ], memory="512M")
    try:
        assert g.wait_for("blk.synced=", timeout=140), g.output[-4000:]
        # The whole line: the output arrives in chunks.
        deadline = time.monotonic() + 30
        while not re.search(r"blk\.synced=[0-9a-f]{32}", g.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(g.proc.pid, signal.SIGKILL)
        g.proc.wait()
    finally:
        g.kill()
    report = agent.parse(g.output)
    assert report.tests.get("virtio-blk-fio") == ("pass", ""), report.summary() + g.output[-4000:]
    assert report.info["blk.fio"] == "ok"
    expected = report.info["blk.synced"]
    pattern = (b"vireo-durable-data\n" * (MiB // 19 + 1))[:MiB]
    assert hashlib.md5(pattern).hexdigest() == expected
    assert hashlib.md5(read_range(disk, 40 * MiB, MiB)).hexdigest() == expected
