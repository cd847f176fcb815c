"""The reference: the guest kernel and initramfs boot under QEMU with KVM and the agent reports
back. Proves the sandbox, the guest kernel and the agent before Vireo is involved, and stays as
the baseline for comparisons."""
import pytest

import agent
from vmm import BASE_CMDLINE

pytestmark = pytest.mark.kvm


@pytest.mark.parametrize("machine", ["microvm", "q35"])
def test_qemu_boots_the_guest_and_the_agent_reports(qemu, kvm, guest_kernel, guest_initramfs, machine):
    cmdline = f"{BASE_CMDLINE} vireo.test=smoke"
    machine_opts = "microvm,acpi=on" if machine == "microvm" else "q35"
    cmd = [qemu, "-accel", "kvm", "-M", machine_opts, "-cpu", "host", "-smp", "2", "-m", "256M",
           "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
           "-kernel", str(guest_kernel), "-initrd", str(guest_initramfs), "-append", cmdline]
    rc, output, report = agent.run_guest(cmd, timeout=140)
    assert rc == 0, output[-3000:]
    # -no-reboot makes QEMU end with status 0 on a reset as on a power-off. A reset the kernel
    # asked for prints why (a panic, "reboot: Restarting system"); one with no message at all is
    # the CPU's own: a triple fault.
    if not report.ok and not any(m in output for m in ("reboot: Power down", "reboot: Restarting", "Kernel panic")):
        pytest.fail("the guest reset without a kernel message (a triple fault)\n" + output[-3000:])
    assert report.ok, report.summary() + "\n" + output[-3000:]
    assert report.info["cpus"] == "2"
