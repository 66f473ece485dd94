"""`python -m mlopstui.sandbox.kubeapi --dir DIR --host 127.0.0.1 --port PORT [--feast-repo PATH]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import KubeApiServer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlopstui.sandbox.kubeapi",
                                 description="Kubernetes API emulator of the mlopstui sandbox")
    ap.add_argument("--dir", required=True, help="state directory (state.json, tokens.json, kubeconfig)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6443)
    ap.add_argument("--feast-repo", default=None, help="Feast repository used by materialization Jobs")
    ap.add_argument("--no-controllers", action="store_true", help="serve the API only")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each request (never tokens) to stderr")
    args = ap.parse_args(argv)
    srv = KubeApiServer(args.dir, host=args.host, port=args.port, feast_repo=args.feast_repo,
                        run_controllers=not args.no_controllers, verbose=args.verbose)

    def _term(signum, frame):
        # shutdown() blocks until serve_forever returns, so call it from another thread
        threading.Thread(target=srv._httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    srv._bind()
    print(f"kubeapi serving on {srv.url}; kubeconfig {srv.kubeconfig_path}", file=sys.stderr, flush=True)
    if srv.controllers:
        srv.controllers.start()
    try:
        srv._httpd.serve_forever(poll_interval=0.1)
    finally:
        srv._shutdown_rest()
    return 0


if __name__ == "__main__":
    sys.exit(main())
