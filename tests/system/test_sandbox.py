"""Tests of scripts/sandbox, run on the host.

They call the script the way other tests and developers do, so on a machine without
/dev/kvm every test boots the nested VM (around ten seconds each) and on a machine
with one they check the direct path.
"""
import os
import pathlib
import shutil
import subprocess
import tempfile
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "scripts" / "sandbox"

# Generous: a cold first run downloads and unpacks the kernel package.
TIMEOUT = 900


def sandbox(*command, cwd=ROOT):
    env = {k: v for k, v in os.environ.items() if k != "VIREO_SANDBOX"}
    return subprocess.run([str(SANDBOX), "--", *command], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=TIMEOUT)


@pytest.mark.host
@pytest.mark.parametrize("status", [0, 7])
def test_exit_status_passes_through(status):
    result = sandbox("sh", "-c", f"exit {status}")
    assert result.returncode == status, result.stderr.decode()


@pytest.mark.host
def test_dev_kvm_is_present_inside():
    result = sandbox("sh", "-c", "test -c /dev/kvm && test -r /dev/kvm && test -w /dev/kvm")
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.host
def test_the_kvm_inside_is_backed_by_hardware_virtualisation():
    # Some machines offer a /dev/kvm without vmx or svm, on which Linux guests fail: the
    # sandbox must not take that one for a usable KVM.
    result = sandbox("grep", "-qwE", "vmx|svm", "/proc/cpuinfo")
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.host
def test_writes_to_checkout_and_tmp_are_visible_on_the_host():
    name = f".sandbox-test-{uuid.uuid4().hex}"
    in_checkout = ROOT / name
    tmp_dir = pathlib.Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/tmp"))
    in_tmp = tmp_dir / "written inside"
    try:
        result = sandbox("sh", "-c", 'pwd; echo checkout > "$1"; echo tmp > "$2"', "sh",
                         name, str(in_tmp))
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.decode().splitlines() == [str(ROOT)]
        assert in_checkout.read_text() == "checkout\n"
        assert in_tmp.read_text() == "tmp\n"
    finally:
        in_checkout.unlink(missing_ok=True)
        shutil.rmtree(tmp_dir, ignore_errors=True)


@pytest.mark.host
def test_arguments_survive_exactly():
    args = ["a b", "c'd", 'e"f', "$HOME", "*", "", "line\nbreak", "-n", "x\\y", "--"]
    result = sandbox("printf", "%s|", *args)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == "".join(f"{a}|" for a in args)
