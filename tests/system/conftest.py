"""Shared fixtures for the system tests.

Tests marked `kvm` need /dev/kvm and run inside scripts/sandbox; all others run on the host.
"""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report ends with the console tail of every Vireo it started, unless the
    assertion message has it already: the vCPU state dumped on a stall or timeout is there, and
    scripts/lib/kvm-tests.py reads it to tell the nested emulator's failures from ours."""
    from vmm import Guest
    if call.when == "setup":
        Guest.started.clear()
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when != "call":
        return
    text = str(report.longrepr)
    extra = []
    for g in Guest.started:
        tail = g.output[-3000:]
        if tail and tail[-500:] not in text:
            extra.append(f"---- console tail of {g.argv[0]} ----\n{tail}")
    if extra:
        report.longrepr = text + "\n" + "\n".join(extra)


def pytest_configure(config):
    config.addinivalue_line("markers", "kvm: needs /dev/kvm (runs inside scripts/sandbox)")
    config.addinivalue_line("markers", "host: runs on the host, never inside the sandbox")


def _script_output(*args):
    out = subprocess.run([str(ROOT / "scripts" / args[0]), *args[1:]], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return pathlib.Path(out.strip().splitlines()[0])


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def guest_kernel():
    """The project's guest bzImage (built and cached by scripts/guest-kernel), or the kernel
    named by VIREO_GUEST_KERNEL, to try the tests against another kernel."""
    if os.environ.get("VIREO_GUEST_KERNEL"):
        return pathlib.Path(os.environ["VIREO_GUEST_KERNEL"])
    path = _script_output("guest-kernel", "--print", "bzimage")
    # symbols.py names guest addresses in failure output from the vmlinux beside it.
    os.environ["VIREO_GUEST_KERNEL"] = str(path)
    return path


@pytest.fixture(scope="session")
def guest_vmlinux():
    return _script_output("guest-kernel", "--print", "vmlinux")


@pytest.fixture(scope="session")
def guest_initramfs():
    if os.environ.get("VIREO_GUEST_INITRAMFS"):
        return pathlib.Path(os.environ["VIREO_GUEST_INITRAMFS"])
    return _script_output("guest-initramfs")


@pytest.fixture(scope="session")
def guest_initramfs_bench():
    """The initramfs with the `bench` tool group (fio); guests need 512 MiB for it."""
    if os.environ.get("VIREO_GUEST_INITRAMFS_BENCH"):
        return pathlib.Path(os.environ["VIREO_GUEST_INITRAMFS_BENCH"])
    return _script_output("guest-initramfs", "--with", "bench")


@pytest.fixture(scope="session")
def vireo():
    """The vireo binary of the main build directory."""
    path = ROOT / "build" / "vireo"
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/test (or ninja -C build)")
    return path


@pytest.fixture(scope="session")
def qemu():
    path = shutil.which("qemu-system-x86_64")
    if not path:
        pytest.fail("qemu-system-x86_64 is missing: run scripts/setup")
    return path


@pytest.fixture(scope="session")
def kvm():
    if not os.path.exists("/dev/kvm"):
        pytest.fail("/dev/kvm is missing: kvm tests must run through scripts/sandbox")
    return "/dev/kvm"
