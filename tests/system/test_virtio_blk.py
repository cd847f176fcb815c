"""virtio-blk in a Linux guest: a file system, multiqueue, discard / zero-out / secure erase with
their effect checked in the host image, a read-only disk, a resize through the API socket, fio
with verification, and data that survives SIGKILL of the VMM after the guest's sync. Two boots
per transport. Runs where /dev/kvm works (scripts/sandbox)."""
import hashlib
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
    argv = [vireo, "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline",
            f"{BASE_CMDLINE} vireo.test={tests}", "--cpus", 2, "--memory", memory, "--console", "stdio"]
    for d in devices:
        argv += ["--device", d]
    return Guest(argv + list(extra))


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
    sock = os.path.join(d, "api.sock")
    g = boot(vireo, guest_kernel, guest_initramfs, "virtio-blk", [
        f"type=block,transport={transport},path={main},serial=vireo-main,num_queues=2",
        f"type=block,transport={transport},path={raw},serial=vireo-raw,id=raw,discard=on,secure_erase=on",
        f"type=block,transport={transport},path={ro},serial=vireo-ro,readonly=on",
    ], extra=["--api-socket", sock])
    try:
        assert g.wait_for("blk.resize_ready=", timeout=140), g.output[-4000:]
        assert wait_for_socket(sock, g.proc)
        reply = api(sock, "block-resize", id="raw", size="32M")
        assert reply["ok"], reply
        assert reply["result"]["capacity_sectors"] == 65536
        rc = g.wait(timeout=120)
    finally:
        g.kill()
    report = agent.parse(g.output)
    assert report.tests.get("virtio-blk") == ("pass", ""), report.summary() + g.output[-4000:]
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
