"""Bad user input gives one clear message naming the problem and exit status 2 (no KVM needed:
these all fail before a VM exists)."""
import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.host


def run_vireo(vireo, *args, env_extra=None, cwd=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([str(vireo), *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, env=env, cwd=cwd)


def write_config(tmp_path, doc):
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


@pytest.fixture
def fake_kernel(tmp_path):
    path = tmp_path / "bzImage"
    path.write_bytes(b"\0" * 8192)
    return path


def test_unknown_key_is_named_with_a_suggestion(vireo, tmp_path, fake_kernel):
    cfg = write_config(tmp_path, {"vm": {"cpu": 2}, "boot": {"kernel": "bzImage"}})
    r = run_vireo(vireo, "run", "--config", cfg)
    assert r.returncode == 2
    assert "vm.cpu" in r.stderr and "cpus" in r.stderr
    assert r.stderr.count("\n") <= 3, r.stderr


def test_wrong_type_is_named(vireo, tmp_path, fake_kernel):
    cfg = write_config(tmp_path, {"vm": {"cpus": "two"}, "boot": {"kernel": "bzImage"}})
    r = run_vireo(vireo, "validate", cfg)
    assert r.returncode == 2
    assert "vm.cpus" in r.stderr


def test_missing_kernel_file_is_named(vireo, tmp_path):
    r = run_vireo(vireo, "run", "--kernel", tmp_path / "nope" / "bzImage")
    assert r.returncode == 2
    assert "nope/bzImage" in r.stderr


def test_a_file_that_is_not_a_kernel_is_refused(vireo, fake_kernel):
    r = run_vireo(vireo, "run", "--kernel", fake_kernel, "--console", "off")
    assert r.returncode == 2
    assert str(fake_kernel) in r.stderr
    assert "kernel" in r.stderr.lower()


def test_memory_too_small_is_refused(vireo, fake_kernel):
    r = run_vireo(vireo, "run", "--kernel", fake_kernel, "--memory", "1M")
    assert r.returncode == 2
    assert "memory" in r.stderr.lower()


def test_invalid_json_reports_the_line(vireo, tmp_path):
    cfg = write_config(tmp_path, '{\n "vm": {\n  "cpus": 2,,\n }\n}')
    r = run_vireo(vireo, "validate", cfg)
    assert r.returncode == 2
    assert "line 3" in r.stderr


def test_missing_kvm_device_is_a_clear_error(vireo, guest_kernel):
    r = run_vireo(vireo, "run", "--kernel", guest_kernel, "--console", "off",
                  env_extra={"VIREO_KVM_DEVICE": "/nonexistent/kvm"})
    assert r.returncode == 2
    assert "/nonexistent/kvm" in r.stderr and "sandbox" in r.stderr


def test_unknown_flag_is_refused(vireo):
    r = run_vireo(vireo, "run", "--cpuz", "2")
    assert r.returncode == 2
    assert "--cpuz" in r.stderr


def test_help_and_version_succeed(vireo):
    assert run_vireo(vireo, "--version").stdout.startswith("vireo ")
    h = run_vireo(vireo, "--help")
    assert h.returncode == 0 and "--kernel" in h.stdout


@pytest.mark.parametrize("device,expected", [
    ("type=vsock,cid=2,uds_path={d}/v.sock", "cid: 2 is out of range"),
    ("type=vsock,cid=3", "uds_path: required"),
    ("type=vsock,cid=3,uds_path={d}/missing/v.sock", "does not exist"),
    ("type=vsock,cid=3,uds_path={d}/file", "is not a socket"),
    ("type=vsock,cid=3,uds_path={d}/v.sock,buffer_size=1K", "buffer_size"),
])
def test_bad_vsock_devices_are_refused_before_the_vm_starts(vireo, tmp_path, fake_kernel, device, expected):
    (tmp_path / "file").write_text("x")
    r = run_vireo(vireo, "run", "--kernel", fake_kernel, "--console", "off", "--device", device.format(d=tmp_path))
    assert r.returncode == 2, r.stderr
    assert expected in r.stderr and "vsock" in r.stderr, r.stderr
    assert not (tmp_path / "v.sock").exists()


@pytest.mark.parametrize("device,expected", [
    ("type=rng,virtio_faults.reorder_used_every=1", "--device #1 (type \"rng\"): virtio_faults.reorder_used_every: must be 0 (off) or 2 to"),
    ("type=rng,virtio_faults.needs_reset=true", "virtio_faults.needs_reset: a one-time event"),
    ("type=rng,virtio_faults.delay_used=5", "did you mean \"delay_used_ms\""),
    ("type=rng,virtio_faults=5", "virtio_faults: expected an object"),
    ("type=rng,virtio_faults.status_faults=5", "virtio_faults.status_faults: expected an array"),
])
def test_bad_virtio_faults_are_refused_before_the_vm_starts(vireo, fake_kernel, device, expected):
    r = run_vireo(vireo, "run", "--kernel", fake_kernel, "--console", "off", "--device", device)
    assert r.returncode == 2, r.stderr
    assert expected in r.stderr, r.stderr
