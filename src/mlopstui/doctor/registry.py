"""The rule registry: `@rule(...)` registers a pure function `snapshot -> Iterable[Finding]`; run() runs all."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mlopstui.doctor.finding import Finding, Severity, sort_findings
from mlopstui.doctor.snapshot import Snapshot

RuleFn = Callable[[Snapshot], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    component: str
    title: str
    fn: RuleFn


RULES: dict[str, Rule] = {}


def rule(id: str, component: str, title: str) -> Callable[[RuleFn], RuleFn]:  # noqa: A002
    def deco(fn: RuleFn) -> RuleFn:
        if id in RULES:
            raise ValueError(f"duplicate doctor rule {id}")
        RULES[id] = Rule(id, component, title, fn)
        return fn

    return deco


def _load() -> None:
    # importing the rule modules registers them
    from mlopstui.doctor.rules import (  # noqa: F401
        argo,
        clients,
        data,
        images,
        mlflow,
        postgres,
        redis,
        security,
        serving,
        workloads,
    )


def run(snap: Snapshot, only: Iterable[str] | None = None, between: Callable[[], None] | None = None) -> list[Finding]:
    """Every finding of every rule, worst first. A rule that crashes yields an info finding, not a crash.
    between: called before each rule (a worker passes time.sleep(0): the UI thread gets the GIL)."""
    _load()
    wanted = set(only) if only else None
    out: list[Finding] = []
    seen: set[str] = set()
    for r in RULES.values():
        if wanted is not None and r.id not in wanted:
            continue
        if between is not None:
            between()
        try:
            found = list(r.fn(snap))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
            found = [Finding(f"{r.id}", Severity.INFO, r.component, f"rule {r.id} could not run",
                             (), f"{type(exc).__name__}: {exc}", "This check was skipped.",
                             "Report this as a bug in mlopstui.")]
        for f in found:
            if f.key not in seen:
                seen.add(f.key)
                out.append(f)
    return sort_findings(out)


def rules() -> list[Rule]:
    _load()
    return list(RULES.values())
