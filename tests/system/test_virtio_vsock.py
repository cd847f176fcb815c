"""virtio-vsock with the Linux driver, its host end on Unix sockets in the VMM: host programs
connect to guest services (a 100 MiB stream checked by CRC32 across a pause of the VM, a socat
echo, SEQPACKET messages), the guest connects to host services (a 100 MiB half-closed stream,
32 connections at once, SEQPACKET, socat VSOCK-CONNECT), and a host program asking for a port
nobody listens on is refused. On both transports. Runs where /dev/kvm works (scripts/sandbox).

The same boot carries virtio-balloon (tests/guest/tests/virtio-balloon): inflated through the API,
the guest's MemTotal falls and, on mmio, the VMM's resident set with it; deflated, it comes back;
on pci with free page reporting, memory the guest frees leaves the VMM's resident set; the
statistics arrive; on mmio, a free page hinting round started from the API takes the guest's
free memory out of the resident set. And virtio-mem (tests/guest/tests/virtio-mem): resized up
by 1 GiB through the API, the guest's MemTotal and lsmem grow and it stores more than its boot
RAM (on pci 1 GiB, which it then frees: free page reporting gives it back to the host within
seconds); resized to 0, the memory goes away again and the VMM's resident set falls. All three
devices run on split rings on mmio and packed rings on pci."""
import os
import socket
import subprocess
import threading
import time

import pytest

import agent
from transports import TRANSPORTS
from vmm import BASE_CMDLINE, Guest, api, temp_dir, wait_for_socket
from vsock_peer import VsockHostPeer, connect_guest, send_stream

pytestmark = pytest.mark.kvm

STREAM_BYTES = 100 << 20
BALLOON_MIB = 64
MEM_MIB = 1024
MEM_FILL_MIB = {"mmio": 384, "pci": 1024}  # more than the guest's 256 MiB of boot RAM


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def balloon_status(api_sock):
    return next(d for d in api(api_sock, "status")["result"]["devices"] if d["type"] == "balloon")["device"]


def balloon_steps(g, api_sock, reporting):
    """The host's half of the guest's virtio-balloon test; returns what it measured."""
    out = {}
    if reporting:
        assert g.wait_for("VIREO-AGENT: info balloon.freed=", timeout=140), g.output[-4000:]
        touched = int(agent.parse(g.output).info["balloon.touched"])
        # Linux reports free 2 MiB blocks 2 s after they are freed; the host discards them at once.
        start, deadline = rss_kib(g.proc.pid), time.monotonic() + 30
        while time.monotonic() < deadline and start - rss_kib(g.proc.pid) < 0.75 * touched * 1024:
            time.sleep(0.5)
        out["reported"] = balloon_status(api_sock)
        out["rss_reported"] = (start, rss_kib(g.proc.pid))
    assert g.wait_for("VIREO-AGENT: info balloon.ready=", timeout=140), g.output[-4000:]
    before = rss_kib(g.proc.pid)
    out["set"] = api(api_sock, "balloon-set", id="balloon0", size=f"{BALLOON_MIB}M")
    assert g.wait_for("VIREO-AGENT: info balloon.inflated_memtotal=", timeout=90), g.output[-4000:]
    out["rss_inflated"] = (before, rss_kib(g.proc.pid))
    out["inflated"] = balloon_status(api_sock)
    out["stats"] = api(api_sock, "balloon-stats", id="balloon0")
    out["unset"] = api(api_sock, "balloon-set", id="balloon0", size=0)
    assert g.wait_for("VIREO-AGENT: info balloon.deflated_memtotal=", timeout=90), g.output[-4000:]
    out["stats_later"] = api(api_sock, "balloon-stats", id="balloon0")
    out["deflated"] = balloon_status(api_sock)
    if not reporting:
        out["hint"] = hint_steps(g, api_sock)
    return out


def hint_steps(g, api_sock):
    """A free page hinting round from the API: Linux hands over its free 4 MiB blocks, ends the
    round with STOP, and takes them back once the device answers DONE (§5.5.6.4)."""
    before = rss_kib(g.proc.pid)
    out = {"start": api(api_sock, "balloon-hint-start", id="balloon0")}
    deadline = time.monotonic() + 60
    st = balloon_status(api_sock)
    while time.monotonic() < deadline and st["hint_cmd_id"] != 1:  # VIRTIO_BALLOON_CMD_ID_DONE
        time.sleep(0.2)
        st = balloon_status(api_sock)
    out["done"] = st
    out["rss"] = (before, rss_kib(g.proc.pid))
    out["stop"] = api(api_sock, "balloon-hint-stop", id="balloon0")
    return out


def mem_status(api_sock):
    return next(d for d in api(api_sock, "status")["result"]["devices"] if d["type"] == "mem")["device"]


def mem_steps(g, api_sock, transport, reporting):
    """The host's half of the guest's virtio-mem test; returns what it measured."""
    out = {}
    assert g.wait_for("VIREO-AGENT: info mem.ready=", timeout=140), g.output[-4000:]
    out["rss_before"] = rss_kib(g.proc.pid)
    out["up"] = api(api_sock, "mem-resize", id="mem0", requested_size=f"{MEM_MIB}M")
    assert g.wait_for("VIREO-AGENT: info mem.filled=", timeout=240), g.output[-4000:]
    out["rss_filled"] = rss_kib(g.proc.pid)
    out["plugged"] = mem_status(api_sock)
    if reporting:
        # The guest frees what it stored; the balloon's free page reporting gives it back,
        # plugged memory included. The "within seconds": the first 30 s count.
        assert g.wait_for("VIREO-AGENT: info mem.freed=", timeout=60), g.output[-4000:]
        freed, start = time.monotonic(), out["rss_filled"]
        want = 0.75 * MEM_FILL_MIB[transport] * 1024
        while time.monotonic() < freed + 30 and start - rss_kib(g.proc.pid) < want:
            time.sleep(0.2)
        out["rss_reported"] = rss_kib(g.proc.pid)
        out["reported_s"] = round(time.monotonic() - freed, 1)
    out["down"] = api(api_sock, "mem-resize", id="mem0", requested_size=0)
    # The driver unplugs the free part and retries the rest only after a back-off of its own;
    # once the guest has freed the file, a second request (a config interrupt) wakes it at once.
    assert g.wait_for("VIREO-AGENT: info mem.released=", timeout=120), g.output[-4000:]
    out["again"] = api(api_sock, "mem-resize", id="mem0", requested_size=0)
    assert g.wait_for("VIREO-AGENT: info mem.unplugged_memtotal=", timeout=120), g.output[-4000:]
    out["rss_after"] = rss_kib(g.proc.pid)
    out["unplugged"] = mem_status(api_sock)
    return out


class HostSide(threading.Thread):
    """The host programs' connections to the guest, started once the guest's services listen."""

    def __init__(self, uds, api_sock):
        super().__init__(daemon=True)
        self.uds, self.api_sock = uds, api_sock
        self.results, self.error = {}, None

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 (reported to the test)
            self.error = repr(e)

    def _run(self):
        uds = self.uds
        # A port nobody listens on: the guest answers RST, the VMM closes our socket unanswered.
        self.results["refused"] = connect_guest(uds, 4321) is None
        # socat's echo in the guest (its listener may come up a moment after the others).
        for _ in range(100):
            s = connect_guest(uds, 1235)
            if s is not None:
                break
            time.sleep(0.2)
        with s:
            s.sendall(b"ping through socat\n")
            self.results["echo"] = s.recv(64).decode().strip()
        # The way people script it: socat on the host's side too.
        socat = subprocess.run(["socat", "-t", "10", "-", f"UNIX-CONNECT:{uds}"],
                               input=b"CONNECT 1235\nhello from a host socat\n", capture_output=True, timeout=60)
        self.results["host_socat"] = socat.stdout.decode(errors="replace").splitlines()
        # SEQPACKET: three messages, their boundaries kept both ways.
        seq = connect_guest(uds, 1236, socket.SOCK_SEQPACKET)
        with seq:
            sizes = []
            for size in (1, 3000, 60000):
                seq.send(bytes([size % 251]) * size)
            for size in (1, 3000, 60000):
                msg = seq.recv(1 << 17)
                sizes.append(len(msg) if msg == bytes([size % 251]) * size else -1)
            self.results["seq"] = sizes
        # 100 MiB to the sink, with the VM paused for a second in the middle.
        paused = {}

        def pause_once(sent):
            if not paused and sent >= STREAM_BYTES // 2:
                paused["pause"] = api(self.api_sock, "pause")["ok"]
                time.sleep(1)
                paused["resume"] = api(self.api_sock, "resume")["ok"]

        sink = connect_guest(uds, 1234)
        with sink:
            self.results["h2g"] = send_stream(sink, STREAM_BYTES, during=pause_once)
        self.results["paused"] = paused
        self.results["status"] = api(self.api_sock, "status")["result"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_vsock_streams_seqpacket_and_socat_both_ways(vireo, kvm, guest_kernel, guest_initramfs, transport,
                                                    record_property):
    d = temp_dir()
    # Free page reporting on pci only: the pages it discards could not show an inflation's effect.
    reporting = transport == "pci"
    # The driver takes a packed ring whenever it is offered: split on mmio, packed on pci.
    packed = "off" if transport == "mmio" else "on"
    uds = os.path.join(d, "v.sock")
    api_sock = os.path.join(d, "api.sock")
    peer = VsockHostPeer(uds)
    g = Guest([vireo, "run", "--kernel", guest_kernel, "--initrd", guest_initramfs, "--cmdline",
               f"{BASE_CMDLINE} vireo.test=virtio-vsock,virtio-balloon,virtio-mem vireo.balloon_mib={BALLOON_MIB} "
               f"vireo.mem_mib={MEM_MIB} vireo.mem_fill_mib={MEM_FILL_MIB[transport]} "
               f"vireo.balloon_reporting={reporting:d}", "--cpus", "2", "--memory", "256M", "--console", "stdio",
               "--api-socket", api_sock, "--device",
               f"type=vsock,transport={transport},cid=7,uds_path={uds},packed={packed}",
               # Hinting where reporting is off: each gives back free memory, and each shows alone.
               "--device", f"type=balloon,transport={transport},id=balloon0,reporting={'on' if reporting else 'off'},"
               f"hinting={'off' if reporting else 'on'},packed={packed}",
               "--device", f"type=mem,transport={transport},id=mem0,region_size=2G,packed={packed}"])
    host = HostSide(uds, api_sock)
    try:
        assert g.wait_for("VIREO-AGENT: info vsock.ready=", timeout=140), g.output[-4000:]
        assert wait_for_socket(api_sock, g.proc)
        host.start()
        host.join(timeout=400)
        assert not host.is_alive(), "host side still running\n" + g.output[-3000:]
        balloon = balloon_steps(g, api_sock, reporting)
        mem = mem_steps(g, api_sock, transport, reporting)
        rc = g.wait(timeout=400)
    finally:
        g.kill()
        peer.stop()
    report = agent.parse(g.output)
    assert report.tests.get("virtio-vsock") == ("pass", ""), report.summary() + g.output[-4000:]
    assert report.tests.get("virtio-balloon") == ("pass", ""), report.summary() + g.output[-4000:]
    # The resident-set figures, for the record (the JUnit file's properties).
    record_property("balloon_rss_kib", {k: v for k, v in balloon.items() if k.startswith("rss_")})
    record_property("mem_rss_kib", {k: v for k, v in mem.items() if k.startswith("rss_")})
    if "hint" in balloon:
        record_property("hint_rss_kib", balloon["hint"]["rss"])
    if "reported_s" in mem:
        record_property("mem_reported_s", mem["reported_s"])
    check_balloon(report.info, balloon, transport, reporting)
    assert report.tests.get("virtio-mem") == ("pass", ""), report.summary() + g.output[-4000:]
    check_mem(report.info, mem, transport, reporting)
    assert rc == 0
    assert host.error is None, host.error
    assert peer.errors == [], peer.errors
    info, res = report.info, host.results
    assert info["vsock.transport"] == transport
    assert info["vsock.cid"] == "7"
    # Host to guest: what the guest counted is what we sent, and it told us the same.
    sent, crc, answer = res["h2g"]
    assert info["vsock.h2g"] == f"{sent} {crc}" == answer
    assert res["paused"] == {"pause": True, "resume": True}
    assert res["echo"] == "ping through socat"
    assert len(res["host_socat"]) == 2 and res["host_socat"][0].startswith("OK "), res["host_socat"]
    assert res["host_socat"][1] == "hello from a host socat"
    assert res["seq"] == [1, 3000, 60000]
    assert info["vsock.seq_echo"] == "1 3000 60000"
    assert res["refused"] is True
    # Guest to host: the guest's count and CRC, then our answer after its half-close.
    g_bytes, g_crc, *reply = info["vsock.g2h"].split()
    assert int(g_bytes) == STREAM_BYTES
    assert reply == [g_bytes, g_crc]
    assert peer.received[5000] == (STREAM_BYTES, g_crc)
    assert info["vsock.many"] == "32" and peer.received[5001] == 32
    assert info["vsock.seq_send"] == "1 4096 65536" and peer.received[5003] == [1, 4096, 65536]
    assert info["vsock.socat"] == "hello-from-host" and peer.received[5002] == "hello-from-guest"
    # The API saw the transfer: bytes to the guest, and connections opened and closed.
    entry = next(dev for dev in res["status"]["devices"] if dev["type"] == "vsock")
    VIRTIO_F_RING_PACKED = 1 << 34
    assert bool(int(entry["features"], 16) & VIRTIO_F_RING_PACKED) == (transport == "pci"), entry["features"]
    vsock = entry["device"]
    assert vsock["guest_cid"] == 7
    assert vsock["counters"]["opened"] >= 4, vsock
    assert vsock["dropped"]["malformed"] == 0 and vsock["dropped"]["credit_overrun"] == 0, vsock


def check_balloon(info, b, transport, reporting):
    assert info["balloon.transport"] == transport
    # The page features the Linux driver took: MUST_TELL_HOST (0), STATS_VQ (1), and
    # FREE_PAGE_HINT (3) or REPORTING (5) where offered. PAGE_POISON (4) is offered, and a guest
    # that does not poison its free pages (no page_poison=1 or init_on_free=1 here) declines it.
    features = info["balloon.features"]
    assert features[0] == "1" and features[1] == "1" and features[4] == "0", features
    assert features[3] == ("0" if reporting else "1"), features
    assert features[5] == ("1" if reporting else "0"), features
    assert features[34] == ("1" if transport == "pci" else "0"), features  # VIRTIO_F_RING_PACKED
    assert b["set"]["ok"], b["set"]
    mib = BALLOON_MIB
    total, inflated = int(info["balloon.memtotal"]), int(info["balloon.inflated_memtotal"])
    assert total - inflated >= mib * 1024 - 1024, (total, inflated)
    assert int(info["balloon.deflated_memtotal"]) >= total
    st = b["inflated"]
    assert st["target_bytes"] == mib << 20
    assert st["actual_bytes"] == mib << 20, st
    assert st["inflated_pages"] >= (mib << 20) // 4096, st
    assert st["bad_pfns"] == 0 and st["bad_requests"] == 0, st
    assert b["deflated"]["deflated_pages"] >= (mib << 20) // 4096, b["deflated"]
    assert b["deflated"]["actual_bytes"] == 0, b["deflated"]
    # The guest's statistics: its memory total is the guest's RAM less what the balloon holds.
    assert b["stats"]["ok"], b["stats"]
    later = b["stats_later"]["result"]
    assert later["updates"] >= 1, later
    assert 0 < later["stats"]["total_memory"] <= 256 << 20, later
    assert "free_memory" in later["stats"] and "available_memory" in later["stats"], later
    before, after = b["rss_inflated"]
    if reporting:
        rep = b["reported"]
        touched = int(info["balloon.touched"])
        # The freed memory left the VMM: the guest reported at least what it had touched (and
        # the never-touched free memory besides), and the resident set fell by at least three
        # quarters of what it touched (the rest: pages the guest took again meanwhile).
        assert rep["reported_bytes"] >= touched << 20, rep
        start, end = b["rss_reported"]
        assert start - end >= 0.75 * touched * 1024, (start, end, touched, rep)
    else:
        # The pages the balloon took were ones the guest had touched: the VMM's resident set
        # fell by at least 90 % of the balloon.
        assert before - after >= 0.9 * mib * 1024, (before, after, st)
        check_hint(info, b["hint"])


def check_hint(info, h):
    assert h["start"]["ok"] and h["stop"]["ok"], h
    st = h["done"]
    # The round ended: the driver sent STOP when it had no free 4 MiB block left, and the device
    # answered DONE, which gives the pages back to the guest.
    assert st["hint_cmd_id"] == 1, st
    assert st["stale_hints"] == 0 and st["bad_requests"] == 0 and st["bad_pfns"] == 0, st
    # What it hinted: most of what the guest had touched and freed, less the balloon's 64 MiB
    # (given back at inflation, not resident since), was still resident and now is not.
    resident_free = (int(info["balloon.touched"]) - BALLOON_MIB) * 1024
    assert st["hinted_bytes"] >= resident_free * 1024 // 2, st
    before, after = h["rss"]
    assert before - after >= resident_free // 2, (before, after, resident_free, st)


def check_mem(info, m, transport, reporting):
    assert info["mem.transport"] == transport
    # UNPLUGGED_INACCESSIBLE (1) is offered and Linux takes it; ACPI_PXM (0) is not offered.
    features = info["mem.features"]
    assert features[0] == "0" and features[1] == "1", features
    assert features[34] == ("1" if transport == "pci" else "0"), features  # VIRTIO_F_RING_PACKED
    assert m["up"]["ok"] and m["down"]["ok"] and m["again"]["ok"], m
    total = int(info["mem.memtotal"])
    # The guest's memory grew by what was plugged: MemTotal and the online memory blocks.
    assert int(info["mem.plugged_memtotal"]) >= total + MEM_MIB * 1024 - 4096, info
    assert int(info["mem.lsmem_plugged"]) >= int(info["mem.lsmem_before"]) + (MEM_MIB << 20), info
    plugged = m["plugged"]
    assert plugged["plugged_size"] == MEM_MIB << 20 and plugged["requested_size"] == MEM_MIB << 20, plugged
    assert plugged["usable_region_size"] >= MEM_MIB << 20, plugged
    # The guest stored more than its boot RAM holds; at least the excess lived in plugged
    # memory, which the host had to back.
    fill_kib = MEM_FILL_MIB[transport] * 1024
    excess_kib = fill_kib - total
    assert int(info["mem.filled"]) >= fill_kib, info
    assert m["rss_filled"] - m["rss_before"] >= 0.9 * excess_kib, m
    if reporting:
        # Freed, the 1 GiB left the VMM within 30 s: at least three quarters of it (the rest,
        # pages the guest took again meanwhile or blocks not yet whole).
        assert m["rss_filled"] - m["rss_reported"] >= 0.75 * fill_kib, m
    # Unplugged: the guest's memory is what it booted with, and the host got the memory back.
    assert int(info["mem.unplugged_memtotal"]) < total + 4096, info
    assert int(info["mem.lsmem_unplugged"]) == int(info["mem.lsmem_before"]), info
    st = m["unplugged"]
    assert st["plugged_size"] == 0 and st["requested_size"] == 0, st
    assert st["released_bytes"] >= MEM_MIB << 20, st
    assert st["errors"] == 0 and st["bad_requests"] == 0 and st["discard_failures"] == 0, st
    assert m["rss_filled"] - m["rss_after"] >= 0.9 * excess_kib, m
