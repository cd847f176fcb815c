"""The virtio-iommu with Linux's driver: devices behind it work through its translations, on every
transport, in translated and in passthrough (bypass) mode. Runs where /dev/kvm works."""
import json
import os
import re
import socket
import time

import pytest

import agent
from net_peer import UserNetPeer, free_port
from test_virtio_basic import write_config
from virtio_env import TRANSPORTS, EchoPeer, socket_path
from vmm import BASE_CMDLINE, Guest, api, temp_dir
from vsock_peer import VsockHostPeer

VSOCK_BYTES = 4 << 20
# Behind the IOMMU: an rng and a console on every transport, a net, a vsock, a pmem, a scsi, a
# balloon and a mem device.
ENDPOINTS = 2 * len(TRANSPORTS) + 6
BALLOON_BYTES = 32 << 20
MEM_BYTES = 128 << 20

pytestmark = pytest.mark.kvm


def wait_for_memory_devices(sock, timeout=60):
    """The balloon and mem devices' status once their drivers reached the configured sizes."""
    deadline = time.monotonic() + timeout
    while True:
        devices = {d["id"]: d.get("device") for d in api(sock, "status")["result"]["devices"]}
        balloon, mem = devices["balloon0"], devices["mem0"]
        done = balloon["actual_bytes"] == BALLOON_BYTES and mem["plugged_size"] == MEM_BYTES
        if done or time.monotonic() > deadline:
            return balloon, mem
        time.sleep(0.2)


def boot_behind_iommu(vireo, kernel, initramfs, iommu_transport, cmdline_extra="", inject=False):
    d = temp_dir()
    devices = [{"type": "iommu", "transport": iommu_transport, "id": "iommu0"}]
    peers = []
    for t in TRANSPORTS:
        devices.append({"type": "rng", "transport": t, "iommu": True})
        sock = socket_path(d, f"echo-{t}.sock")
        devices.append({"type": "console", "transport": t, "iommu": True, "console_port": False,
                        "ports": [{"backend": "none"}, {"name": f"org.vireo.echo.{t}", "backend": "socket", "path": sock}]})
        peers.append(EchoPeer(sock))
    # A net device too, on the IOMMU's own transport: its receive path writes into buffers
    # that only exist as IOVAs.
    host_port, fwd_port = free_port(), free_port()
    devices.append({"type": "net", "transport": iommu_transport, "iommu": True,
                    "forward": f"tcp:127.0.0.1:{fwd_port}-:8080"})
    # And vsock, whose packets to the guest go the same way; the guest's connections to the host
    # only (the full exchange has a boot of its own, test_virtio_vsock.py).
    uds = socket_path(d, "v.sock")
    devices.append({"type": "vsock", "transport": iommu_transport, "iommu": True, "cid": 9, "uds_path": uds})
    vsock_peer = VsockHostPeer(uds)
    # And pmem, whose flushes (the DAX file system's syncs) come through translated queues; its
    # range is the guest's own memory, outside the IOMMU's reach.
    devices.append({"type": "pmem", "transport": iommu_transport, "iommu": True, "id": "pmem0",
                    "path": os.path.join(d, "pmem.img"), "size": "32M"})
    # And scsi, whose data-in and data-out buffers are IOVAs too.
    scsi_images = []
    for name, size in (("scsi0.img", 64 << 20), ("scsi-ro.img", 8 << 20)):
        scsi_images.append(os.path.join(d, name))
        with open(scsi_images[-1], "wb") as f:
            f.truncate(size)
    devices.append({"type": "scsi", "transport": iommu_transport, "iommu": True, "id": "scsi0", "luns": [
        {"path": scsi_images[0], "target": 0, "lun": 0, "serial": "vireo-scsi0", "discard": True},
        {"path": scsi_images[1], "target": 0, "lun": 3, "serial": "vireo-scsi-ro", "readonly": True}]})
    # And the memory devices, with sizes from the config that their drivers reach at boot: the
    # balloon's page lists and virtio-mem's requests are IOVAs.
    devices.append({"type": "balloon", "transport": iommu_transport, "iommu": True, "id": "balloon0",
                    "size": BALLOON_BYTES})
    devices.append({"type": "mem", "transport": iommu_transport, "iommu": True, "id": "mem0",
                    "region_size": "1G", "requested_size": MEM_BYTES})
    n = len(TRANSPORTS)
    cmdline = (f"{BASE_CMDLINE} vireo.test=iommu-groups,virtio-rng,virtio-console-echo,virtio-net,virtio-vsock,virtio-pmem,virtio-scsi,idle "
               f"vireo.rngs={n} vireo.ports={n} vireo.iommu_endpoints={ENDPOINTS} vireo.net=user "
               f"vireo.net_host_port={host_port} vireo.vsock_services=0 vireo.vsock_bytes={VSOCK_BYTES} "
               f"{cmdline_extra}")
    config = write_config(d, kernel, initramfs, cmdline, devices)
    g = Guest([vireo, "run", "--config", config])
    peers.append(UserNetPeer(g, host_port, fwd_port))
    sock = os.path.join(d, "api.sock")
    try:
        assert g.wait_for("VIREO-AGENT: begin idle", timeout=140), g.output[-4000:]
        memory = wait_for_memory_devices(sock)
        assert memory[0]["actual_bytes"] == BALLOON_BYTES and memory[1]["plugged_size"] == MEM_BYTES, \
            json.dumps([d for d in api(sock, "status")["result"]["devices"] if d["id"] in ("balloon0", "mem0")])
        state = api(sock, "iommu-state")
        status = api(sock, "status")["result"]
        injected = None
        if inject:
            # An injected fault: the next DMA write of any device behind the IOMMU is refused
            # although it is mapped. A connection through the forwarded port makes the net
            # device write a frame; Linux's IOMMU driver logs the fault the event queue brings.
            reply = api(sock, "fault-inject", id="iommu0", faults=[{"access": "write", "count": 1}])
            assert reply["ok"] and reply["result"]["faults"][0]["count"] == 1, reply
            try:
                with socket.create_connection(("127.0.0.1", fwd_port), timeout=10):
                    pass
            except OSError:
                pass  # the guest need not answer: the frame's arrival is what counts
            assert g.wait_for("fault from EP", timeout=60), g.output[-3000:]
            line = re.compile(r"page fault from EP \d+ at 0x[0-9a-f]+ \[R?W\]")
            deadline = time.monotonic() + 10  # the rest of the line
            while not line.search(g.console) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert line.search(g.console), g.output[-3000:]
            injected = api(sock, "iommu-state")["result"]
        assert api(sock, "quit")["ok"]
        assert g.wait(timeout=60) == 0, g.output[-3000:]
    finally:
        g.kill()
        for p in peers:
            p.stop()
        vsock_peer.stop()
    report = agent.parse(g.output)
    for name in ("iommu-groups", "virtio-rng", "virtio-console-echo", "virtio-net", "virtio-vsock", "virtio-pmem",
                 "virtio-scsi"):
        assert report.tests.get(name, ("missing",))[0] == "pass", report.summary() + g.output[-3000:]
    balloon, mem = memory
    assert balloon["actual_bytes"] == BALLOON_BYTES and balloon["released_bytes"] == BALLOON_BYTES, balloon
    assert balloon["bad_pfns"] == 0 and balloon["bad_requests"] == 0, balloon
    assert mem["plugged_size"] == MEM_BYTES and mem["errors"] == 0 and mem["bad_requests"] == 0, mem
    pmem = next(dev for dev in status["devices"] if dev["id"] == "pmem0")
    assert pmem["device"]["flushes"] >= 1 and pmem["device"]["failed_flushes"] == 0, pmem
    assert report.info["pmem.transport"] == iommu_transport
    assert report.info["scsi.transport"] == iommu_transport
    assert report.info["scsi.readcap"] == f"{(64 << 20) // 512 - 1} 512"
    assert state["ok"], state
    net_peer = peers.pop()
    net_peer.join()
    assert net_peer.error is None, net_peer.error
    assert (report.info["net.download"], report.info["net.upload"]) == net_peer.expected()
    for p in peers:
        assert p.error is None and len(p.lines) == 1, (p.error, p.lines)
    assert vsock_peer.errors == [], vsock_peer.errors
    g_bytes, g_crc, *_ = report.info["vsock.g2h"].split()
    assert vsock_peer.received[5000] == (VSOCK_BYTES, g_crc) and int(g_bytes) == VSOCK_BYTES
    assert report.info["vsock.many"] == "32" and report.info["vsock.seq_send"] == "1 4096 65536"
    if inject:
        return report, state["result"], status, injected
    return report, state["result"], status


@pytest.mark.parametrize("iommu_transport", TRANSPORTS)
def test_devices_behind_the_iommu_work_through_its_translations(vireo, kvm, guest_kernel, guest_initramfs,
                                                                iommu_transport):
    report, state, status, injected = boot_behind_iommu(vireo, guest_kernel, guest_initramfs, iommu_transport,
                                                        inject=True)
    assert int(report.info["iommu_grouped"]) >= ENDPOINTS
    # Linux's DMA API mapped the rings and buffers: every endpoint sits in a translated domain.
    attached = [ep for dom in state["domains"] if not dom["bypass"] for ep in dom["endpoints"]]
    assert len(attached) == ENDPOINTS, state
    assert state["mapping_count"] > 0, state
    assert state["faults_reported"] == 0, state
    # The injected fault hit once, and reached the guest as a fault report.
    assert injected["injected_faults"][0]["hit"] == 1, injected
    assert injected["faults_reported"] == 1 and injected["faults"][-1]["reason"] == "mapping", injected
    behind = [d for d in status["devices"] if d["type"] != "iommu"]
    VIRTIO_F_ACCESS_PLATFORM = 1 << 33
    # Linux's balloon driver declines ACCESS_PLATFORM (virtballoon_validate): its page lists are
    # guest-physical by design, and the device takes them so. Every other driver maps through
    # the IOMMU.
    assert all(bool(int(d["features"], 16) & VIRTIO_F_ACCESS_PLATFORM) == (d["type"] != "balloon")
               for d in behind), behind


@pytest.mark.parametrize("iommu_transport", TRANSPORTS)
def test_passthrough_mode_bypasses_translation(vireo, kvm, guest_kernel, guest_initramfs, iommu_transport):
    report, state, _ = boot_behind_iommu(vireo, guest_kernel, guest_initramfs, iommu_transport,
                                         "iommu.passthrough=1")
    assert report.info["iommu_passthrough"] == "1"
    # Identity domains: attached with the bypass flag, and nothing mapped.
    bypassed = [ep for dom in state["domains"] if dom["bypass"] for ep in dom["endpoints"]]
    assert len(bypassed) == ENDPOINTS, state
    assert state["mapping_count"] == 0, state
    assert state["faults_reported"] == 0, state
