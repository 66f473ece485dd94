"""A switchable TCP forwarder for tests: put it in front of a real server to make it go away and come back
(stop()/start() on the same port), optionally rewriting the HTTP Host header so the server sees its own
address (with rewrite_host=False it sees the forwarder's, which MLflow's --allowed-hosts rejects).
With tls= (a server-side ssl.SSLContext) it terminates TLS in front of a plain HTTP server.
"""

from __future__ import annotations

import socket
import threading
import time


class Forwarder:
    def __init__(self, target_host: str, target_port: int, *, rewrite_host: bool = True, delay: float = 0.0,
                 tls=None):
        self.target = (target_host, target_port)
        self.tls = tls
        self.rewrite_host = rewrite_host
        # added to every chunk sent to the server: a slow link (half a round trip per request)
        self.delay = delay
        self.port = 0
        self.bytes_to_client = 0  # what the server sent through this forwarder (bounded reads are measured so)
        self._sock: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> Forwarder:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._sock.close()
                self._sock = None
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._conns.clear()

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                client, _ = s.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    client.settimeout(5)
                    client = self.tls.wrap_socket(client, server_side=True)
                    client.settimeout(None)
                except OSError:  # a refused handshake (no client certificate, unknown CA): the test's point
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, to_server: bool) -> None:
        mine = f"Host: 127.0.0.1:{self.port}".encode()
        theirs = f"Host: {self.target[0]}:{self.target[1]}".encode()
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if to_server and self.rewrite_host:
                    data = data.replace(mine, theirs).replace(mine.lower(), theirs.lower())
                if to_server and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
                if not to_server:
                    self.bytes_to_client += len(data)
        except OSError:
            pass
        finally:
            for x in (src, dst):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
