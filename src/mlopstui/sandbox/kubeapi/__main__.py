"""`python -m mlopstui.sandbox.kubeapi --dir DIR --host 127.0.0.1 --port PORT [--feast-repo PATH] [--scale N]`."""

from __future__ import annotations

import argparse
import signal
import sys

from .server import KubeApiServer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlopstui.sandbox.kubeapi",
                                 description="Kubernetes API emulator of the mlopstui sandbox")
    ap.add_argument("--dir", required=True, help="state directory (state.json, tokens.json, kubeconfig)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6443)
    ap.add_argument("--feast-repo", default=None, help="Feast repository used by materialization Jobs")
    ap.add_argument("--no-controllers", action="store_true", help="serve the API only")
    ap.add_argument("--load", action="append", default=[], metavar="FILE",
                    help="store the objects of a YAML file with their status unchanged (with --no-controllers "
                         "nothing rewrites it); repeatable")
    ap.add_argument("--scale", type=float, default=0.0, metavar="N",
                    help="also seed a platform-sized cluster (mlopstui.sandbox.scale; 1 = 200 namespaces, 5,000 "
                         "pods, ...), once: kept in the state directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each request (never tokens) to stderr")
    args = ap.parse_args(argv)
    srv = KubeApiServer(args.dir, host=args.host, port=args.port, feast_repo=args.feast_repo,
                        run_controllers=not args.no_controllers, verbose=args.verbose)
    for path in args.load:
        srv.load_fixture(path)
    if args.scale > 0:
        from mlopstui.sandbox.scale import seed_once

        n = seed_once(srv, args.scale)
        print(f"kubeapi: scale {args.scale:g}: {n} objects stored", file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, lambda signum, frame: srv.request_shutdown())
    signal.signal(signal.SIGINT, lambda signum, frame: srv.request_shutdown())
    srv.serve_forever(on_ready=lambda s: print(f"kubeapi serving on {s.url} (HTTPS; plain HTTP also answered); "
                                                f"kubeconfig {s.kubeconfig_path}", file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
