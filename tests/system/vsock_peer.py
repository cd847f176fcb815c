"""The host side of the vsock guest test: host programs on the VMM's Unix sockets, in the
convention host tools use (a listener on <uds_path>_<port> for the guest's connections, and
"CONNECT <port>\\n" on <uds_path> for connections to the guest)."""
import os
import socket
import threading
import time
import zlib


def _listener(path, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(path)
    s.listen(64)
    s.settimeout(0.2)
    return s


def _recv_line(sock, limit=128):
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


class VsockHostPeer:
    """Serves the guest's connections to host ports 5000 (a sink that answers "BYTES CRC32"),
    5001 (line echo, any number at once), 5002 (one line in, "hello-from-host" out) and 5003
    (SEQPACKET echo), from before the VM starts until stop()."""

    def __init__(self, uds_path):
        self.uds = uds_path
        self.errors = []
        self.received = {}  # port -> what the services saw
        self._stop = threading.Event()
        self._threads = []
        for port, kind, handler in ((5000, socket.SOCK_STREAM, self._sink), (5001, socket.SOCK_STREAM, self._echo),
                                    (5002, socket.SOCK_STREAM, self._hello),
                                    (5003, socket.SOCK_SEQPACKET, self._seq_echo)):
            sock = _listener(f"{uds_path}_{port}", kind)
            t = threading.Thread(target=self._serve, args=(sock, handler, port), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, sock, handler, port):
        with sock:
            while not self._stop.is_set():
                try:
                    conn, _ = sock.accept()
                except socket.timeout:
                    continue
                except OSError as e:
                    self.errors.append(f"accept {port}: {e}")
                    return
                t = threading.Thread(target=self._run, args=(handler, conn, port), daemon=True)
                t.start()

    def _run(self, handler, conn, port):
        try:
            with conn:
                conn.settimeout(300)
                handler(conn, port)
        except Exception as e:  # noqa: BLE001 (reported to the test)
            self.errors.append(f"port {port}: {e!r}")

    def _sink(self, conn, port):
        total, crc = 0, 0
        while True:
            data = conn.recv(1 << 18)
            if not data:
                break
            total += len(data)
            crc = zlib.crc32(data, crc)
        # The guest half-closed its side; ours still carries the answer.
        conn.sendall(f"{total} {crc:08x}\n".encode())
        self.received[port] = (total, f"{crc:08x}")

    def _echo(self, conn, port):
        line = _recv_line(conn)
        conn.sendall(line)
        self.received[port] = self.received.get(port, 0) + 1

    def _hello(self, conn, port):
        self.received[port] = _recv_line(conn).decode(errors="replace").strip()
        conn.sendall(b"hello-from-host\n")

    def _seq_echo(self, conn, port):
        sizes = []
        while True:
            msg = conn.recv(1 << 18)
            if not msg:
                break
            sizes.append(len(msg))
            conn.send(msg)
        self.received[port] = sizes

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)


def connect_guest(uds, port, kind=socket.SOCK_STREAM, timeout=60):
    """A host program's connection to guest port `port`: the socket after "OK <port>", or None
    when the guest refused (the VMM closed it without an answer). Retries while the VMM's socket
    is not there yet."""
    path = uds if kind == socket.SOCK_STREAM else f"{uds}_seqpacket"
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, kind)
        s.settimeout(timeout)
        try:
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    if kind == socket.SOCK_STREAM:
        s.sendall(f"CONNECT {port}\n".encode())
        answer = _recv_line(s)
    else:
        s.send(f"CONNECT {port}".encode())
        answer = s.recv(128)
    if not answer.startswith(b"OK "):
        s.close()
        return None
    return s


def send_stream(sock, total, chunk=1 << 18, during=None):
    """Sends `total` random bytes, half-closes, and returns (total, crc32 hex, the peer's answer).
    `during(sent)` runs between chunks (a pause of the VM in the middle of the transfer)."""
    crc, sent = 0, 0
    while sent < total:
        data = os.urandom(min(chunk, total - sent))
        sock.sendall(data)
        crc = zlib.crc32(data, crc)
        sent += len(data)
        if during is not None:
            during(sent)
    sock.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        part = sock.recv(128)
        if not part:
            break
        answer += part
    return sent, f"{crc:08x}", answer.decode(errors="replace").strip()
