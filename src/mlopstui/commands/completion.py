"""`mlopstui completion bash|zsh|fish`: shell completion with argcomplete.

    source <(mlopstui completion bash)                 # or put it in ~/.bashrc
    mlopstui completion zsh > "${fpath[1]}/_mlopstui"
    mlopstui completion fish > ~/.config/fish/completions/mlopstui.fish

The shell code calls `mlopstui` with _ARGCOMPLETE set on each TAB; main() then hands the parser
to argcomplete (attach_completers below) before anything else runs. Verbs and flags come from the
parser; --context from the kubeconfig (no network); -n/--namespace, InferenceService names and
MLflow experiments / registered models from the cluster and tracking server with a short timeout
(nothing on any error: a completion never prints an error into the prompt).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from mlopstui.commands._common import EXIT_OK, add_global_flags

SHELLS = ("bash", "zsh", "fish")
TIMEOUT = 2.0  # seconds per lookup: a TAB must not hang
ISVC_VERBS = ("isvc", "canary", "promote", "rollback", "min-replicas", "set-model", "infer")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("completion", help="print shell completion code (bash, zsh or fish)",
                       description="Print the completion code for SHELL. bash: source <(mlopstui completion "
                                   "bash); zsh: mlopstui completion zsh > \"${fpath[1]}/_mlopstui\"; fish: "
                                   "mlopstui completion fish > ~/.config/fish/completions/mlopstui.fish")
    add_global_flags(p, suppress=True)
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash | zsh | fish")
    p.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["mlopstui"], shell=args.shell))
    return EXIT_OK


# -- completers (run only under _ARGCOMPLETE) --------------------------------------------------------
def _quiet(fn: Callable[[argparse.Namespace], list[str]]) -> Callable[..., list[str]]:
    def completer(prefix: str = "", parsed_args: argparse.Namespace | None = None, **_: Any) -> list[str]:
        try:
            names = fn(parsed_args or argparse.Namespace())
        except Exception:  # noqa: BLE001 - unreachable cluster, no kubeconfig, ...: no candidates
            return []
        return [n for n in names if n.startswith(prefix)]

    return completer


def _kubeconfig_paths(args: argparse.Namespace):
    from pathlib import Path

    from mlopstui.backends.kubeconfig import default_paths

    kc = getattr(args, "kubeconfig", None)
    return [Path(p).expanduser() for p in kc.split(":")] if kc else default_paths()


def contexts(args: argparse.Namespace) -> list[str]:
    from mlopstui.backends.kubeconfig import merge_files

    return [c["name"] for c in merge_files(_kubeconfig_paths(args))["contexts"]]


def _kube(args: argparse.Namespace):
    """The client of the settings the command line would use (config file, flags, kubeconfig)."""
    from mlopstui.commands._common import make_context

    ctx = make_context(args)
    ctx.kube.timeout = TIMEOUT
    return ctx.kube


def namespaces(args: argparse.Namespace) -> list[str]:
    from mlopstui.backends.kube import NAMESPACES

    return [o["metadata"]["name"] for o in _kube(args).list(NAMESPACES)]


def inference_services(args: argparse.Namespace) -> list[str]:
    from mlopstui.backends.kube import INFERENCESERVICES

    kube = _kube(args)
    return [o["metadata"]["name"] for o in kube.list(INFERENCESERVICES, kube.namespace)]


def _mlflow(args: argparse.Namespace):
    from mlopstui.backends.mlflow import MlflowBackend
    from mlopstui.commands._common import make_context

    return MlflowBackend.from_context(make_context(args), timeout=TIMEOUT)


def experiments(args: argparse.Namespace) -> list[str]:
    return [e.name for e in _mlflow(args).search_experiments("ACTIVE_ONLY")]


def registered_models(args: argparse.Namespace) -> list[str]:
    return [m.name for m in _mlflow(args).search_registered_models()]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def attach_completers(parser: argparse.ArgumentParser) -> None:
    """Give the arguments whose values live somewhere (kubeconfig, cluster, MLflow) a completer."""
    verbs = _subparsers(parser)
    by_verb: dict[str, dict[str, Callable]] = {v: {"name": _quiet(inference_services)} for v in ISVC_VERBS}
    by_verb["runs"] = {"experiment": _quiet(experiments)}
    by_verb["models"] = {"name": _quiet(registered_models)}
    common = {"context": _quiet(contexts), "namespace": _quiet(namespaces)}
    for name, p in [("", parser), *verbs.items()]:
        for action in p._actions:
            fn = by_verb.get(name, {}).get(action.dest) or common.get(action.dest)
            if fn is not None:
                action.completer = fn  # type: ignore[attr-defined]


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a completion request (exits) when the shell asked for one; else return."""
    import argcomplete

    attach_completers(parser)
    argcomplete.autocomplete(parser, always_complete_options=False)  # options after a "-", as kubectl
