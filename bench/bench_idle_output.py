"""Idle output: bytes the TUI writes to its terminal per minute while nobody touches it, per area.

Runs the real app (`python -m mlopstui`, Textual's Linux driver) on a pseudo-terminal of each size,
switches to each area, waits until its first load has painted (the output is quiet for a while, or
--settle seconds), then counts the bytes written during --window seconds and scales them to a minute.
Over a bastion link every byte is latency and bandwidth; the goal is under 1 KB/min on every area.

Usage (against the sandbox, or any config):
  eval "$(.venv/bin/mlopstui sandbox env --dir DIR)"
  .venv/bin/python bench/bench_idle_output.py --config DIR/mlopstui.yaml [--window 60] [--sizes 80x24,120x36]
      [--areas 1,2] [--logs: also the pod log view following a pod that writes nothing]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))


def measure(config: str, size: tuple[int, int], window: float, settle: float, areas) -> list[tuple[str, int, float]]:
    from support.ptyterm import PtyApp

    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    app = PtyApp(["--config", config], width=size[0], height=size[1], env=env)
    out = []
    try:
        app.wait_for(lambda s: "COMPONENT" in s.text(), 60)
        for area in areas:
            if area.key != "1":
                app.send(area.key)
            app.wait_for(lambda s, t=area.title: t in s.text().split("\n", 1)[0], 20)
            # the first load: no "loading ..." left on screen (Feast's first import takes long), then quiet
            try:
                # "≥ 4500" / "…": Experiments still counting runs (a one-off after the load, not idle output)
                app.wait_for(lambda s: not any(w in s.text().lower() for w in ("loading", "≥", "…")), settle)
            except AssertionError:
                print(f"  ({area.title} still loading after {settle:g} s)")
            app.settle(quiet=3.0, timeout=settle)
            time.sleep(2.0)
            start, t0 = app.total, time.monotonic()
            time.sleep(window)
            n, secs = app.total - start, time.monotonic() - t0
            out.append((area.title, n, n * 60.0 / secs))
            print(f"  {size[0]}x{size[1]} {area.title:<12} {n:>9} bytes in {secs:4.0f} s = {n * 60.0 / secs:>10.0f} B/min",
                  flush=True)
    finally:
        app.close()
    return out


def measure_logs(config: str, size: tuple[int, int], window: float, settle: float,
                 component: str = "MLflow") -> tuple[str, int, float]:
    """The pod log view following a pod that writes nothing new (one open follow=true stream): the view must
    not repaint while no line arrives."""
    from support.ptyterm import PtyApp

    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    app = PtyApp(["--config", config], width=size[0], height=size[1], env=env)
    try:
        app.wait_for(lambda s: "COMPONENT" in s.text() and f" {component} " in s.text(), 60)
        app.settle(quiet=2.0, timeout=settle)
        rows = app.screen.text().split("\n")
        head = next(i for i, line in enumerate(rows) if "COMPONENT" in line)
        below = next(i for i, line in enumerate(rows[head + 1:]) if f" {component} " in line)
        app.send("j" * below)
        app.settle(quiet=1.0, timeout=10)
        app.send("\r")
        app.wait_for(lambda s: "Stack ›" in s.text().split("\n", 1)[0], 30)
        app.settle(quiet=2.0, timeout=settle)
        app.send("l")
        app.wait_for(lambda s: "following" in s.text(), 30)
        app.settle(quiet=3.0, timeout=settle)
        time.sleep(2.0)
        start, t0 = app.total, time.monotonic()
        time.sleep(window)
        n, secs = app.total - start, time.monotonic() - t0
        print(f"  {size[0]}x{size[1]} {'Logs (follow)':<12} {n:>9} bytes in {secs:4.0f} s = {n * 60.0 / secs:>10.0f} B/min",
              flush=True)
        return "Logs (follow)", n, n * 60.0 / secs
    finally:
        app.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=os.environ.get("MLOPSTUI_CONFIG"), required=not os.environ.get("MLOPSTUI_CONFIG"))
    ap.add_argument("--window", type=float, default=60.0, help="seconds measured per area (scaled to a minute)")
    ap.add_argument("--settle", type=float, default=90.0, help="at most this long for an area's first load")
    ap.add_argument("--sizes", default="80x24,120x36")
    ap.add_argument("--areas", default="", help="comma-separated area keys (default: all)")
    ap.add_argument("--logs", action="store_true", help="also the Stack > MLflow pod log view, following")
    args = ap.parse_args()
    from mlopstui.screens.areas import AREAS

    areas = [a for a in AREAS if not args.areas or a.key in args.areas.split(",")]
    titles = [a.title for a in areas] + (["Logs (follow)"] if args.logs else [])
    results = {}
    for spec in args.sizes.split(","):
        w, h = (int(v) for v in spec.lower().split("x"))
        results[spec] = measure(args.config, (w, h), args.window, args.settle, areas) if areas else []
        if args.logs:
            results[spec].append(measure_logs(args.config, (w, h), args.window, args.settle))
    print(f"\nidle output, bytes per minute (window {args.window:g} s per area, scaled to 60 s):")
    print(f"{'area':<14}" + "".join(f"{s:>12}" for s in results))
    for i, title in enumerate(titles):
        print(f"{title:<14}" + "".join(f"{results[s][i][2]:>12.0f}" for s in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
