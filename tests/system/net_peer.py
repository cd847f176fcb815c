"""The host side of the guest test `virtio-net` in user mode: a TCP service the guest downloads
from through the gateway, and an upload into the guest through a forward rule once the guest
says it listens. Both carry random bytes whose md5 the guest reports back."""
import hashlib
import os
import socket
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UserNetPeer:
    """Serves one download on 127.0.0.1:`port` and uploads to 127.0.0.1:`forward_port` when the
    guest's "net.listening" line appears in `guest.output`."""

    SIZE = 1 << 20

    def __init__(self, guest, port, forward_port):
        self.guest = guest
        self.port = port
        self.forward_port = forward_port
        self.download = os.urandom(self.SIZE)
        self.upload = os.urandom(self.SIZE)
        self.error = None
        self.uploaded = False
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", port))
        self._server.listen(1)
        self._server.settimeout(150)
        self._threads = [threading.Thread(target=self._serve, daemon=True),
                         threading.Thread(target=self._push, daemon=True)]
        for t in self._threads:
            t.start()

    def _serve(self):
        try:
            conn, _ = self._server.accept()
            with conn:
                conn.sendall(self.download)
        except OSError as e:
            self.error = f"download service: {e}"
        finally:
            self._server.close()

    def _push(self):
        if not self.guest.wait_for("VIREO-AGENT: info net.listening=", timeout=150):
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.forward_port), timeout=30) as s:
                    s.sendall(self.upload)
                    s.shutdown(socket.SHUT_WR)
                    # The guest's nc exits once it has read to the end; wait for its side to close.
                    s.settimeout(30)
                    while s.recv(4096):
                        pass
                self.uploaded = True
                return
            except OSError as e:
                self.error = f"upload through the forward: {e}"
                time.sleep(0.5)

    def expected(self):
        return (f"{self.SIZE} {hashlib.md5(self.download).hexdigest()}",
                f"{self.SIZE} {hashlib.md5(self.upload).hexdigest()}")

    def join(self, timeout=10):
        for t in self._threads:
            t.join(timeout)

    stop = join
