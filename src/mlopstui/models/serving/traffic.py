"""Traffic in words: the split a change should give, status and rollout
lines, bars; and `detail_lines`, the one renderer of an InferenceService (Serving panel, drill-in,
`isvc NAME`). Pure: no I/O."""

from __future__ import annotations

from typing import Any

from mlopstui.errors import MlopsError
from mlopstui.models.serving.changes import clamp_percent
from mlopstui.models.serving.isvc import (
    MODE_SOURCE_WORDS,
    InferenceService,
    short_revision,
    traffic_converged,
)
from mlopstui.units import clock


# -- expected traffic and convergence -----------------------------------------------------------------
def expected_split(isvc: InferenceService, canary: int | None, new_revision: bool = False) -> str:
    """What the split should become, in words, for the plan."""
    if canary is None or canary >= 100:
        return "latest revision" + (" (new)" if new_revision else "") + " 100%"
    stable = isvc.latest_ready if new_revision else isvc.stable_revision
    if stable == isvc.latest_created and not new_revision:
        stable = isvc.previous_rolledout or stable
    if canary == 0:
        return f"{stable or 'previous rolled-out revision'} 100%, latest revision 0%"
    return (f"latest revision{' (new)' if new_revision else ''} {canary}%, "
            f"{stable or 'previous rolled-out revision'} {100 - canary}%")


def status_lines(isvc: InferenceService) -> list[str]:
    """What the status means, in words (shared by the CLI detail and the TUI panels)."""
    lines = [f"ready   {isvc.ready_text()}",
             f"mode    {isvc.deployment_mode} ({isvc.mode_class}; {MODE_SOURCE_WORDS.get(isvc.mode_source, isvc.mode_source)})"]
    if not isvc.serverless:
        lines.append(f"model   {isvc.storage_uri or '-'} (one model: no revisions, no traffic split)")
        return lines
    lines.append(f"stable  {isvc.stable_storage_uri or 'unknown'}"
                 f"{' (' + isvc.stable_revision + ')' if isvc.stable_revision else ''}")
    lines.append(f"latest  {isvc.storage_uri or '-'} (spec; revision {isvc.canary_revision or '-'})")
    if isvc.rolling_out:
        lines.append(f"rolling out: {isvc.rolling_out} not ready ({isvc.rollout_reason}); it gets 0%")
    done, why = traffic_converged(isvc, isvc.canary_percent)
    lines.append(f"split   {'converged' if done else 'not converged'}: {why}")
    lines += rollout_lines(isvc)
    return lines


def rollout_lines(isvc: InferenceService, now: float | None = None) -> list[str]:
    """The progressive rollout recorded in the annotation mlopstui.dev/rollout (see models/rollout.py)."""

    from mlopstui.models import rollout

    text = ((isvc.raw.get("metadata") or {}).get("annotations") or {}).get(rollout.ANNOTATION)
    if not text:
        return []
    try:
        st = rollout.RolloutState.from_annotation(text)
    except MlopsError as exc:
        return [f"rollout annotation {rollout.ANNOTATION} unreadable: {exc.message}"]
    if st is None:
        return []
    lines = [st.summary_text(clock() if now is None else now).replace("NAME", isvc.name)]
    gates = [f"{g.get('gate')} {'ok' if g.get('ok') else 'FAIL' if g.get('ok') is False else 'wait'}"
             for g in st.gates if isinstance(g, dict)]
    if gates:
        src = (st.measured or {}).get("source") or "?"
        lines.append(f"gates   {', '.join(gates)} ({src})")
    return lines


def describe_changes(before: InferenceService, after: InferenceService) -> list[str]:
    """What someone else changed between two reads (for the 409 re-ask)."""
    out: list[str] = []

    def cmp(label: str, a: Any, b: Any) -> None:
        if a != b:
            out.append(f"{label}: {a if a is not None else '(unset)'} -> {b if b is not None else '(unset)'}")

    cmp("canaryTrafficPercent", before.canary_percent, after.canary_percent)
    cmp("storageUri", before.storage_uri, after.storage_uri)
    cmp("minReplicas", before.min_replicas, after.min_replicas)
    cmp("maxReplicas", before.max_replicas, after.max_replicas)
    cmp("latestCreatedRevision", before.latest_created, after.latest_created)
    cmp("traffic", before.traffic_text(), after.traffic_text())
    if not out:
        out.append(f"resourceVersion {before.resource_version} -> {after.resource_version} "
                   "(metadata or status only)")
    return out


def bar(percent: int, width: int = 10) -> str:
    """A text bar: `███████░░░` for 70%."""
    p = clamp_percent(percent)
    filled = round(p * width / 100)
    return "█" * filled + "░" * (width - filled)


def split_bar(isvc: InferenceService, width: int = 10) -> str:
    """The canary share as a bar with its number: `██░░░░░░░░ 20%`."""
    if not isvc.serverless:
        return f"{'raw' if isvc.mode_class == 'RawDeployment' else 'modelmesh'}: no split"
    lp = isvc.latest_percent
    if lp is None:
        return "-"
    if len(isvc.traffic) == 1 and lp == 100:
        return f"{bar(100, width)} 100"
    return f"{bar(lp, width)} {lp:>3}"


# -- the renderer: one InferenceService in words (TUI detail, drill-in, CLI) ---------------------------
def detail_lines(s: InferenceService, width: int = 12, full: bool = False) -> list[str]:
    """One InferenceService in words: the Serving screen's detail panel, and with full=True (every condition on
    its own line, the split's convergence, where the mode came from) the drill-in and `mlopstui isvc NAME`."""
    ready = ready_word(s.ready) + (f" ({s.ready_reason})" if s.ready is not True and s.ready_reason else "")
    lines = [f"{s.namespace}/{s.name}  ready {ready}  {s.deployment_mode}  "
             f"{s.model_format or '-'}{' / ' + s.runtime if s.runtime else ''}",
             f"url     {s.url or '-'}"]
    if not s.serverless:
        # one model, no revisions: a canary line would describe a split that cannot exist
        lines.append(f"model   {s.storage_uri or '-'}")
    elif s.canary_active:
        lines += [f"stable  {s.stable_storage_uri or 'unknown'}",
                  f"canary  {s.storage_uri or '-'}  canaryTrafficPercent "
                  f"{'unset' if s.canary_percent is None else str(s.canary_percent) + '%'}"]
    else:
        # promoted (or never split): the latest revision serves everything, there is no canary to show
        lines.append(f"model   {s.storage_uri or '-'}  (promoted: the latest revision takes 100%)")
    if s.serverless:
        for rev, pct in s.split().items():
            mark = ""
            if rev == s.canary_revision:
                mark = " (latest, not ready)" if rev == s.rolling_out else " (latest)"
            lines.append(f"  {bar(pct, width)} {pct:>3}% {rev}{mark}")
        if s.rolling_out:
            lines.append(f"rolling out: {s.rolling_out} not ready ({s.rollout_reason})")
        lines.append(f"latestReady {short_revision(s.latest_ready, s.name)}  rolledout "
                     f"{short_revision(s.latest_rolledout, s.name)}  previous "
                     f"{short_revision(s.previous_rolledout, s.name)}")
    else:
        lines.append(f"  {s.mode_class}: no traffic split (canary needs Serverless mode)")
    replicas = (f"replicas min {'-' if s.min_replicas is None else s.min_replicas} max "
                f"{'-' if s.max_replicas is None else s.max_replicas}")
    bad = s.failing_conditions()
    if full:
        lines.append(f"mode    {s.deployment_mode} ({s.mode_class}; "
                     f"{MODE_SOURCE_WORDS.get(s.mode_source, s.mode_source)})")
        if s.serverless:
            done, why = traffic_converged(s, s.canary_percent)
            lines.append(f"split {'converged' if done else 'not converged'}: {why}")
            lines += rollout_lines(s)
        lines.append(replicas)
        lines.append("conditions:")
        for c in s.conditions:
            lines.append(f"  {c.type}={c.status}{'  ' + c.reason if c.reason else ''}"
                         f"{': ' + c.message if c.message else ''}")
    else:
        if not s.conditions:
            state = "conditions: none reported"
        elif not bad:
            state = f"conditions: all {len(s.conditions)} True"
        else:
            state = "conditions: " + ", ".join(f"{c.type}={c.status}{' (' + c.reason + ')' if c.reason else ''}"
                                               for c in bad)
        lines.append(f"{replicas}   {state}")
        for c in bad:
            if c.message:
                lines.append(f"  {c.type}: {c.message}")
    return lines


def ready_word(v: bool | None) -> str:
    return "? unknown" if v is None else ("✓ yes" if v else "✗ NO")
