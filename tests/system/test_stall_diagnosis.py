"""The host side of stall diagnosis, without a guest: how scripts/bench --stress-boot classifies a
boot from its output, its failure-rate arithmetic, the guest-symbol lookup that names a vCPU's
RIP, and the test harness asking a stand-in VMM for its vCPU state (SIGUSR1) when a wait runs
out."""
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import symbols
from vmm import Guest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "lib"))
import stress_boot  # noqa: E402

pytestmark = pytest.mark.host

PASSED = "VIREO-AGENT: init\nVIREO-AGENT: begin smp-stress\n\nVIREO-AGENT: result smp-stress pass\n" \
         "VIREO-AGENT: end pass=1 fail=0\n"
STALL = "[   21.8] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:\n[   21.8] rcu: \t1-...0: (1 GPs behind)\n"


@pytest.mark.parametrize("config,rc,timed_out,output,outcome", [
    ("vireo-mmio", 0, False, PASSED, "pass"),
    ("qemu-q35", 0, False, STALL + PASSED, "pass-stalled"),
    ("vireo-pci", None, True, "VIREO-AGENT: init\n" + STALL, "stall"),
    ("qemu-microvm", None, True, "Booting from ROM..\n", "hang"),
    ("vireo-mmio", 3, False, "guest crashed: vCPU 1: triple fault (rip 0xfff0 ...)", "triple-fault"),
    ("qemu-q35", 0, False, "VIREO-AGENT: init\n[ 0.9] PCI: Using ACPI for IRQ routing\n", "reset"),
    ("vireo-pci", 3, False, "[ 3.1] Kernel panic - not syncing: Fatal exception\n", "panic"),
    ("vireo-pci", 1, False, "VIREO-AGENT: init\n\nVIREO-AGENT: result smp-stress fail bad\n"
                             "VIREO-AGENT: end pass=0 fail=1\n", "fail"),
    ("vireo-mmio", 2, False, "error: cannot open /dev/kvm\n", "error"),
])
def test_a_boot_is_classified_by_how_it_ended(config, rc, timed_out, output, outcome):
    assert stress_boot.classify(config, rc, timed_out, output) == outcome


def test_a_boot_that_started_in_a_sandbox_that_died_counts_once_as_sandbox_died():
    records = [{"round": 0, "config": "vireo-mmio", "started": 1},
               {"round": 0, "config": "vireo-mmio", "outcome": "pass"},
               {"round": 0, "config": "vireo-pci", "started": 2}]
    rs = stress_boot.results(records)
    assert [(r["config"], r["outcome"]) for r in rs] == [("vireo-mmio", "pass"), ("vireo-pci", "sandbox-died")]


def test_the_table_counts_outcomes_and_failure_rates_per_configuration():
    rs = [{"round": i, "config": "vireo-mmio", "outcome": "pass" if i else "stall"} for i in range(4)]
    text = stress_boot.table(rs)
    row = next(line for line in text.splitlines() if line.startswith("| vireo-mmio"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "4"                      # boots
    assert cells[2] == "3"                      # pass
    assert cells[4] == "1"                      # stall
    assert cells[-3:-1] == ["1", "0.25"]        # failed, rate


def test_the_failure_rate_interval_is_wilsons():
    lo, hi = stress_boot.wilson(0, 30)
    assert lo == 0.0 and 0.10 < hi < 0.12       # 0 of 30: up to about 11 %
    lo, hi = stress_boot.wilson(3, 30)
    assert 0.03 < lo < 0.04 and 0.25 < hi < 0.27


@pytest.fixture(scope="module")
def elf(tmp_path_factory):
    d = tmp_path_factory.mktemp("elf")
    src = d / "f.c"
    src.write_text("void first(void) { }\nvoid second(void) { for (volatile int i = 0; i < 9; i++) ; }\n")
    obj = d / "f.o"
    subprocess.run(["gcc", "-O0", "-c", str(src), "-o", str(obj)], check=True)
    return obj


def test_a_text_address_is_named_by_the_function_it_falls_in(elf):
    addrs, names = symbols.table(str(elf))
    second = addrs[names.index("second")]
    assert symbols.lookup(second + 3, elf) == "second+0x3"
    assert symbols.lookup(second, elf) == "second+0x0"


def test_only_kernel_addresses_are_annotated(elf):
    text = "vCPU 0: in-guest; rip 0x10 rsp 0x0"
    assert symbols.annotate(text, elf) == text


def test_a_wait_that_runs_out_asks_the_vmm_for_its_vcpu_state(tmp_path):
    # A stand-in VMM: on SIGUSR1 it prints what Vireo logs, then keeps running until killed.
    script = tmp_path / "vmm.sh"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        trap 'echo "[warning] vCPU state (SIGUSR1):"; echo "[warning]   vCPU 0: in-guest for 1.000 s"; \\
              echo "[warning]   vCPU 1: in-vmm for 9.000 s"' USR1
        echo booting
        while :; do sleep 0.1; done
        """))
    script.chmod(0o755)
    g = Guest([script])
    try:
        assert not g.wait_for("never printed", timeout=1)
    finally:
        g.kill()
    assert "[test harness: vCPU state, no 'never printed' within 1 s]" in g.output
    tail = g.output.split("[test harness: vCPU state")[1]
    assert "vCPU 0: in-guest for 1.000 s" in tail
    assert "vCPU 1: in-vmm for 9.000 s" in tail


def test_a_stall_report_in_the_output_asks_for_vcpu_state_at_once(tmp_path):
    script = tmp_path / "vmm.sh"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        trap 'echo "[warning] vCPU state (SIGUSR1):"; echo "[warning]   vCPU 0: paused"' USR1
        echo "[   21.867453] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:"
        while :; do sleep 0.1; done
        """))
    script.chmod(0o755)
    g = Guest([script])
    try:
        assert g.wait_for("[test harness: vCPU state, the guest reported a stall]", timeout=10)
        assert g.wait_for("vCPU 0: paused\n", timeout=5)
    finally:
        g.kill()


# ---- which failures scripts/lib/kvm-tests.py runs again where the sandbox nests ---------------

def _kvm_tests():
    import importlib.util
    spec = importlib.util.spec_from_file_location("kvm_tests", ROOT / "scripts" / "lib" / "kvm-tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SPINNING = ("[test harness: vCPU state, no exit within 140 s]\n"
            "vireo: warning:   vCPU 0: in-guest for 108.2 s after 472 exits (last: port read of 1 bytes at 0xcfc); "
            "rip 0xffffffff814cc143 <queued_spin_lock_slowpath+0x1a> rsp 0x0 rflags 0x2 (interrupts off)\n"
            "vireo: warning:   vCPU 1: in-guest after 0 exits; rip 0xffffffff814cc143 "
            "<queued_spin_lock_slowpath+0x1a> rsp 0x0 rflags 0x2 (interrupts off)\n")


# The reference test's QEMU microvm guest as a CI run ended it (the JUnit text, escaped).
QEMU_EARLY_STALL = ("[    0.396385] PCI: Fatal: No config space access function found&#10;"
                    "[   29.409471] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:&#10;"
                    "[   29.413132] rcu: \t1-...0: (1 GPs behind) idle=8624/0/0x1 softirq=28/34 fqs=1050&#10;"
                    "[   29.413132] rcu: \t(detected by 0, t=5255 jiffies, g=-1139, q=242 ncpus=2)&#10;"
                    "qemu-system-x86_64: terminating on signal 15 from pid 133 (/usr/bin/python3)&#10;")


@pytest.mark.parametrize("text,signature", [
    ("guest crashed: vCPU 1: triple fault (rip 0xfff0 ...; the reset state: this host's KVM does not keep the "
     "registers of a triple fault)", "triple-fault-reset-state"),
    ("[    5.79] traps: PANIC: double fault, error_code: 0x0", "double-fault"),
    ("Failed: the guest reset without a kernel message (a triple fault)&#10;VIREO-AGENT: r", "triple-fault"),
    (SPINNING, "spinlock-livelock"),
    # The same dump as it appears in a JUnit file's text.
    (SPINNING.replace("<", "&lt;").replace(">", "&gt;"), "spinlock-livelock"),
    # One vCPU held in the VMM: ours to explain, never retried.
    (SPINNING.replace("vCPU 1: in-guest", "vCPU 1: in-vmm for 100.0 s"), None),
    # A spinning vCPU with interrupts on, or an RCU stall alone: not the emulator's signature.
    (SPINNING.replace("(interrupts off)\n", "(interrupts on)\n", 1), None),
    ("rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", None),
    ("vCPU 1: in-guest for 102.908 s after 6416 exits (last: mmio read of 4 bytes at 0xd0000060); rip "
     "0xffffffffc033320c rsp 0xffffc900004dfc60 rflags 0x10246 (interrupts on); mp_state runnable; "
     "exception 14 injected", "exception-livelock"),
    # The same at a kernel function, or for a short while: not retried.
    ("vCPU 1: in-guest for 102.908 s; rip 0xffffffff814c5355 <pv_native_safe_halt+0x13> rsp 0x0; "
     "exception 14 injected", None),
    ("vCPU 1: in-guest for 2.100 s; rip 0xffffffffc033320c rsp 0x0; exception 14 injected", None),
    ("guest crashed: vCPU 0: triple fault (rip 0xffffffff81000000 rsp ...)", None),
    ("assert report.tests.get('virtio-blk') == ('pass', '')", None),
    (QEMU_EARLY_STALL, "early-cpu-stall-qemu"),
    # A CPU that had run (many softirqs) before it stalled, or a stall QEMU lived through.
    (QEMU_EARLY_STALL.replace("softirq=28/34", "softirq=2830/2834"), None),
    (QEMU_EARLY_STALL.replace("qemu-system-x86_64: terminating on signal 15", "VIREO-AGENT: done"), None),
])
def test_only_the_nested_emulators_signatures_are_retried(text, signature):
    assert _kvm_tests().nested_signature(text) == signature


# The nested VM kernel's console tail when the sandbox died (this one from a run whose tail began
# below the "stack guard page was hit" line).
L1_OOPS = ("[  125.693315] RIP: 0010:error_entry+0x17/0x130\n"
           "[  125.693315] RSP: 0018:ffffc9000061c000 EFLAGS: 00000083\n"
           "[  125.693315] CR2: ffffc9000061bff8 CR3: 0000000100a38000 CR4: 00000000003506f0\n"
           "[  125.693315] Kernel panic - not syncing: Fatal exception in interrupt\n")


def test_the_nested_kernels_stack_overflow_is_named_when_the_sandbox_dies():
    kt = _kvm_tests()
    assert "stack overflow in error_entry" in kt.sandbox_failure(125, L1_OOPS)
    assert "stack overflow in exc_page_fault" in kt.sandbox_failure(
        125, "BUG: stack guard page was hit at 0x1\nRIP: 0010:exc_page_fault+0x1/0x2\n")
    # A fault far from the stack pointer is some other oops: not named.
    assert "stack overflow" not in kt.sandbox_failure(125, L1_OOPS.replace("CR2: ffffc9000061bff8", "CR2: 0000000000000010"))
    assert kt.sandbox_failure(125, "") == "the sandbox failed (status 125)"


def test_a_testcase_maps_back_to_its_pytest_node():
    import xml.etree.ElementTree as ET
    case = ET.fromstring('<testcase classname="tests.system.test_vmm_boot" name="test_x[1-128M-128]"/>')
    assert _kvm_tests().node_of(case) == "tests/system/test_vmm_boot.py::test_x[1-128M-128]"
