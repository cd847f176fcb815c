"""Linux boots on Vireo: CPU and memory sizes, power-off, test exit codes, panics, signals and
the API socket. Runs where /dev/kvm works (scripts/sandbox)."""
import json
import os
import signal
import time

import pytest

import agent
from vmm import BASE_CMDLINE, Guest, api, temp_dir, wait_for_socket

pytestmark = pytest.mark.kvm


def boot(vireo, kernel, initramfs, tests, cpus=1, memory="256M", extra=(), cmdline_extra=""):
    cmdline = f"{BASE_CMDLINE} vireo.test={tests} {cmdline_extra}".strip()
    return Guest([vireo, "run", "--kernel", kernel, "--initrd", initramfs, "--cmdline", cmdline,
                  "--cpus", cpus, "--memory", memory, "--console", "stdio", *extra])


@pytest.mark.parametrize("cpus,memory,mib", [(1, "128M", 128), (2, "512M", 512), (4, "4G", 4096)])
def test_guest_sees_its_cpus_and_memory_and_powers_off(vireo, kvm, guest_kernel, guest_initramfs, cpus, memory,
                                                        mib):
    g = boot(vireo, guest_kernel, guest_initramfs, "smoke", cpus=cpus, memory=memory)
    rc = g.wait(timeout=140)
    report = agent.parse(g.output)
    assert rc == 0, g.output[-3000:]
    assert report.tests.get("smoke", (None,))[0] == "pass", g.output[-3000:]
    assert int(report.info["cpus"]) == cpus
    memtotal_mib = int(report.info["memtotal_kb"]) / 1024
    # The kernel keeps its own image and early allocations out of MemTotal.
    assert 0.75 * mib < memtotal_mib <= mib


def test_guest_finds_the_pcie_host_bridge_and_reaches_it_through_ecam(vireo, kvm, guest_kernel, guest_initramfs):
    # The host bridge is there with no device configured; the guest's pci test checks that the
    # kernel took ECAM from the MCFG and bound every virtio function.
    g = boot(vireo, guest_kernel, guest_initramfs, "pci")
    rc = g.wait(timeout=140)
    report = agent.parse(g.output)
    assert rc == 0, g.output[-3000:]
    assert report.tests.get("pci", (None,))[0] == "pass", g.output[-3000:]
    assert "PCI ECAM 0000 [bus 00-00]" in report.info["ecam"]
    assert report.info["pci"].startswith("0000:00:00.0 0x1b36:0x0008 class=0x060000")
    assert "OS now controls" in report.info["osc"]


def test_a_failing_guest_test_is_reported(vireo, kvm, guest_kernel, guest_initramfs):
    g = boot(vireo, guest_kernel, guest_initramfs, "fail-on-purpose")
    assert g.wait(timeout=140) == 0
    assert agent.parse(g.output).tests["fail-on-purpose"][0] == "fail"


def test_test_exit_port_code_becomes_the_exit_status(vireo, kvm, guest_kernel, guest_initramfs):
    # The guest test writes 42 to the test-exit port.
    g = boot(vireo, guest_kernel, guest_initramfs, "exit-42")
    assert g.wait(timeout=140) == 42, g.output[-3000:]


def test_agent_reports_its_failure_count_through_the_exit_port(vireo, kvm, guest_kernel, guest_initramfs):
    g = boot(vireo, guest_kernel, guest_initramfs, "smoke,fail-on-purpose,fail-on-purpose",
             cmdline_extra="vireo.exit=port")
    assert g.wait(timeout=140) == 2, g.output[-3000:]


def test_sigterm_shuts_down_cleanly(vireo, kvm, guest_kernel, guest_initramfs):
    g = boot(vireo, guest_kernel, guest_initramfs, "idle")
    assert g.wait_for("VIREO-AGENT: begin idle", timeout=140), g.output[-3000:]
    g.proc.send_signal(signal.SIGTERM)
    assert g.wait(timeout=60) == 128 + signal.SIGTERM


def test_api_shutdown_powers_the_guest_off(vireo, kvm, guest_kernel, guest_initramfs):
    sock = os.path.join(temp_dir(), "api.sock")
    g = boot(vireo, guest_kernel, guest_initramfs, "idle", extra=["--api-socket", sock])
    assert g.wait_for("VIREO-AGENT: begin idle", timeout=140), g.output[-3000:]
    assert api(sock, "status")["result"]["state"] == "running"
    assert api(sock, "shutdown")["ok"]
    # The guest's ACPI power button handler runs poweroff.
    assert g.wait(timeout=120) == 0, g.output[-3000:]
    assert not os.path.exists(sock)


def test_api_pause_stops_the_guest_and_resume_continues(vireo, kvm, guest_kernel, guest_initramfs):
    sock = os.path.join(temp_dir(), "api.sock")
    g = boot(vireo, guest_kernel, guest_initramfs, "tick", cpus=2, extra=["--api-socket", sock])
    assert g.wait_for("tick 3", timeout=140), g.output[-3000:]
    # Running: each vCPU's thread is in the guest or in a handler, with the guest's registers.
    running = api(sock, "vcpu-state")
    assert running["ok"], running
    assert [v["index"] for v in running["result"]] == [0, 1]
    for v in running["result"]:
        assert v["thread"] in ("in-guest", "in-vmm"), v
        assert v["regs"]["rip"].startswith("0xffffffff8"), v  # kernel text: idle or ticking
        assert v["mp_state"] in ("runnable", "halted"), v
        assert v["lapic"]["id"] == v["index"] and v["lapic"]["enabled"], v
        assert v["sregs"]["cr0"] != "0x0" and v["exits"] > 0, v
    assert api(sock, "pause")["ok"]
    assert api(sock, "status")["result"]["state"] == "paused"
    paused = api(sock, "vcpu-state")["result"]
    assert [v["thread"] for v in paused] == ["paused", "paused"], paused
    assert all("regs" in v for v in paused), paused
    time.sleep(0.5)  # let output already in flight drain
    frozen = g.output.count("tick ")
    time.sleep(2)
    assert g.output.count("tick ") == frozen
    assert api(sock, "resume")["ok"]
    assert g.wait_for(f"tick {frozen + 3}", timeout=60)
    assert api(sock, "quit")["ok"]
    assert g.wait(timeout=60) == 0


def test_the_demo_config_boots_and_runs_its_scripted_session(vireo, kvm, guest_kernel, guest_initramfs):
    # scripts/demo without a terminal: configs/demo.json as shipped, its kernel and initramfs
    # from the flags (which override the file's paths).
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "configs", "demo.json")) as f:
        cmdline = json.load(f)["boot"]["cmdline"]
    g = Guest([vireo, "run", "--config", os.path.join(root, "configs", "demo.json"), "--kernel", guest_kernel,
               "--initrd", guest_initramfs, "--cmdline", f"{cmdline} vireo.test=demo"])
    assert g.wait(timeout=140) == 0, g.output[-3000:]
    report = agent.parse(g.output)
    assert report.tests.get("demo", (None,))[0] == "pass", g.output[-3000:]
    assert "vireo-guest# uname -a" in g.output
    assert "virtio_rng" in g.output          # rng_current names the guest's driver
    assert "org.vireo.demo" in g.output      # the named console port
