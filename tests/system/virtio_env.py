"""Shared pieces of the virtio guest-boot tests: the transports to cover, device arguments, and a
host-side echo peer for virtio-console socket ports."""
import os
import socket
import threading
import time

from transports import TRANSPORTS  # noqa: F401 (re-exported for the device tests)


def device_arg(**keys):
    """--device KEY=VALUE,... from keyword arguments (booleans as on/off)."""
    parts = []
    for k, v in keys.items():
        if isinstance(v, bool):
            v = "on" if v else "off"
        parts.append(f"{k}={v}")
    return ["--device", ",".join(parts)]


class EchoPeer:
    """Connects to a virtio-console socket port once the VMM created it and sends every line it
    receives back, until stopped."""

    def __init__(self, path, timeout=120):
        self.path = path
        self.lines = []
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(timeout,), daemon=True)
        self._thread.start()

    def _run(self, timeout):
        deadline = time.monotonic() + timeout
        sock = None
        while sock is None and not self._stop.is_set():
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.path)
                sock = s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    self.error = f"could not connect to {self.path}"
                    return
                time.sleep(0.05)
        if sock is None:
            return
        sock.settimeout(0.2)
        pending = b""
        with sock:
            while not self._stop.is_set():
                try:
                    data = sock.recv(4096)
                except socket.timeout:
                    continue
                except OSError as e:
                    self.error = str(e)
                    return
                if not data:
                    return
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    self.lines.append(line.decode(errors="replace"))
                    sock.sendall(line + b"\n")

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)


def socket_path(directory, name):
    path = os.path.join(directory, name)
    # AF_UNIX paths are at most 107 bytes.
    assert len(path) < 100, path
    return path
