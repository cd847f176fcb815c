"""The virtio-iommu with Linux's driver: devices behind it work through its translations, on every
transport, in translated and in passthrough (bypass) mode. Runs where /dev/kvm works."""
import os

import pytest

import agent
from net_peer import UserNetPeer, free_port
from test_virtio_basic import write_config
from virtio_env import TRANSPORTS, EchoPeer, socket_path
from vmm import BASE_CMDLINE, Guest, api, temp_dir

pytestmark = pytest.mark.kvm


def boot_behind_iommu(vireo, kernel, initramfs, iommu_transport, cmdline_extra=""):
    d = temp_dir()
    devices = [{"type": "iommu", "transport": iommu_transport}]
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
    n = len(TRANSPORTS)
    cmdline = (f"{BASE_CMDLINE} vireo.test=iommu-groups,virtio-rng,virtio-console-echo,virtio-net,idle "
               f"vireo.rngs={n} vireo.ports={n} vireo.iommu_endpoints={2 * n + 1} vireo.net=user "
               f"vireo.net_host_port={host_port} {cmdline_extra}")
    config = write_config(d, kernel, initramfs, cmdline, devices)
    g = Guest([vireo, "run", "--config", config])
    peers.append(UserNetPeer(g, host_port, fwd_port))
    sock = os.path.join(d, "api.sock")
    try:
        assert g.wait_for("VIREO-AGENT: begin idle", timeout=140), g.output[-4000:]
        state = api(sock, "iommu-state")
        status = api(sock, "status")["result"]
        assert api(sock, "quit")["ok"]
        assert g.wait(timeout=60) == 0, g.output[-3000:]
    finally:
        g.kill()
        for p in peers:
            p.stop()
    report = agent.parse(g.output)
    for name in ("iommu-groups", "virtio-rng", "virtio-console-echo", "virtio-net"):
        assert report.tests.get(name, ("missing",))[0] == "pass", report.summary() + g.output[-3000:]
    assert state["ok"], state
    net_peer = peers.pop()
    net_peer.join()
    assert net_peer.error is None, net_peer.error
    assert (report.info["net.download"], report.info["net.upload"]) == net_peer.expected()
    for p in peers:
        assert p.error is None and len(p.lines) == 1, (p.error, p.lines)
    return report, state["result"], status


@pytest.mark.parametrize("iommu_transport", TRANSPORTS)
def test_devices_behind_the_iommu_work_through_its_translations(vireo, kvm, guest_kernel, guest_initramfs,
                                                                iommu_transport):
    report, state, status = boot_behind_iommu(vireo, guest_kernel, guest_initramfs, iommu_transport)
    assert int(report.info["iommu_grouped"]) >= 2 * len(TRANSPORTS) + 1
    # Linux's DMA API mapped the rings and buffers: every endpoint sits in a translated domain.
    attached = [ep for dom in state["domains"] if not dom["bypass"] for ep in dom["endpoints"]]
    assert len(attached) == 2 * len(TRANSPORTS) + 1, state
    assert state["mapping_count"] > 0, state
    assert state["faults_reported"] == 0, state
    behind = [d for d in status["devices"] if d["type"] != "iommu"]
    VIRTIO_F_ACCESS_PLATFORM = 1 << 33
    assert all(int(d["features"], 16) & VIRTIO_F_ACCESS_PLATFORM for d in behind), behind


@pytest.mark.parametrize("iommu_transport", TRANSPORTS)
def test_passthrough_mode_bypasses_translation(vireo, kvm, guest_kernel, guest_initramfs, iommu_transport):
    report, state, _ = boot_behind_iommu(vireo, guest_kernel, guest_initramfs, iommu_transport,
                                         "iommu.passthrough=1")
    assert report.info["iommu_passthrough"] == "1"
    # Identity domains: attached with the bypass flag, and nothing mapped.
    bypassed = [ep for dom in state["domains"] if dom["bypass"] for ep in dom["endpoints"]]
    assert len(bypassed) == 2 * len(TRANSPORTS) + 1, state
    assert state["mapping_count"] == 0, state
    assert state["faults_reported"] == 0, state
