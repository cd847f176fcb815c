"""Guest kernel addresses to symbols, for failure output: every `rip 0x...` (Vireo's vCPU state)
and `RIP=...` (QEMU's `info registers`) in a text gets the function it points into, from the
guest vmlinux's symbol table (`nm`). The guest kernel is built without KASLR, so the addresses
match vmlinux as they are."""
import bisect
import functools
import os
import pathlib
import re
import subprocess

# A kernel text address written out in full: a RIP in Vireo's vCPU state ("rip 0xffffffff...")
# or QEMU's ("RIP=ffffffff..."), and the stack words of Vireo's vCPU state.
_ADDRESS = re.compile(r"(?<![0-9a-fA-F])(?:0x)?(ffffffff[89ab][0-9a-fA-F]{7})(?![0-9a-fA-F])")


def vmlinux_path():
    """The guest vmlinux: VIREO_GUEST_VMLINUX, or the one beside VIREO_GUEST_KERNEL (the
    cached build keeps them together); None when there is none. Never builds one: this runs
    while a test is failing."""
    for candidate in (os.environ.get("VIREO_GUEST_VMLINUX"),
                      os.environ.get("VIREO_GUEST_KERNEL") and
                      str(pathlib.Path(os.environ["VIREO_GUEST_KERNEL"]).with_name("vmlinux"))):
        if candidate and pathlib.Path(candidate).exists():
            return pathlib.Path(candidate)
    return None


@functools.lru_cache(maxsize=4)
def table(path):
    """Sorted (address, name) of the text symbols of an ELF file."""
    try:
        out = subprocess.run(["nm", "-n", str(path)], check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ([], [])
    addrs, names = [], []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            addrs.append(int(parts[0], 16))
            names.append(parts[2])
    return (addrs, names)


def lookup(address, path=None):
    """"name+0xoff" for a kernel text address, or None."""
    path = path or vmlinux_path()
    if path is None:
        return None
    addrs, names = table(str(path))
    i = bisect.bisect_right(addrs, address) - 1
    if i < 0 or address - addrs[i] > 0x100000:
        return None
    return f"{names[i]}+{address - addrs[i]:#x}"


def annotate(text, path=None):
    """`text` with <symbol+offset> after each kernel text address."""
    if not text:
        return text
    path = path or vmlinux_path()
    if path is None:
        return text

    def sub(m):
        name = lookup(int(m.group(1), 16), path)
        return m.group(0) + (f" <{name}>" if name else "")

    return _ADDRESS.sub(sub, text)
