"""virtio-vsock with the Linux driver, its host end on Unix sockets in the VMM: host programs
connect to guest services (a 100 MiB stream checked by CRC32 across a pause of the VM, a socat
echo, SEQPACKET messages), the guest connects to host services (a 100 MiB half-closed stream,
32 connections at once, SEQPACKET, socat VSOCK-CONNECT), and a host program asking for a port
nobody listens on is refused. On both transports. Runs where /dev/kvm works (scripts/sandbox)."""
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
def test_vsock_streams_seqpacket_and_socat_both_ways(vireo, kvm, guest_kernel, guest_initramfs, transport):
    d = temp_dir()
    uds = os.path.join(d, "v.sock")
    api_sock = os.path.join(d, "api.sock")
    peer = VsockHostPeer(uds)
    g = Guest([vireo, "run", "--kernel", guest_kernel, "--initrd", guest_initramfs, "--cmdline",
               f"{BASE_CMDLINE} vireo.test=virtio-vsock", "--cpus", "2", "--memory", "256M", "--console", "stdio",
               "--api-socket", api_sock, "--device",
               # The driver takes a packed ring whenever it is offered: split on mmio, packed on pci.
               f"type=vsock,transport={transport},cid=7,uds_path={uds},packed={'off' if transport == 'mmio' else 'on'}"])
    host = HostSide(uds, api_sock)
    try:
        assert g.wait_for("VIREO-AGENT: info vsock.ready=", timeout=140), g.output[-4000:]
        assert wait_for_socket(api_sock, g.proc)
        host.start()
        host.join(timeout=400)
        assert not host.is_alive(), "host side still running\n" + g.output[-3000:]
        rc = g.wait(timeout=400)
    finally:
        g.kill()
        peer.stop()
    report = agent.parse(g.output)
    assert report.tests.get("virtio-vsock") == ("pass", ""), report.summary() + g.output[-4000:]
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
