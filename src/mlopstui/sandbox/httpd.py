"""The sandbox's HTTP servers' one base (the Kubernetes API emulator, LakeFS, the ingress)."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # the listen backlog: socketserver's default is 5, and a client that opens a connection per watch (the TUI:
    # a dozen kinds at once) overflowed it; Linux drops the SYNs beyond it and the client resends after 1 s
    # (bench_startup: first Stack rows 0.37 s or 1.4 s, by the luck of the accept loop)
    request_queue_size = 128
