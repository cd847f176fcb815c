"""virtio-net with the Linux driver: user-mode networking with no set-up beyond --device type=net
(DHCP, a download through the gateway, an upload through a forward rule, the link taken down
and up from the API), on both transports; and a tap in a network namespace of the sandbox with
offloads, multiqueue, RSS, iperf3 TCP and UDP both ways and MTU 9000. Runs where /dev/kvm works (scripts/sandbox)."""
import os
import shutil
import subprocess
import time

import pytest

import agent
from net_peer import UserNetPeer, free_port
from transports import TRANSPORTS
from vmm import BASE_CMDLINE, Guest, api, temp_dir, wait_for_socket

pytestmark = pytest.mark.kvm


def boot(vireo, kernel, initramfs, cmdline, devices, cpus=2, memory="256M", extra=(), netns=None):
    # `ip netns exec` execs the VMM in place: the pid the harness signals is the VMM's.
    argv = (["ip", "netns", "exec", netns] if netns else []) + [vireo, "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline",
            f"{BASE_CMDLINE} {cmdline}", "--cpus", cpus, "--memory", memory, "--console", "stdio"]
    for d in devices:
        argv += ["--device", d]
    return Guest(argv + list(extra))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_user_mode_dhcp_transfers_both_ways_and_link_state(vireo, kvm, guest_kernel, guest_initramfs, transport):
    d = temp_dir()
    sock = os.path.join(d, "api.sock")
    host_port, fwd_port = free_port(), free_port()
    g = boot(vireo, guest_kernel, guest_initramfs,
             f"vireo.test=virtio-net vireo.net=user vireo.net_host_port={host_port} vireo.net_link_test=1",
             [f"type=net,transport={transport},id=net0,forward=tcp:127.0.0.1:{fwd_port}-:8080,speed=10000,"
              f"duplex=full"], extra=["--api-socket", sock])
    peer = UserNetPeer(g, host_port, fwd_port)
    try:
        assert g.wait_for("VIREO-AGENT: info net.link_wait=", timeout=140), g.output[-4000:]
        assert wait_for_socket(sock, g.proc)
        status = api(sock, "status")["result"]
        # The next MAC control command is answered VIRTIO_NET_ERR (the guest tries after the link test).
        reply = api(sock, "fault-inject", id="net0", status_faults=[{"status": "err", "request": "mac", "count": 1}])
        assert reply["ok"], reply
        if transport == "pci":
            assert api(sock, "net-link", id="net0", up=False)["ok"]
            assert g.wait_for("VIREO-AGENT: info net.link_down=", timeout=30), g.output[-3000:]
            assert api(sock, "net-link", id="net0", up=True)["ok"]
        else:
            # A flapping link instead: down for 2 s, then up (for a minute), by itself.
            reply = api(sock, "fault-inject", id="net0", link_flap={"down_ms": 2000, "up_ms": 60000})
            assert reply["ok"] and reply["result"]["link_up"] is False, reply
            assert g.wait_for("VIREO-AGENT: info net.link_down=", timeout=30), g.output[-3000:]
            assert g.wait_for("VIREO-AGENT: info net.link_up=", timeout=30), g.output[-3000:]
            flapped = api(sock, "status")["result"]
            reply = api(sock, "fault-inject", id="net0", link_flap={"down_ms": 0, "up_ms": 0})
            assert reply["ok"] and reply["result"]["link_up"] is True, reply
            link = next(dev for dev in flapped["devices"] if dev["type"] == "net")["device"]["backend"]["link"]
            assert link["changes"] >= 2, link
        assert g.wait_for("VIREO-AGENT: info net.mac_set=", timeout=60), g.output[-3000:]
        injected = next(dev for dev in api(sock, "status")["result"]["devices"] if dev["type"] == "net")["injected_status"]
        rc = g.wait(timeout=60)
    finally:
        g.kill()
        peer.join()
    report = agent.parse(g.output)
    assert report.tests.get("virtio-net") == ("pass", ""), report.summary() + g.output[-4000:]
    # The driver saw the injected status: its own warning, the change refused; the next one went through.
    assert report.info["net.mac_warning"] == "Failed to set mac address by vq command", report.info
    assert report.info["net.mac_set"] == "52:54:00:76:69:02"
    assert [rule["hit"] for rule in injected["rules"]] == [1], injected
    assert rc == 0
    assert peer.error is None, peer.error
    info = report.info
    assert info["net.transport"] == transport
    assert info["net.addr"] == "10.0.2.15/24"
    download, upload = peer.expected()
    assert info["net.download"] == download
    assert info["net.upload"] == upload
    # Two vCPUs: two queue pairs by default, which the driver uses.
    assert info["net.queues"].split() == ["rx-0", "rx-1", "tx-0", "tx-1"]
    assert info["net.speed"] == "10000" and info["net.duplex"] == "full"
    assert info["net.mtu"] == "1500"

    net = next(dev for dev in status["devices"] if dev["type"] == "net")
    device = net["device"]
    assert device["backend"]["backend"] == "user"
    assert device["link_up"] is True
    assert device["queue_pairs"] == 2
    assert device["mergeable_rx_buffers"] is True
    rx = sum(p["rx_frames"] for p in device["pairs"])
    tx = sum(p["tx_frames"] for p in device["pairs"])
    # The download alone is 1 MiB in frames of at most 1514 bytes.
    assert rx > 600 and tx > 0, device


def have_tap():
    return os.path.exists("/dev/net/tun") and shutil.which("ip") is not None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tap_with_offloads_multiqueue_rss_and_iperf3(vireo, kvm, guest_kernel, guest_initramfs_bench, transport):
    if not have_tap():
        pytest.fail("no /dev/net/tun or ip(8) in the sandbox")
    # The tap, the iperf3 server and the VMM live in a network namespace of their own: nothing
    # of the sandbox's own network is in the way or reachable.
    tap, ns = f"vtap{transport}", f"vns{transport}"
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap", "multi_queue"], check=True)
    subprocess.run(["ip", "-n", ns, "addr", "add", "192.168.77.1/24", "dev", tap], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", tap, "mtu", "9000", "up"], check=True)
    iperf = subprocess.Popen(["ip", "netns", "exec", ns, "iperf3", "-s", "-B", "192.168.77.1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = temp_dir()
    sock = os.path.join(d, "api.sock")
    g = boot(vireo, guest_kernel, guest_initramfs_bench,
             "vireo.test=virtio-net vireo.net=tap vireo.net_addr=192.168.77.2/24 vireo.net_peer=192.168.77.1 "
             "vireo.net_rss_test=1 vireo.net_link_test=2 vireo.net_fault_test=1",
             [f"type=net,transport={transport},id=net0,backend=tap,tap={tap},num_queues=4,mtu=9000"],
             cpus=4, memory="512M", extra=["--api-socket", sock], netns=ns)

    def rx_per_pair():
        device = next(dev for dev in api(sock, "status")["result"]["devices"] if dev["type"] == "net")["device"]
        return [p["rx_frames"] for p in device["pairs"]], device

    try:
        # Injected faults, in step with the guest's pings: two sent frames lost, every received
        # frame duplicated until the guest has seen it.
        assert g.wait_for("VIREO-AGENT: info net.faults_ready=", timeout=140), g.output[-4000:]
        reply = api(sock, "fault-inject", id="net0", seed=3, faults=[
            {"direction": "tx", "action": "drop", "count": 2},
            {"direction": "rx", "action": "duplicate"}])
        assert reply["ok"], reply
        assert g.wait_for("VIREO-AGENT: info net.faults=", timeout=90), g.output[-4000:]
        net_status = next(dev for dev in api(sock, "status")["result"]["devices"] if dev["type"] == "net")
        hits = [r["hit"] for r in net_status["device"]["backend"]["faults"]["rules"]]
        # For the rest (RSS, iperf3 TCP and UDP): every 50th frame either way overtaken by the
        # next, every 20th received frame 2 ms late.
        rules = api(sock, "fault-inject", id="net0", faults=[
            {"direction": "both", "action": "reorder", "every": 50},
            {"direction": "rx", "action": "delay", "ms": 2, "every": 20}])["result"]
        assert [r["action"] for r in rules["faults"]["rules"]] == ["reorder", "delay"], rules
        faults = next(dev for dev in api(sock, "status")["result"]["devices"] if dev["type"] == "net")
        assert faults["driver_violations"] == [], faults
        assert g.wait_for("VIREO-AGENT: info net.rss_moved=", timeout=140), g.output[-4000:]
        before, device = rx_per_pair()
        assert g.wait_for("VIREO-AGENT: info net.rss_probe=", timeout=60), g.output[-4000:]
        after, _ = rx_per_pair()
        # The tap deleted under the VM: the device reports the back end lost, the guest sees
        # its carrier go, the VM carries on to its end.
        assert g.wait_for("VIREO-AGENT: info net.link_wait=", timeout=60), g.output[-4000:]
        reordered = api(sock, "fault-inject", id="net0", faults=[])["result"]
        assert reordered["faults"]["rules"] == [], reordered
        late = next(dev for dev in api(sock, "status")["result"]["devices"] if dev["type"] == "net")
        subprocess.run(["ip", "-n", ns, "link", "del", tap], check=True)
        assert g.wait_for("VIREO-AGENT: info net.link_down=", timeout=60), g.output[-4000:]
        _, lost = rx_per_pair()
        rc = g.wait(timeout=60)
    finally:
        g.kill()
        iperf.kill()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    report = agent.parse(g.output)
    assert report.tests.get("virtio-net") == ("pass", ""), report.summary() + g.output[-4000:]
    assert rc == 0
    info = report.info
    assert info["net.mtu"] == "9000"
    assert info["net.queues"].split() == [f"rx-{i}" for i in range(4)] + [f"tx-{i}" for i in range(4)]
    assert info["net.channels"] == "4"
    offloads = info["net.offloads"]
    assert "tx-checksumming:on" in offloads and "tcp-segmentation-offload:on" in offloads, offloads
    assert "dup=1" in info["net.faults"], info["net.faults"]
    assert hits[0] == 2 and hits[1] >= 1, hits
    counters = late["device"]["backend"]["held"]
    assert counters["reordered"] > 0 and counters["delayed"] > 0, counters
    assert late["driver_violations"] == [], late
    assert float(info["net.iperf_tx"]) > 0 and float(info["net.iperf_rx"]) > 0
    assert float(info["net.iperf_udp_tx"]) > 0 and float(info["net.iperf_udp_rx"]) > 0
    # The driver spread the default table over the four queues; weight 0 1 0 0 moved every
    # entry to queue 1, and the next download's frames all landed there.
    assert set(info["net.rss_table"].split()) == {"0", "1", "2", "3"}
    assert set(info["net.rss_moved"].split()) == {"1"}
    delta = [a - b for a, b in zip(after, before)]
    assert delta[1] > 100 and delta[1] >= 0.95 * sum(delta), (before, after)
    assert device["rss"]["steering"] is True, device
    assert device["backend"]["backend"] == "tap" and device["backend"]["queues"] == 4, device
    assert device["backend"]["offloads_to_guest"]["tso4"] is True, device
    assert lost["link_up"] is False and lost["backend"]["link_up"] is False, lost
    assert "the guest's link goes down" in g.output
