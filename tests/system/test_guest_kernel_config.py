"""The guest kernel's final .config holds what configs/guest/vireo.config asks for, and every
VIRTIO driver the project promises is built in.

scripts/guest-kernel already refuses to build when olddefconfig drops an option; this test keeps
that promise checked on the cached artefact, and pins the driver list independently of the
fragment, so deleting a line from the fragment cannot quietly remove a driver.
"""
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAGMENT = ROOT / "configs" / "guest" / "vireo.config"

# Options the project promises the guest kernel has, built in (=y), whatever the fragment says.
PROMISED = [
    "VIRTIO_NET",
    "VIRTIO_BLK",
    "VIRTIO_CONSOLE",
    "HW_RANDOM_VIRTIO",
    "VIRTIO_BALLOON",
    "SCSI_VIRTIO",
    "DRM_VIRTIO_GPU",
    "VIRTIO_INPUT",
    "CRYPTO_DEV_VIRTIO",
    "VIRTIO_VSOCKETS",
    "VIRTIO_IOMMU",
    "ACPI_VIOT",
    "SND_VIRTIO",
    "VIRTIO_FS",
    "VIRTIO_PMEM",
    "VIRTIO_MEM",
    "I2C_VIRTIO",
    "GPIO_VIRTIO",
    "VIRTIO_MMIO",
    "VIRTIO_MMIO_CMDLINE_DEVICES",
    "VIRTIO_PCI",
    "PCI_MSI",
    "ACPI",
    "PVH",
    "EXT4_FS",
    "DEVTMPFS",
    # vireo test's own guest tests: KUnit suites at boot, crashes on demand.
    "KUNIT",
    "LKDTM",
    "DETECT_HUNG_TASK",
]

SET_RE = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
UNSET_RE = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")


def parse_config(text):
    """{symbol: value} for `CONFIG_X=value`, {symbol: None} for `# CONFIG_X is not set`.

    A symbol assigned twice keeps its last value, as Kconfig does.
    """
    options = {}
    for line in text.splitlines():
        line = line.rstrip("\r")
        if m := SET_RE.match(line):
            options[m.group(1)] = m.group(2)
        elif m := UNSET_RE.match(line):
            options[m.group(1)] = None
    return options


def fragment_entries():
    return list(parse_config(FRAGMENT.read_text()).items())


@pytest.fixture(scope="module")
def final_config():
    # Builds the kernel when the cache has no entry for the current fragment (minutes).
    out = subprocess.run([str(ROOT / "scripts" / "guest-kernel"), "--print", "config"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1, f"--print config should print one path, got: {out!r}"
    path = pathlib.Path(lines[0])
    assert path.is_file(), f"{path} does not exist"
    return parse_config(path.read_text())


def test_fragment_lines_are_all_understood():
    """Every non-comment line is an assignment: a typo would otherwise be ignored silently."""
    bad = []
    for number, line in enumerate(FRAGMENT.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not stripped.startswith("# CONFIG_")):
            continue
        if not (SET_RE.match(line) or UNSET_RE.match(line)):
            bad.append(f"{FRAGMENT.name}:{number}: {line!r}")
    assert not bad, "lines that are neither an assignment nor a comment:\n" + "\n".join(bad)


def test_fragment_asks_for_no_modules():
    modular = [sym for sym, value in fragment_entries() if value == "m"]
    assert not modular, f"the guest kernel has no modules; fragment asks for =m: {modular}"


@pytest.mark.parametrize("symbol", PROMISED)
def test_promised_option_is_named_in_fragment(symbol):
    # The build script verifies only what the fragment names.
    assert dict(fragment_entries()).get(symbol) == "y", \
        f"CONFIG_{symbol}=y is missing from {FRAGMENT.relative_to(ROOT)}"


@pytest.mark.parametrize("symbol,wanted", fragment_entries(),
                         ids=[symbol for symbol, _ in fragment_entries()])
def test_fragment_option_survives(final_config, symbol, wanted):
    got = final_config.get(symbol)
    if wanted is None:
        assert got is None, f"CONFIG_{symbol} should be unset, final .config has {got!r}"
    else:
        assert got == wanted, f"CONFIG_{symbol}: fragment wants {wanted!r}, final .config has {got!r}"


@pytest.mark.parametrize("symbol", PROMISED)
def test_promised_option_built_in(final_config, symbol):
    assert final_config.get(symbol) == "y", \
        f"CONFIG_{symbol} is {final_config.get(symbol)!r} in the final .config, expected 'y'"


def test_kernel_has_no_modules(final_config):
    assert final_config.get("MODULES") is None
    modular = sorted(sym for sym, value in final_config.items() if value == "m")
    assert not modular, f"modular options in a kernel without modules: {modular}"
